"""Find demo users of each kind in the sandbox, and what a login of theirs should show."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.clever.models import ROLE_ORDER
from clever_sandbox.store import SandboxStore

User = Mapping[str, Any]


def _roles(user: User) -> set[str]:
    return set(user.get("roles", {}))


KINDS: dict[str, Callable[[SandboxStore, User], bool]] = {
    "student": lambda store, u: _roles(u) == {"student"} and "disability" in u["roles"]["student"],
    "teacher": lambda store, u: _roles(u) == {"teacher"} and bool(store.roster.sections_of_user(u)),
    "teacher_staff": lambda store, u: _roles(u) == {"teacher", "staff"},
    "staff": lambda store, u: (
        _roles(u) == {"staff"} and "SchoolTechLead" in u["roles"]["staff"].get("roles", [])
    ),
    "district_admin": lambda store, u: "district_admin" in _roles(u),
    "contact": lambda store, u: (
        _roles(u) == {"contact"} and len(u["roles"]["contact"]["student_relationships"]) > 1
    ),
}


def demo_user(store: SandboxStore, kind: str) -> User:
    """The first demo login of `kind` (one of KINDS), as the store holds it."""
    for login in store.demo_logins():
        user = store.user(login.user_id)
        if user is not None and KINDS[kind](store, user):
            return user
    raise LookupError(f"the sandbox has no demo user of kind {kind}")


def expected_roles(user: User) -> list[str]:
    return [role for role in ROLE_ORDER if role in user.get("roles", {})]


def expected_section_ids(store: SandboxStore, user: User) -> set[str]:
    return {section["id"] for section in store.roster.sections_of_user(user)}


def expected_resource_ids(store: SandboxStore, user: User) -> set[str]:
    return {resource["id"] for resource in store.roster.resources_of_user(user)}
