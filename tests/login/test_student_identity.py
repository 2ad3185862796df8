"""STUDENT_IDENTITY_FIELDS: a student's email and last name left out of the session record
in Redis, of a contact's child summaries and of the district's roster copy."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, parse_student_identity_fields
from app.roster.store import StoredRoster
from app.sessions.store import SessionStore
from tests.conftest import BackendFactory, RunningSandbox
from tests.login.test_login_from_store import Copies, copies  # noqa: F401 - the fixture
from tests.support.backend import SESSION_SECRET
from tests.support.browser import Browser, logged_in_principal
from tests.support.demo import User, demo_user
from tests.support.roster_copy import mark_events_read


async def stored_principal(browser: Browser, redis: Redis, key_prefix: str) -> dict[str, Any]:
    """The Principal as the session record in Redis holds it (unsealed with the backend's secret)."""
    token = browser.http.cookies.get("clever_session")
    assert token
    store = SessionStore(
        redis,
        Keyring.from_secret(SESSION_SECRET),
        idle_timeout=1800,
        absolute_timeout=3600,
        prefix=key_prefix,
    )
    session = await store.load(token)
    assert session is not None
    return dict(session.principal)


async def principal_under(make_backend: BackendFactory, setting: str, user_id: str) -> dict[str, Any]:
    """The principal of a login of `user_id` on a backend with STUDENT_IDENTITY_FIELDS=`setting`."""
    with make_backend(STUDENT_IDENTITY_FIELDS=setting) as backend:
        return await logged_in_principal(backend, user_id)


def assert_keeps_email_and_last_name(principal: dict[str, Any], user: User) -> None:
    assert principal["user"]["email"] == user["email"]
    assert principal["user"]["name"]["last"] == user["name"]["last"]


@pytest.mark.parametrize(
    ("setting", "email", "last"), [("none", False, False), ("last_name", False, True), ("email", True, False)]
)
async def test_withheld_identity_fields_never_reach_the_session_record(
    setting: str,
    email: bool,
    last: bool,
    sandbox: RunningSandbox,
    make_backend: BackendFactory,
    redis: Redis,
    key_prefix: str,
) -> None:
    student = demo_user(sandbox.sandbox.store, "student")
    assert student["email"]
    assert student["name"]["last"]
    with make_backend(STUDENT_IDENTITY_FIELDS=setting) as backend:
        async with Browser(backend) as browser:
            await browser.login(student["id"])
            answered = (await browser.session()).json()
            stored = await stored_principal(browser, redis, key_prefix)
    for principal in (answered, stored):
        assert principal["user"]["email"] == (student["email"] if email else None)
        assert principal["user"]["name"]["last"] == (student["name"]["last"] if last else "")
        assert principal["user"]["name"]["first"] == student["name"]["first"]


async def test_by_default_a_student_keeps_email_and_last_name(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str
) -> None:
    student = demo_user(sandbox.sandbox.store, "student")
    async with Browser(backend) as browser:
        await browser.login(student["id"])
        stored = await stored_principal(browser, redis, key_prefix)
    assert_keeps_email_and_last_name(stored, student)


async def test_a_teacher_keeps_both_whatever_the_setting(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    principal = await principal_under(make_backend, "none", teacher["id"])
    assert_keeps_email_and_last_name(principal, teacher)


async def test_a_contacts_children_lose_their_last_names(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    contact = demo_user(sandbox.sandbox.store, "contact")
    children = (await principal_under(make_backend, "email", contact["id"]))["roles"]["contact"]["students"]
    assert children
    assert all(child["name"]["last"] == "" for child in children)
    assert all(child["name"]["first"] for child in children)


async def test_a_copy_written_under_another_identity_policy_is_not_fresh(
    sandbox: RunningSandbox,
    make_backend: BackendFactory,
    copies: Copies,  # noqa: F811
) -> None:
    student = demo_user(sandbox.sandbox.store, "student")
    await copies.fresh(student["district"])  # under the default policy: email and last name kept
    principal = await principal_under(make_backend, "none", student["id"])
    assert principal["roster"]["source"] == "live"
    assert principal["user"]["email"] is None


async def test_a_copy_written_under_the_policy_holds_neither(
    sandbox: RunningSandbox,
    make_backend: BackendFactory,
    copies: Copies,  # noqa: F811
) -> None:
    policy = DEFAULT_STUDENT_FIELDS | parse_student_identity_fields("none")
    student = demo_user(sandbox.sandbox.store, "student")
    await copies.synced(student["district"], student_fields=policy)
    await mark_events_read(copies.redis, copies.prefix, student["district"])
    found = await copies.store.read(student["district"], student["id"])
    assert isinstance(found, StoredRoster)
    assert found.roster.user.email is None
    assert not found.roster.user.name.last
    principal = await principal_under(make_backend, "none", student["id"])
    assert principal["roster"]["source"] == "store"
    assert principal["user"]["email"] is None
    assert principal["user"]["name"]["last"] == ""


def test_the_setting_parses_to_the_markers_of_what_it_withholds() -> None:
    assert parse_student_identity_fields(None) == frozenset()
    assert parse_student_identity_fields("email,last_name") == frozenset()
    assert parse_student_identity_fields("none") == {"-email", "-last_name"}
    assert parse_student_identity_fields("email") == {"-last_name"}
    with pytest.raises(ValueError, match="unknown"):
        parse_student_identity_fields("ssn")
