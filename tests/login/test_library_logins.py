"""Clever Library logins end to end: a teacher who installed the app, the students of their
shared sections, no district. Over real HTTP: a test browser, the backend, the sandbox, Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clever_sandbox.store import SandboxStore
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser, logged_in_principal

SERVICE = (SERVICE_NAME, SERVICE_SECRET)


@pytest.fixture
def library_backend(make_backend: BackendFactory) -> Iterator[str]:
    with make_backend(LIBRARY_LOGINS="accept") as backend:
        yield backend


@pytest.fixture
def library_teacher(sandbox: RunningSandbox) -> str:
    """The user id of the Library demo login "Library teacher"."""
    return library_login(sandbox.sandbox.store, "Library teacher")


def library_login(store: SandboxStore, label: str) -> str:
    """The user id of the Library demo login labelled `... (label)`."""
    return next(
        login.user_id
        for login in store.demo_logins()
        if not login.district_id and login.label.endswith(f"({label})")
    )


def shared_section_ids(store: SandboxStore, user_id: str) -> set[str]:
    return {section["id"] for section in store.library_sections(user_id)}


async def library_principal(backend: str, user_id: str) -> dict[str, Any]:
    """The principal of a login of `user_id`, its parts that the tests read of the types they read."""
    principal = await logged_in_principal(backend, user_id)
    assert isinstance(principal["user"], dict)
    assert isinstance(principal["sections"], list)
    assert isinstance(principal["roles"], dict)
    assert isinstance(principal["roster"], dict)
    return principal


async def library_login_principal(
    backend: str, store: SandboxStore, label: str
) -> tuple[str, dict[str, Any]]:
    """The Library demo login labelled `... (label)`, logged in: its user id and its principal."""
    user_id = library_login(store, label)
    return user_id, await library_principal(backend, user_id)


async def test_a_library_teacher_logs_in_with_the_shared_sections_and_their_students(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    teacher_id, principal = await library_login_principal(library_backend, store, "Library teacher")
    user = principal["user"]
    assert user["id"] == teacher_id
    assert user["district"] is None
    assert user["authorized_by"] == "teacher"
    assert user["roles"] == ["teacher"]
    sections = principal["sections"]
    assert {s["id"] for s in sections} == shared_section_ids(store, teacher_id) != set()
    assert all(s["role"] == "teacher" for s in sections)
    enrolled = {student for s in store.library_sections(teacher_id) for student in s["students"]}
    assert {s["id"] for s in principal["roles"]["teacher"]["students"]} == enrolled
    assert principal["resources"] == []
    assert principal["roster"]["source"] == "live"


async def test_a_library_teacher_with_no_sections_logs_in(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    _, principal = await library_login_principal(library_backend, store, "Library teacher, no sections")
    assert principal["sections"] == []
    assert principal["roles"]["teacher"]["students"] == []


async def test_a_student_of_two_library_teachers_has_both_their_sections_and_no_other(
    sandbox: RunningSandbox, library_backend: str
) -> None:
    store = sandbox.sandbox.store
    label = "Library student, two Library teachers"
    student_id, principal = await library_login_principal(library_backend, store, label)
    sections = principal["sections"]
    assert {s["id"] for s in sections} == shared_section_ids(store, student_id)
    assert len({s["teacher"] for s in store.library_sections(student_id)}) == 2
    # A section of a teacher who never installed the app is not the app's to see.
    every = {s["id"] for s in store.roster.sections_of_user({"id": student_id})}
    assert every - {s["id"] for s in sections}
    assert all(s["role"] == "student" for s in sections)
    assert principal["user"]["authorized_by"] == "teacher"
    assert principal["user"]["district"] is None


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
    assert principal["user"]["authorized_by"] == "district"
    assert principal["user"]["district"] == main
    assert {s["id"] for s in principal["sections"]} == {
        s["id"] for s in store.roster.sections_of_user({"id": both})
    }


async def test_library_logins_are_refused_by_default(backend: str, library_teacher: str) -> None:
    async with Browser(backend) as browser:
        landed = await browser.login(library_teacher)
        assert landed.response.status_code == 403
        assert "district_required" in landed.response.text
        assert (await browser.session()).status_code == 401


async def test_allowed_districts_does_not_apply_to_library_logins_and_allowed_roles_does(
    sandbox: RunningSandbox, make_backend: BackendFactory, library_teacher: str
) -> None:
    store = sandbox.sandbox.store
    with make_backend(LIBRARY_LOGINS="accept", ALLOWED_DISTRICTS=store.district_ids()[1]) as backend:
        principal = await library_principal(backend, library_teacher)
        assert principal["user"]["authorized_by"] == "teacher"
    with make_backend(LIBRARY_LOGINS="accept", ALLOWED_ROLES="student") as backend:
        async with Browser(backend) as browser:
            landed = await browser.login(library_teacher)
            assert landed.response.status_code == 403
            assert "role_not_allowed" in landed.response.text


async def test_a_library_session_verifies_with_no_district_and_says_who_authorized_it(
    library_backend: str, library_teacher: str
) -> None:
    async with Browser(library_backend) as browser:
        await browser.login(library_teacher)
        verified = await browser.http.get(f"{library_backend}/auth/verify")
    assert verified.status_code == 200
    assert verified.headers["x-clever-user-id"] == library_teacher
    assert verified.headers["x-clever-district-id"] == ""
    assert verified.headers["x-clever-authorized-by"] == "teacher"
    assert verified.headers["x-clever-roles"] == "teacher"


async def test_a_library_session_is_refreshed_by_logging_in_again(
    sandbox: RunningSandbox, library_backend: str, library_teacher: str
) -> None:
    store = sandbox.sandbox.store
    async with Browser(library_backend) as browser:
        await browser.login(library_teacher)
        refresh = await browser.http.post(
            f"{library_backend}/auth/session/refresh", headers={"X-Requested-With": "fetch"}
        )
        assert refresh.status_code == 409
        assert refresh.json()["error"] == "refresh_needs_login"
        # Clever's Library certification: every login reads the data again.
        section = store.library_sections(library_teacher)[0]
        store.update_section(section["id"], {"name": "Renamed at Clever"})
        await browser.login(library_teacher)
        principal = (await browser.session()).json()
    renamed = next(s for s in principal["sections"] if s["id"] == section["id"])
    assert renamed["name"] == "Renamed at Clever"


async def test_every_session_of_a_library_user_can_be_ended_by_a_service(
    library_backend: str, library_teacher: str
) -> None:
    async with Browser(library_backend) as browser, httpx.AsyncClient(base_url=library_backend) as service:
        await browser.login(library_teacher)
        ended = await service.delete(f"/auth/users/{library_teacher}/sessions", auth=SERVICE)
        assert ended.json() == {"ended": 1}
        assert (await browser.session()).status_code == 401


async def test_ending_every_districts_sessions_leaves_a_library_session_alone(
    sandbox: RunningSandbox, library_backend: str, library_teacher: str
) -> None:
    store = sandbox.sandbox.store
    async with Browser(library_backend) as browser, httpx.AsyncClient(base_url=library_backend) as service:
        await browser.login(library_teacher)
        for district_id in store.district_ids():
            ended = await service.delete(f"/auth/districts/{district_id}/sessions", auth=SERVICE)
            assert ended.json() == {"ended": 0}
        assert (await browser.session()).status_code == 200
