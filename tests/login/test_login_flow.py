"""Whole logins over real HTTP: a test browser, the backend, the sandbox and a real Redis."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, SENSITIVE_STUDENT_FIELDS
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.browser import Browser, back_from_clever, logged_in_principal
from tests.support.demo import (
    KINDS,
    demo_user,
    expected_resource_ids,
    expected_roles,
    expected_section_ids,
)
from tests.support.oauth import redeem

FRONTEND = "http://127.0.0.1:5173/home"


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_kind_of_user_logs_in_and_sees_what_clever_holds(
    kind: str, sandbox: RunningSandbox, backend: str
) -> None:
    store = sandbox.sandbox.store
    user = demo_user(store, kind)
    async with Browser(backend) as browser:
        landed = await browser.login(user["id"])
        assert landed.response.status_code == 302
        assert landed.location == FRONTEND
        answer = await browser.session()
    assert answer.status_code == 200
    principal = answer.json()
    assert principal["user"]["id"] == user["id"]
    assert principal["user"]["district"] == user["district"]
    assert principal["user"]["roles"] == expected_roles(user)
    assert principal["user"]["primary_role"] in principal["user"]["roles"]
    assert principal["user"]["legacy_ids"] == {
        role: body["legacy_id"] for role, body in user["roles"].items() if body.get("legacy_id")
    }
    assert {s["id"] for s in principal["sections"]} == expected_section_ids(store, user)
    assert {r["id"] for r in principal["resources"]} == expected_resource_ids(store, user)
    assert principal["session"]["login_method"] == "clever_sso"
    assert set(principal["roles"]) == set(expected_roles(user))


async def test_a_teacher_who_is_staff_has_both_roles_and_the_login_role_first(
    sandbox: RunningSandbox, backend: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher_staff")
    principal = await logged_in_principal(backend, user["id"])
    assert principal["user"]["roles"] == ["staff", "teacher"]
    assert principal["user"]["primary_role"] == sandbox.sandbox.store.login_role(user["id"])
    assert principal["roles"]["staff"]["roles"] == user["roles"]["staff"]["roles"]
    teacher_sections = {s["id"] for s in principal["sections"] if s["role"] == "teacher"}
    assert teacher_sections == expected_section_ids(sandbox.sandbox.store, user)


async def test_a_student_by_default_carries_no_sensitive_field(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    student = (await logged_in_principal(backend, user["id"]))["roles"]["student"]
    assert set(student) <= DEFAULT_STUDENT_FIELDS
    assert not set(student) & SENSITIVE_STUDENT_FIELDS
    assert student["grade"] == user["roles"]["student"]["grade"]


async def test_with_every_student_field_allowed_the_v31_fields_arrive_as_clever_sent_them(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    with make_backend(STUDENT_FIELDS="*") as backend:
        student = (await logged_in_principal(backend, user["id"]))["roles"]["student"]
    sent = user["roles"]["student"]
    for name in ("gifted_status", "section_504_status", "disability", "home_language", "home_language_code",
                 "frl_status", "ell_status", "grade", "dob"):  # fmt: skip
        if name in sent:
            assert student[name] == sent[name], name
    assert "disability" in student


async def test_a_contact_sees_their_linked_students(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "contact")
    contact = (await logged_in_principal(backend, user["id"]))["roles"]["contact"]
    links = user["roles"]["contact"]["student_relationships"]
    assert contact["student_relationships"] == [
        {
            "student": link["student"],
            "relationship": link.get("relationship") or "",
            "type": link.get("type") or "",
        }
        for link in links
    ]
    assert {student["id"] for student in contact["students"]} == {link["student"] for link in links}


async def test_without_an_id_token_identity_comes_from_me(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        assert (await control.put("/sandbox/oidc", json={"enabled": False})).status_code < 300
    principal = await logged_in_principal(backend, user["id"])
    assert principal["user"]["id"] == user["id"]
    assert principal["user"]["roles"] == ["teacher"]


async def test_a_portal_launch_is_sent_back_to_clever_and_never_exchanged(
    sandbox: RunningSandbox, backend: str
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    config = sandbox.config
    async with Browser(backend) as browser:
        launch = await browser.get(
            f"{sandbox.url}/oauth/instant-login",
            params={"client_id": config.client_id, "district_id": user["district"], "login_hint": user["id"]},
        )
        assert launch.response.status_code == 302
        assert "state" not in launch.query
        portal_code = launch.query["code"]
        bounced = await browser.callback(launch.location)
        assert bounced.response.status_code == 302
        assert bounced.location.startswith(f"{sandbox.url}/oauth/authorize?")
        assert bounced.query["state"]
        assert bounced.query["code_challenge_method"] == "S256"
        # Clever remembers who signed in, so the second authorize needs no page.
        again = await browser.get(bounced.location)
        assert again.response.status_code == 302
        assert again.query["code"] != portal_code
        landed = await browser.callback(again.location)
        assert landed.response.status_code == 302
        principal = (await browser.session()).json()
    assert principal["user"]["id"] == user["id"]
    assert principal["session"]["login_method"] == "clever_portal"
    # The Portal's own code was never redeemed: it still works once, for whoever holds it legitimately.
    exchange = await redeem(sandbox.url, config, portal_code)
    assert exchange.status_code == 200


async def test_a_repeated_callback_in_the_same_browser_lands_on_the_same_session(
    sandbox: RunningSandbox, backend: str
) -> None:
    async with back_from_clever(backend, sandbox.sandbox.store, "teacher") as (browser, redirect):
        first = await browser.callback(redirect)
        cookie = browser.http.cookies.get("clever_session")
        again = await browser.callback(redirect)
        assert again.response.status_code == 302
        assert again.location == first.location
        assert browser.http.cookies.get("clever_session") == cookie
        assert (await browser.session()).status_code == 200
        # The same URL in another browser gets nothing.
        async with Browser(backend) as other:
            stolen = await other.callback(redirect)
            assert stolen.response.status_code == 400
            assert "login_expired" in stolen.response.text
            assert "clever_session" not in other.http.cookies


async def test_several_tabs_log_in_at_once_behind_one_cookie(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser:
        starts = [await browser.start_login(return_to=f"/tab/{n}") for n in range(5)]
        assert len({step.query["state"] for step in starts}) == 5
        login_cookies = [name for name in browser.http.cookies if name == "clever_login"]
        assert len(login_cookies) == 1
        for n, start in reversed(list(enumerate(starts))):
            clever = await browser.sign_in_at_clever(start.location, user["id"])
            landed = await browser.callback(clever.location)
            assert landed.response.status_code == 302
            assert landed.location == f"http://127.0.0.1:5173/tab/{n}"


async def test_a_new_login_replaces_the_browsers_old_session(sandbox: RunningSandbox, backend: str) -> None:
    teacher, student = (
        demo_user(sandbox.sandbox.store, "teacher"),
        demo_user(sandbox.sandbox.store, "student"),
    )
    async with Browser(backend) as browser:
        await browser.login(teacher["id"])
        old = browser.http.cookies.get("clever_session")
        assert old
        await browser.login(student["id"])
        new = browser.http.cookies.get("clever_session")
        assert new
        assert new != old
        assert (await browser.session()).json()["user"]["id"] == student["id"]
        dead = await browser.http.get(f"{backend}/auth/session", headers={"Authorization": f"Bearer {old}"})
    assert dead.status_code == 401


async def test_the_authorize_url_binds_pkce_state_and_nonce(sandbox: RunningSandbox, backend: str) -> None:
    async with Browser(backend) as browser:
        start = await browser.start_login(district_id=sandbox.sandbox.store.district_ids()[0])
    parts = urlsplit(start.location)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{sandbox.url}/oauth/authorize"
    assert query["client_id"] == sandbox.config.client_id
    assert query["redirect_uri"] == sandbox.config.redirect_uris[0]
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 43
    assert len(query["nonce"]) >= 43
    assert query["district_id"] == sandbox.sandbox.store.district_ids()[0]
    set_cookie = start.response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=lax" in set_cookie.replace("samesite", "SameSite")


async def test_every_demo_login_works_including_users_with_missing_data(
    sandbox: RunningSandbox, backend: str
) -> None:
    store = sandbox.sandbox.store
    # District logins; Library ones (no district) are tests/login/test_library_logins.py's.
    logins = [login for login in store.demo_logins() if login.district_id]
    assert len(logins) >= 10
    for login in logins:
        user = store.user(login.user_id)
        assert user is not None
        async with Browser(backend) as browser:
            landed = await browser.login(login.user_id)
            assert landed.response.status_code == 302, (login.label, landed.response.text[:200])
            principal = (await browser.session()).json()
        assert principal["user"]["id"] == login.user_id
        assert principal["user"]["roles"] == expected_roles(user)
        assert {s["id"] for s in principal["sections"]} == expected_section_ids(store, user)
        assert {r["id"] for r in principal["resources"]} == expected_resource_ids(store, user)
        if not user.get("email"):
            assert principal["user"]["email"] is None
