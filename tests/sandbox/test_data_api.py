"""The Data API over real HTTP: token rules, paging, versions and every relation, checked
against what the sandbox's store holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clever_sandbox.config import SandboxConfig
from clever_sandbox.data_api import ENDPOINTS
from clever_sandbox.store import SandboxStore
from clever_sandbox.tokens import IssuedCode
from clever_sandbox.versions import V31_ONLY_STUDENT_FIELDS
from tests.conftest import RunningSandbox
from tests.sandbox.asgi import local_sandbox
from tests.support import clever_spec

UNKNOWN_ID = "0123456789abcdef01234567"


def _district_client(sandbox: RunningSandbox, district_id: str) -> httpx.AsyncClient:
    token = sandbox.sandbox.tokens.district_token(district_id, sandbox.config.client_id)
    return httpx.AsyncClient(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"})


def _user_client(sandbox: RunningSandbox, user_id: str) -> httpx.AsyncClient:
    store = sandbox.sandbox.store
    user = store.user(user_id)
    assert user is not None
    issued = IssuedCode(
        code="unused",
        client_id=sandbox.config.client_id,
        redirect_uri="",
        user_id=user_id,
        district_id=user["district"],
        nonce=None,
        user_type=store.login_role(user_id) or "",
        expires_at=0,
    )
    token = sandbox.sandbox.tokens.issue_user_token(issued)
    return httpx.AsyncClient(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def api(sandbox: RunningSandbox, store: SandboxStore) -> AsyncIterator[httpx.AsyncClient]:
    """The main demo district's district-app token."""
    async with _district_client(sandbox, store.district_ids()[0]) as client:
        yield client


def _main_users(store: SandboxStore, role: str) -> list[dict[str, Any]]:
    main = store.district_ids()[0]
    return [u for u in store.all("users") if u["district"] == main and role in u["roles"]]


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["data"]["id"] for item in body["data"]]


async def _walk(client: httpx.AsyncClient, url: str) -> list[str]:
    """Every id of a list, following `next` links until an empty page, as a client must."""
    ids: list[str] = []
    for _ in range(1000):
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        if not body["data"]:
            return ids
        ids += _ids(body)
        url = next(link["uri"] for link in body["links"] if link["rel"] == "next")
    raise AssertionError("paging did not end")


@pytest.mark.skipif(clever_spec.spec_dir() is None, reason=clever_spec.missing_reason())
def test_every_path_of_the_definitions_is_served() -> None:
    for filename in clever_spec.DATA_FILES.values():
        assert {e.path for e in ENDPOINTS} == set(clever_spec.load(filename).get_paths())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
async def test_no_valid_token_is_401(sandbox: RunningSandbox, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url, headers=headers) as client:
        response = await client.get("/v3.1/users")
    assert response.status_code == 401
    assert "message" in response.json()


async def test_by_default_only_a_429_carries_rate_limit_headers(api: httpx.AsyncClient) -> None:
    # Clever documents X-RateLimit-* on throttled answers only (tests/sandbox/test_ratelimit.py).
    for answer in (await api.get("/v3.1/schools"), await api.get(f"/v3.1/schools/{UNKNOWN_ID}")):
        assert not any(name.lower().startswith("x-ratelimit-") for name in answer.headers)


async def test_every_answer_carries_rate_limit_headers_in_that_mode() -> None:
    async with local_sandbox(SandboxConfig(rate_headers="every")) as local:
        token = local.sandbox.tokens.district_token(
            local.sandbox.store.district_ids()[0], local.config.client_id
        )
        headers = {"Authorization": f"Bearer {token}"}
        first = await local.http.get("/v3.1/schools", headers=headers)
        second = await local.http.get(f"/v3.1/schools/{UNKNOWN_ID}", headers=headers)
    assert first.headers["X-RateLimit-Limit"] == "1200"
    assert int(second.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 1
    assert "X-RateLimit-Reset" in second.headers


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
@pytest.mark.parametrize("kind", ["users", "sections", "schools", "terms", "courses", "resources"])
async def test_paging_walks_every_record_of_the_district_once_in_id_order(
    api: httpx.AsyncClient, store: SandboxStore, version: str, kind: str
) -> None:
    main = store.district_ids()[0]
    expected = [r["id"] for r in store.all(kind) if r["district"] == main]
    assert await _walk(api, f"/{version}/{kind}?limit=3") == expected


async def test_links_of_a_page(api: httpx.AsyncClient, store: SandboxStore) -> None:
    teachers = [u["id"] for u in _main_users(store, "teacher")]
    body = (await api.get("/v3.1/users", params={"role": "teacher", "limit": 2})).json()
    assert _ids(body) == teachers[:2]
    links = {link["rel"]: link["uri"] for link in body["links"]}
    assert links["self"] == "/v3.1/users?role=teacher&limit=2"
    assert links["next"] == f"/v3.1/users?role=teacher&limit=2&starting_after={teachers[1]}"
    assert links["prev"] == f"/v3.1/users?role=teacher&limit=2&ending_before={teachers[0]}"
    before = (
        await api.get("/v3.1/users", params={"role": "teacher", "ending_before": teachers[3], "limit": 2})
    ).json()
    assert _ids(before) == teachers[1:3]
    empty = (await api.get(links["prev"])).json()
    assert empty["data"] == []
    assert [link["rel"] for link in empty["links"]] == ["self"]


async def test_default_and_maximum_limit(api: httpx.AsyncClient, store: SandboxStore) -> None:
    body = (await api.get("/v3.1/users")).json()
    assert len(body["data"]) == min(
        100, len([u for u in store.all("users") if u["district"] == store.district_ids()[0]])
    )
    assert (await api.get("/v3.1/users", params={"limit": 10000})).status_code == 200


@pytest.mark.parametrize(("limit", "status"), [("0", 400), ("-3", 400), ("ten", 400), ("10001", 413)])
async def test_bad_limit(api: httpx.AsyncClient, limit: str, status: int) -> None:
    response = await api.get("/v3.1/sections", params={"limit": limit})
    assert response.status_code == status
    assert isinstance(response.json()["message"], str)


@pytest.mark.parametrize("role", ["student", "teacher", "staff", "district_admin", "contact"])
async def test_users_role_filter(api: httpx.AsyncClient, store: SandboxStore, role: str) -> None:
    expected = [u["id"] for u in _main_users(store, role)]
    assert expected
    assert await _walk(api, f"/v3.1/users?role={role}&limit=7") == expected


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/v3.1/users", {"role": "principal"}),
        ("/v3.1/sections/{section}/users", {"role": "staff"}),
        ("/v3.1/users/{user}/schools", {"primary": "yes"}),
    ],
)
async def test_bad_query_choices_are_400(
    api: httpx.AsyncClient, store: SandboxStore, url: str, params: dict[str, str]
) -> None:
    url = url.format(section=store.all("sections")[0]["id"], user=store.all("users")[0]["id"])
    response = await api.get(url, params=params)
    assert response.status_code == 400
    assert "message" in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/v3.1/users/{id}",
        "/v3.0/sections/{id}",
        "/v3.1/schools/{id}/sections",
        "/v3.1/districts/{id}",
        "/v3.1/events/{id}",
    ],
)
async def test_unknown_ids_are_a_json_404(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path.format(id=UNKNOWN_ID))
    assert response.status_code == 404
    assert response.json() == {"message": "Resource not found"}


@pytest.mark.parametrize("path", ["/v3.1/students", "/v3.0/users/x/y/z", "/v3.1/me/please"])
async def test_unknown_paths_are_the_html_page(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_a_district_token_sees_its_own_district_only(
    sandbox: RunningSandbox, store: SandboxStore
) -> None:
    main, second = store.district_ids()
    other_user = next(u for u in store.all("users") if u["district"] == main)
    other_section = next(s for s in store.all("sections") if s["district"] == main)
    async with _district_client(sandbox, second) as client:
        users = await _walk(client, "/v3.1/users")
        assert users == [u["id"] for u in store.all("users") if u["district"] == second]
        for path in (
            f"/v3.1/users/{other_user['id']}",
            f"/v3.1/sections/{other_section['id']}/users",
            f"/v3.1/districts/{main}",
        ):
            response = await client.get(path)
            assert response.status_code == 404
            assert "message" in response.json()
        districts = (await client.get("/v3.1/districts")).json()
        assert _ids(districts) == [second]


async def test_a_user_token_reads_only_its_own_user_and_district(
    sandbox: RunningSandbox, store: SandboxStore
) -> None:
    login = store.demo_logins()[0]
    someone_else = next(u for u in store.all("users") if u["id"] != login.user_id)
    async with _user_client(sandbox, login.user_id) as client:
        own = await client.get(f"/v3.1/users/{login.user_id}")
        assert own.status_code == 200
        assert own.json()["data"] == store.user(login.user_id)
        assert (await client.get(f"/v3.0/districts/{login.district_id}")).status_code == 200
        for path in (f"/v3.1/users/{someone_else['id']}", f"/v3.1/districts/{store.district_ids()[1]}"):
            response = await client.get(path)
            assert response.status_code == 404
            assert "message" in response.json()
        for path in (
            "/v3.1/users",
            f"/v3.1/users/{login.user_id}/sections",
            f"/v3.1/users/{login.user_id}/district",
            "/v3.1/districts",
            "/v3.1/events",
            f"/v3.1/sections/{store.all('sections')[0]['id']}",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path


async def test_single_objects_have_data_and_a_self_link(api: httpx.AsyncClient, store: SandboxStore) -> None:
    section = store.all("sections")[1]
    body = (await api.get(f"/v3.1/sections/{section['id']}/school")).json()
    assert body["data"] == store.get("schools", section["school"])
    assert body["links"] == [{"rel": "self", "uri": f"/v3.1/schools/{section['school']}"}]


async def test_v30_answers_leave_out_v31_fields(api: httpx.AsyncClient, store: SandboxStore) -> None:
    student = _main_users(store, "student")[0]
    v31 = (await api.get(f"/v3.1/users/{student['id']}")).json()["data"]
    v30 = (await api.get(f"/v3.0/users/{student['id']}")).json()["data"]
    assert v31 == student
    assert V31_ONLY_STUDENT_FIELDS & set(v31["roles"]["student"])
    assert not V31_ONLY_STUDENT_FIELDS & set(v30["roles"]["student"])
    assert "lms_status" not in v30
    assert dict(v30["roles"]["student"].items()) == {
        k: v for k, v in student["roles"]["student"].items() if k not in V31_ONLY_STUDENT_FIELDS
    }
    district_v30 = (await api.get(f"/v3.0/districts/{student['district']}")).json()["data"]
    assert not {"lms_state", "lms_type", "last_attendance_sync"} & set(district_v30)


# --- relations -------------------------------------------------------------------------------


def _sections_of(store: SandboxStore, user_id: str) -> list[dict[str, Any]]:
    return [s for s in store.all("sections") if user_id in s["teachers"] or user_id in s["students"]]


async def test_sections_of_users(api: httpx.AsyncClient, store: SandboxStore) -> None:
    for user in _main_users(store, "teacher") + _main_users(store, "student"):
        expected = [s["id"] for s in _sections_of(store, user["id"])]
        assert await _walk(api, f"/v3.1/users/{user['id']}/sections") == expected


async def test_users_without_sections_or_schools_still_work(
    api: httpx.AsyncClient, store: SandboxStore
) -> None:
    lonely = [
        u
        for u in _main_users(store, "student") + _main_users(store, "teacher")
        if not _sections_of(store, u["id"])
    ]
    assert lonely
    for user in lonely:
        assert (await api.get(f"/v3.1/users/{user['id']}/sections")).json()["data"] == []
        assert (await api.get(f"/v3.1/users/{user['id']}/resources")).status_code == 200
    no_schools = next(u for u in _main_users(store, "staff") if not u["roles"]["staff"]["schools"])
    assert (await api.get(f"/v3.1/users/{no_schools['id']}/schools")).json()["data"] == []


def _holders(store: SandboxStore, resource: dict[str, Any]) -> set[str]:
    """Who holds a resource: users it is shared with, and the parts of sections in its roles."""
    users = set(store.shared_users(resource["id"]))
    for section_id in store.shared_sections(resource["id"]):
        section = store.get("sections", section_id)
        assert section is not None
        users |= set(section["teachers"]) if "teacher" in resource["roles"] else set()
        users |= set(section["students"]) if "student" in resource["roles"] else set()
    return users


async def test_resources_of_users_directly_and_through_sections(
    api: httpx.AsyncClient, store: SandboxStore
) -> None:
    holders = {r["id"]: _holders(store, r) for r in store.all("resources")}
    users = [u for u in store.all("users") if u["district"] == store.district_ids()[0]]
    seen_roles: set[str] = set()
    for user in users:
        expected = sorted(rid for rid, ids in holders.items() if user["id"] in ids)
        assert await _walk(api, f"/v3.1/users/{user['id']}/resources") == expected
        if expected:
            seen_roles |= set(user["roles"])
    assert {"student", "teacher", "staff", "district_admin"} <= seen_roles


@pytest.mark.parametrize("role", [None, "teacher", "student"])
async def test_users_of_resources(api: httpx.AsyncClient, store: SandboxStore, role: str | None) -> None:
    for resource in store.all("resources"):
        expected = sorted(
            uid
            for uid in _holders(store, resource)
            if role is None or role in (store.user(uid) or {})["roles"]
        )
        query = f"?role={role}" if role else ""
        assert await _walk(api, f"/v3.1/resources/{resource['id']}/users{query}") == expected


async def test_roles_that_do_not_fit_answer_an_empty_list(
    api: httpx.AsyncClient, store: SandboxStore
) -> None:
    student = _main_users(store, "student")[0]
    teacher = _main_users(store, "teacher")[0]
    assert (await api.get(f"/v3.1/users/{student['id']}/mystudents")).json()["data"] == []
    for path in ("myteachers", "mycontacts"):
        response = await api.get(f"/v3.1/users/{teacher['id']}/{path}")
        assert response.status_code == 200
        assert response.json()["data"] == []


async def test_mystudents_of_teachers_and_contacts(api: httpx.AsyncClient, store: SandboxStore) -> None:
    for teacher in _main_users(store, "teacher"):
        expected = sorted(
            {s for sec in store.all("sections") if teacher["id"] in sec["teachers"] for s in sec["students"]}
        )
        assert await _walk(api, f"/v3.1/users/{teacher['id']}/mystudents") == expected
    for contact in _main_users(store, "contact"):
        links = contact["roles"]["contact"]["student_relationships"]
        assert await _walk(api, f"/v3.1/users/{contact['id']}/mystudents") == sorted(
            link["student"] for link in links
        )


async def test_myteachers_and_mycontacts_of_students(api: httpx.AsyncClient, store: SandboxStore) -> None:
    contacts = _main_users(store, "contact")
    linked = 0
    for student in _main_users(store, "student"):
        teachers = sorted(
            {
                t
                for s in _sections_of(store, student["id"])
                if student["id"] in s["students"]
                for t in s["teachers"]
            }
        )
        assert await _walk(api, f"/v3.1/users/{student['id']}/myteachers") == teachers
        mine = [
            c["id"]
            for c in contacts
            if any(
                link["student"] == student["id"] for link in c["roles"]["contact"]["student_relationships"]
            )
        ]
        assert await _walk(api, f"/v3.1/users/{student['id']}/mycontacts") == mine
        linked += bool(mine)
    assert linked >= 3


@pytest.mark.parametrize(("primary", "field"), [(None, "schools"), ("true", "school")])
async def test_schools_of_users(
    api: httpx.AsyncClient, store: SandboxStore, primary: str | None, field: str
) -> None:
    checked = 0
    for user in _main_users(store, "student") + _main_users(store, "teacher"):
        role = user["roles"].get("teacher") or user["roles"]["student"]
        expected = sorted(role["schools"]) if field == "schools" else [role["school"]]
        if "staff" in user["roles"] and field == "schools":
            expected = sorted(set(expected) | set(user["roles"]["staff"]["schools"]))
        query = "?primary=true" if primary else ""
        assert await _walk(api, f"/v3.1/users/{user['id']}/schools{query}") == expected
        checked += len(expected) > 1
    if primary is None:
        assert checked  # someone belongs to two schools


@pytest.mark.parametrize("role", [None, "teacher", "student"])
async def test_users_of_a_section(api: httpx.AsyncClient, store: SandboxStore, role: str | None) -> None:
    for section in store.all("sections")[:4]:
        ids = section["teachers"] * (role != "student") + section["students"] * (role != "teacher")
        query = f"?role={role}" if role else ""
        assert await _walk(api, f"/v3.1/sections/{section['id']}/users{query}") == sorted(set(ids))


async def test_linked_records_of_a_section(api: httpx.AsyncClient, store: SandboxStore) -> None:
    with_course = next(s for s in store.all("sections") if s["course"])
    without = next(s for s in store.all("sections") if s["course"] is None)
    for path, kind, key in (
        ("course", "courses", "course"),
        ("term", "terms", "term_id"),
        ("school", "schools", "school"),
        ("district", "districts", "district"),
    ):
        body = (await api.get(f"/v3.1/sections/{with_course['id']}/{path}")).json()
        assert body["data"] == store.get(kind, with_course[key])
    assert (await api.get(f"/v3.1/sections/{without['id']}/course")).status_code == 404


async def test_sub_resources_of_schools_courses_terms_resources(
    api: httpx.AsyncClient, store: SandboxStore
) -> None:
    school = store.all("schools")[0]
    sections = [s for s in store.all("sections") if s["school"] == school["id"]]
    assert await _walk(api, f"/v3.1/schools/{school['id']}/sections") == [s["id"] for s in sections]
    assert await _walk(api, f"/v3.1/schools/{school['id']}/terms") == sorted(
        {s["term_id"] for s in sections if s["term_id"]}
    )
    students = [
        u["id"] for u in _main_users(store, "student") if school["id"] in u["roles"]["student"]["schools"]
    ]
    assert await _walk(api, f"/v3.1/schools/{school['id']}/users?role=student") == students
    course = store.all("courses")[0]
    course_sections = [s["id"] for s in store.all("sections") if s["course"] == course["id"]]
    assert await _walk(api, f"/v3.1/courses/{course['id']}/sections") == course_sections
    term = store.all("terms")[0]
    assert await _walk(api, f"/v3.1/terms/{term['id']}/sections") == [
        s["id"] for s in store.all("sections") if s["term_id"] == term["id"]
    ]
    resource = next(r for r in store.all("resources") if store.roster.sections_of_resource(r))
    shared = await _walk(api, f"/v3.1/resources/{resource['id']}/sections")
    assert shared == sorted(store.shared_sections(resource["id"]))
    assert (await api.get(f"/v3.1/resources/{resource['id']}/users?role=teacher")).status_code == 200
