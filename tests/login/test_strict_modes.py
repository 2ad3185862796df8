"""Logins against a sandbox in a strict mode (README, "Sandbox modes"): an app without the
resources or the sensitive-field scope, students with only what Clever guarantees, the other
`user_type` spellings. Nothing fails, and the Principal holds what Clever sent, nothing invented."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from app.roster.fieldpolicy import STUDENT_FIELDS
from clever_sandbox.store import SandboxStore
from clever_sandbox.strictness import SENSITIVE_STUDENT_FIELDS
from tests.conftest import RunningSandbox
from tests.login.roles import login_as, person_with
from tests.sandbox.modes import sandbox_in_mode
from tests.support.backend import backend_on
from tests.support.browser import Browser, logged_in_principal
from tests.support.demo import expected_resource_ids, expected_section_ids

# Every student field a Principal may hold, so that what is missing is Clever's doing.
ALL_FIELDS = {"STUDENT_FIELDS": "*"}


@contextmanager
def backend_in_mode(mode: str, redis_url: str, key_prefix: str) -> Iterator[tuple[RunningSandbox, str]]:
    with (
        sandbox_in_mode(mode) as running,
        backend_on(running, redis_url=redis_url, key_prefix=key_prefix, extra=ALL_FIELDS) as backend,
    ):
        yield running, backend


def _district_logins(store: SandboxStore, user_type: str) -> list[Mapping[str, Any]]:
    """The people of the connected districts' demo logins of `user_type`."""
    users = [
        store.user(login.user_id)
        for login in store.demo_logins()
        if login.district_id and login.user_type == user_type
    ]
    return [user for user in users if user is not None]


@pytest.mark.parametrize("mode", ["no_resources_scope", "no_resources_scope_html"])
async def test_without_the_resources_scope_logins_go_without_resources(
    mode: str, redis_url: str, key_prefix: str
) -> None:
    with backend_in_mode(mode, redis_url, key_prefix) as (running, backend):
        store = running.sandbox.store
        for kind in ("teacher", "student", "staff"):
            person = _district_logins(store, kind)[0]
            answer = await logged_in_principal(backend, person["id"])
            assert answer["roster"]["unavailable"] == ["resources"], kind
            assert answer["resources"] == []
            assert {section["id"] for section in answer["sections"]} == expected_section_ids(store, person)


async def test_without_the_sensitive_scope_students_lack_those_fields_and_nothing_else(
    redis_url: str, key_prefix: str
) -> None:
    with backend_in_mode("no_sensitive_scope", redis_url, key_prefix) as (running, backend):
        store = running.sandbox.store
        for person in _district_logins(store, "student"):
            answer = await logged_in_principal(backend, person["id"])
            student = answer["roles"]["student"]
            stored = person["roles"]["student"]
            assert not SENSITIVE_STUDENT_FIELDS & set(student), sorted(student)
            # Every other field the policy allows, as the sandbox holds it; nothing made up.
            assert student == {
                name: value
                for name, value in stored.items()
                if name in STUDENT_FIELDS and name not in SENSITIVE_STUDENT_FIELDS
            }
            assert "unavailable" not in answer["roster"]
            assert {r["id"] for r in answer["resources"]} == expected_resource_ids(store, person)


async def test_sparse_students_log_in_with_only_what_clever_sent(redis_url: str, key_prefix: str) -> None:
    with backend_in_mode("sparse_students", redis_url, key_prefix) as (running, backend):
        store = running.sandbox.store
        for person in _district_logins(store, "student"):
            answer = await logged_in_principal(backend, person["id"])
            stored = person["roles"]["student"]
            assert answer["roles"]["student"] == {k: v for k, v in stored.items() if k in STUDENT_FIELDS}
            assert "grade" not in answer["roles"]["student"]
            assert answer["user"]["email"] is None
            assert answer["user"]["name"] == {
                "first": person["name"]["first"], "middle": "", "last": person["name"]["last"]
            }  # fmt: skip
            assert answer["user"]["roles"] == ["student"]
            assert {section["id"] for section in answer["sections"]} == expected_section_ids(store, person)
            assert "unavailable" not in answer["roster"]
        # A contact's children are named without the grade Clever did not send.
        contact = _district_logins(store, "contact")[0]
        answer = await logged_in_principal(backend, contact["id"])
        children = answer["roles"]["contact"]["students"]
        assert children
        assert all(child["grade"] is None for child in children)


@pytest.mark.parametrize(
    ("mode", "role"),
    [
        ("spaced_user_types", "district_admin"),
        ("school_admin_user_types", "staff"),
        ("school_admin_user_types", "district_admin"),
        ("school_admin_user_types", "teacher"),
    ],
)
async def test_every_user_type_spelling_gives_the_login_its_role(
    mode: str, role: str, redis_url: str, key_prefix: str
) -> None:
    with backend_in_mode(mode, redis_url, key_prefix) as (running, backend):
        store = running.sandbox.store
        # One person of every role, so that only the spelling can name the primary one.
        person = person_with(store, frozenset({"district_admin", "staff", "teacher"}))
        async with Browser(backend) as browser:
            landed = await login_as(browser, person["id"], role)
            assert landed.response.status_code == 302, landed.response.text
            answer = (await browser.session()).json()
        assert answer["user"]["primary_role"] == role
        assert answer["user"]["roles"] == ["district_admin", "staff", "teacher"]
        # And a person of one role, who cannot hide a misread spelling behind another role.
        single = _district_logins(store, role)[0]
        if set(single["roles"]) == {role}:
            assert (await logged_in_principal(backend, single["id"]))["user"]["primary_role"] == role
