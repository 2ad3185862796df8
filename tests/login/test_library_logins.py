"""Clever Library logins end to end: a teacher who installed the app, the students of their
shared sections, no district. Over real HTTP: a test browser, the backend, the sandbox, Redis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from clever_sandbox.store import SandboxStore
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser

SERVICE = (SERVICE_NAME, SERVICE_SECRET)


@pytest.fixture
def library_backend(make_backend: BackendFactory) -> Iterator[str]:
    with make_backend(LIBRARY_LOGINS="accept") as backend:
        yield backend


def library_login(store: SandboxStore, label: str) -> str:
    """The user id of the Library demo login labelled `... (label)`."""
    return next(
        login.user_id
        for login in store.demo_logins()
        if not login.district_id and login.label.endswith(f"({label})")
    )


def shared_section_ids(store: SandboxStore, user_id: str) -> set[str]:
    return {section["id"] for section in store.library_sections(user_id)}


async def library_principal(backend: str, user_id: str) -> dict[str, object]:
    async with Browser(backend) as browser:
        landed = await browser.login(user_id)
        assert landed.response.status_code == 302, landed.response.text[:300]
        answer = await browser.session()
    assert answer.status_code == 200
    principal: dict[str, object] = answer.json()
    return principal


async def test_a_library_teacher_logs_in_with_the_shared_sections_and_their_students(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    teacher_id = library_login(store, "Library teacher")
    principal = await library_principal(library_backend, teacher_id)
    user = principal["user"]
    assert isinstance(user, dict)
    assert user["id"] == teacher_id
    assert user["district"] is None
    assert user["authorized_by"] == "teacher"
    assert user["roles"] == ["teacher"]
    sections = principal["sections"]
    assert isinstance(sections, list)
    assert {s["id"] for s in sections} == shared_section_ids(store, teacher_id) != set()
    assert all(s["role"] == "teacher" for s in sections)
    enrolled = {student for s in store.library_sections(teacher_id) for student in s["students"]}
    roles = principal["roles"]
    assert isinstance(roles, dict)
    assert {s["id"] for s in roles["teacher"]["students"]} == enrolled
    assert principal["resources"] == []
    roster = principal["roster"]
    assert isinstance(roster, dict)
    assert roster["source"] == "live"


async def test_a_library_teacher_with_no_sections_logs_in(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    teacher_id = library_login(sandbox.sandbox.store, "Library teacher, no sections")
    principal = await library_principal(library_backend, teacher_id)
    assert principal["sections"] == []
    roles = principal["roles"]
    assert isinstance(roles, dict)
    assert roles["teacher"]["students"] == []


async def test_a_student_of_two_library_teachers_has_both_their_sections_and_no_other(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    student_id = library_login(store, "Library student, two Library teachers")
    principal = await library_principal(library_backend, student_id)
    sections = principal["sections"]
    assert isinstance(sections, list)
    assert {s["id"] for s in sections} == shared_section_ids(store, student_id)
    assert len({s["teacher"] for s in store.library_sections(student_id)}) == 2
    # A section of a teacher who never installed the app is not the app's to see.
    every = {s["id"] for s in store.roster.sections_of_user({"id": student_id})}
    assert every - {s["id"] for s in sections}
    assert all(s["role"] == "student" for s in sections)
    user = principal["user"]
    assert isinstance(user, dict)
    assert user["authorized_by"] == "teacher"
    assert user["district"] is None


async def test_a_library_student_launched_from_the_portal_logs_in(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store, config = sandbox.sandbox.store, sandbox.config
    student_id = library_login(store, "Library student")
    async with Browser(library_backend) as browser:
        launch = await browser.get(
            f"{sandbox.url}/oauth/instant-login",
            params={"client_id": config.client_id, "login_hint": student_id},
        )
        assert launch.response.status_code == 302
        bounced = await browser.callback(launch.location)
        assert bounced.location.startswith(f"{sandbox.url}/oauth/authorize?")
        again = await browser.get(bounced.location)
        landed = await browser.callback(again.location)
        assert landed.response.status_code == 302, landed.response.text[:300]
        principal = (await browser.session()).json()
    assert principal["user"]["id"] == student_id
    assert principal["user"]["authorized_by"] == "teacher"
    assert principal["session"]["login_method"] == "clever_portal"
    assert {s["id"] for s in principal["sections"]} == shared_section_ids(store, student_id)


async def test_a_library_teacher_also_in_a_connected_district_logs_in_as_the_districts(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    main = store.district_ids()[0]
    # The seed's teacher of the main district who also installed the app from the Library.
    (both,) = [
        login.user_id
        for login in store.demo_logins()
        if login.district_id == main
        and login.user_type == "teacher"
        and store.authorized_by(login.user_id) == "district"
        and login.user_id in store._library_teachers
    ]
    principal = await library_principal(library_backend, both)
    user = principal["user"]
    assert isinstance(user, dict)
    assert user["authorized_by"] == "district"
    assert user["district"] == main
    sections = principal["sections"]
    assert isinstance(sections, list)
    assert {s["id"] for s in sections} == {s["id"] for s in store.roster.sections_of_user({"id": both})}


async def test_library_logins_are_refused_by_default(sandbox: RunningSandbox, backend: str) -> None:
    teacher_id = library_login(sandbox.sandbox.store, "Library teacher")
    async with Browser(backend) as browser:
        landed = await browser.login(teacher_id)
        assert landed.response.status_code == 403
        assert "district_required" in landed.response.text
        assert (await browser.session()).status_code == 401


async def test_allowed_districts_does_not_apply_to_library_logins_and_allowed_roles_does(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    store = sandbox.sandbox.store
    teacher_id = library_login(store, "Library teacher")
    with make_backend(LIBRARY_LOGINS="accept", ALLOWED_DISTRICTS=store.district_ids()[1]) as backend:
        principal = await library_principal(backend, teacher_id)
        user = principal["user"]
        assert isinstance(user, dict)
        assert user["authorized_by"] == "teacher"
    with make_backend(LIBRARY_LOGINS="accept", ALLOWED_ROLES="student") as backend:
        async with Browser(backend) as browser:
            landed = await browser.login(teacher_id)
            assert landed.response.status_code == 403
            assert "role_not_allowed" in landed.response.text


async def test_a_library_session_verifies_with_no_district_and_says_who_authorized_it(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    teacher_id = library_login(sandbox.sandbox.store, "Library teacher")
    async with Browser(library_backend) as browser:
        await browser.login(teacher_id)
        verified = await browser.http.get(f"{library_backend}/auth/verify")
    assert verified.status_code == 200
    assert verified.headers["x-clever-user-id"] == teacher_id
    assert verified.headers["x-clever-district-id"] == ""
    assert verified.headers["x-clever-authorized-by"] == "teacher"
    assert verified.headers["x-clever-roles"] == "teacher"


async def test_a_library_session_is_refreshed_by_logging_in_again(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    teacher_id = library_login(store, "Library teacher")
    async with Browser(library_backend) as browser:
        await browser.login(teacher_id)
        refresh = await browser.http.post(
            f"{library_backend}/auth/session/refresh", headers={"X-Requested-With": "fetch"}
        )
        assert refresh.status_code == 409
        assert refresh.json()["error"] == "refresh_needs_login"
        # Clever's Library certification: every login reads the data again.
        section = store.library_sections(teacher_id)[0]
        store.update_section(section["id"], {"name": "Renamed at Clever"})
        await browser.login(teacher_id)
        principal = (await browser.session()).json()
    renamed = next(s for s in principal["sections"] if s["id"] == section["id"])
    assert renamed["name"] == "Renamed at Clever"


async def test_every_session_of_a_library_user_can_be_ended_by_a_service(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    teacher_id = library_login(sandbox.sandbox.store, "Library teacher")
    async with Browser(library_backend) as browser, httpx.AsyncClient(base_url=library_backend) as service:
        await browser.login(teacher_id)
        ended = await service.delete(f"/auth/users/{teacher_id}/sessions", auth=SERVICE)
        assert ended.json() == {"ended": 1}
        assert (await browser.session()).status_code == 401


async def test_ending_every_districts_sessions_leaves_a_library_session_alone(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    teacher_id = library_login(store, "Library teacher")
    async with Browser(library_backend) as browser, httpx.AsyncClient(base_url=library_backend) as service:
        await browser.login(teacher_id)
        for district_id in store.district_ids():
            ended = await service.delete(f"/auth/districts/{district_id}/sessions", auth=SERVICE)
            assert ended.json() == {"ended": 0}
        assert (await browser.session()).status_code == 200
