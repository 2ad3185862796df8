"""The strict modes as Clever would answer: scopes the app lacks, students with little data,
other `user_type` spellings (README, "Sandbox modes")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clever_sandbox.strictness import MISSING_SCOPE_MESSAGE, SENSITIVE_STUDENT_FIELDS
from tests.conftest import RunningSandbox
from tests.sandbox.modes import sandbox_in_mode
from tests.sandbox.test_conformance import authorize, exchange, jwt_claims

# A sandbox in one mode, and a client with its main district's token.
InMode = tuple[RunningSandbox, httpx.AsyncClient]


@pytest.fixture
async def in_mode(request: pytest.FixtureRequest) -> AsyncIterator[InMode]:
    """The mode the test is parametrized with (indirectly)."""
    with sandbox_in_mode(request.param) as running:
        store = running.sandbox.store
        token = running.sandbox.tokens.district_token(store.district_ids()[0], running.config.client_id)
        async with httpx.AsyncClient(
            base_url=running.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            yield running, client


def _resources_paths(running: RunningSandbox) -> list[str]:
    store = running.sandbox.store
    resource = store.all("resources")[0]["id"]
    user = store.all("users")[0]["id"]
    section = store.all("sections")[0]["id"]
    course = store.all("courses")[0]["id"]
    return [
        "/resources",
        f"/resources/{resource}",
        f"/resources/{resource}/users",
        f"/resources/{resource}/sections",
        f"/resources/{resource}/courses",
        f"/users/{user}/resources",
        f"/sections/{section}/resources",
        f"/courses/{course}/resources",
    ]


@pytest.mark.parametrize("in_mode", ["no_resources_scope"], indirect=True)
async def test_without_the_resources_scope_every_resources_path_is_refused(in_mode: InMode) -> None:
    running, client = in_mode
    for version in ("v3.0", "v3.1"):
        for path in _resources_paths(running):
            answer = await client.get(f"/{version}{path}")
            assert answer.status_code == 403, (path, answer.text)
            assert answer.json() == {"message": MISSING_SCOPE_MESSAGE}
        assert (await client.get(f"/{version}/sections")).status_code == 200
    listed = await client.get(
        "/oauth/tokens",
        params={"owner_type": "district"},
        auth=(running.config.client_id, running.config.client_secret),
    )
    assert all("read:resources" not in item["scopes"] for item in listed.json()["data"])


@pytest.mark.parametrize("in_mode", ["no_resources_scope_html"], indirect=True)
async def test_the_missing_scope_may_come_as_an_html_page(in_mode: InMode) -> None:
    running, client = in_mode
    for path in _resources_paths(running):
        answer = await client.get(f"/v3.1{path}")
        assert answer.headers["content-type"].startswith("text/html"), path
        assert answer.status_code == 404


@pytest.mark.parametrize("in_mode", ["no_resources_scope"], indirect=True)
async def test_without_the_resources_scope_the_feed_holds_no_resource_events(in_mode: InMode) -> None:
    running, client = in_mode
    store = running.sandbox.store
    resource = store.all("resources")[0]
    await _change(running, f"/sandbox/resources/{resource['id']}", {"title": "Renamed"})
    (event,) = [e for e in store.events() if e["type"].startswith("resources.")]
    for version in ("v3.0", "v3.1"):
        feed = (await client.get(f"/{version}/events")).json()["data"]
        assert not [item for item in feed if item["data"]["type"].startswith("resources.")]
        assert (await client.get(f"/{version}/events/{event['id']}")).status_code == 404
        typed = await client.get(f"/{version}/events", params={"record_type": "resources"})
        assert typed.json()["data"] == []


async def _change(running: RunningSandbox, path: str, body: dict[str, Any]) -> None:
    """A PATCH through the control API, as tests change the roster."""
    async with httpx.AsyncClient(base_url=running.url) as control:
        changed = await control.patch(path, json=body)
    assert changed.status_code < 300, changed.text


async def _all(client: httpx.AsyncClient, url: str, **params: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    answer = await client.get(url, params={**params, "limit": "10000"})
    while True:
        assert answer.status_code == 200, answer.text
        page = [item["data"] for item in answer.json()["data"]]
        records += page
        following = [link["uri"] for link in answer.json()["links"] if link["rel"] == "next"]
        if not page or not following:
            return records
        answer = await client.get(following[0])


@pytest.mark.parametrize("in_mode", ["no_sensitive_scope"], indirect=True)
async def test_without_the_sensitive_scope_those_fields_are_absent(in_mode: InMode) -> None:
    running, client = in_mode
    store = running.sandbox.store
    student = next(user for user in store.all("users") if "student" in user["roles"])
    # A change to sensitive fields alone is no change the app may see.
    await _change(
        running,
        f"/sandbox/users/{student['id']}",
        {"roles": {"student": {"ell_status": "Y", "iep_status": "Y"}}},
    )
    await _change(running, f"/sandbox/users/{student['id']}", {"name": {"first": "Renamed"}})
    stored = {user["id"]: user for user in store.all("users")}
    for version in ("v3.0", "v3.1"):
        students = await _all(client, f"/{version}/users", role="student")
        assert students
        for record in students:
            held = record["roles"]["student"]
            assert not SENSITIVE_STUDENT_FIELDS & set(held), (record["id"], sorted(held))
            assert held["grade"] == stored[record["id"]]["roles"]["student"]["grade"]  # the rest stays
        one = (await client.get(f"/{version}/users/{student['id']}")).json()["data"]
        assert not SENSITIVE_STUDENT_FIELDS & set(one["roles"]["student"])
        feed = [item["data"] for item in (await client.get(f"/{version}/events")).json()["data"]]
        # The change to sensitive fields alone is not there.
        assert [event["type"] for event in feed] == ["users.updated"]
        assert not SENSITIVE_STUDENT_FIELDS & set(feed[0]["data"]["object"]["roles"]["student"])
    # The store still holds them: the scope, not the data, leaves them out.
    assert set(stored[student["id"]]["roles"]["student"]) >= SENSITIVE_STUDENT_FIELDS


@pytest.mark.parametrize("in_mode", ["sparse_students"], indirect=True)
async def test_sparse_students_carry_only_what_clever_guarantees(in_mode: InMode) -> None:
    running, client = in_mode
    students = await _all(client, "/v3.1/users", role="student")
    assert students
    for record in students:
        assert set(record) == {"id", "district", "name", "created", "last_modified", "roles"}
        assert set(record["name"]) == {"first", "last"}
        assert set(record["roles"]) == {"student"}
        assert set(record["roles"]["student"]) == {
            "legacy_id", "school", "schools", "enrollments", "created", "last_modified"
        }  # fmt: skip
    # Everyone else's records are as the demo's.
    teachers = await _all(client, "/v3.1/users", role="teacher")
    assert teachers
    assert all(record == running.sandbox.store.user(record["id"]) for record in teachers)
    # Their sections still list them.
    sections = await _all(client, "/v3.1/sections")
    assert {student["id"] for student in students} & {s for section in sections for s in section["students"]}


@pytest.mark.parametrize(
    ("mode", "role", "sent"),
    [
        ("spaced_user_types", "district_admin", "district admin"),
        ("spaced_user_types", "staff", "staff"),
        ("school_admin_user_types", "staff", "school_admin"),
        ("school_admin_user_types", "district_admin", "district_admin"),
        ("school_admin_user_types", "teacher", "teacher"),
    ],
)
async def test_user_type_is_spelled_as_the_mode_says(mode: str, role: str, sent: str) -> None:
    with sandbox_in_mode(mode) as running:
        login = next(login for login in running.sandbox.store.demo_logins() if login.user_type == role)
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            authorized = await authorize(client, running, login.user_id, login_role=role)
            assert authorized.status_code == 302, authorized.text
            (code,) = httpx.URL(authorized.headers["location"]).params.get_list("code")
            tokens = (await exchange(client, running, code)).json()
            assert jwt_claims(tokens["id_token"])["user_type"] == sent
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert (await client.get("/userinfo", headers=bearer)).json()["user_type"] == sent
            me = (await client.get("/v3.0/me", headers=bearer)).json()
            assert me["type"] == me["data"]["type"] == "user"
