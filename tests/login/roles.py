"""Logins in a chosen role, and the demo people holding several roles (README, "Multi-role users")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from clever_sandbox.store import SandboxStore
from tests.support.browser import Browser, Step

# Every mix of roles Clever allows one person.
MIXES: tuple[frozenset[str], ...] = (
    frozenset({"teacher", "staff"}),
    frozenset({"district_admin", "teacher"}),
    frozenset({"district_admin", "staff"}),
    frozenset({"district_admin", "staff", "teacher"}),
)
# Each mix with each of its roles as the login's, as test ids and parameters.
MIX_LOGINS = [
    (mix, role) for mix in MIXES for role in sorted(mix)
]  # fmt: skip


def mix_id(mix: frozenset[str], role: str) -> str:
    return f"{'+'.join(sorted(mix))}-as-{role}"


def person_with(store: SandboxStore, roles: frozenset[str]) -> Mapping[str, Any]:
    """The first demo person holding exactly `roles`."""
    for login in store.demo_logins():
        user = store.user(login.user_id)
        if user is not None and set(user["roles"]) == roles:
            return user
    raise LookupError(f"no demo person holds {sorted(roles)}")


async def login_as(browser: Browser, user_id: str, role: str) -> Step:
    """A whole login of `user_id` signing in at Clever in `role`; answers the callback's response."""
    start = await browser.start_login()
    assert start.response.status_code == 302, start.response.text
    query = urlencode({"login_hint": user_id, "login_role": role})
    clever = await browser.get(f"{start.location}&{query}")
    assert clever.response.status_code == 302, clever.response.text
    return await browser.callback(clever.location)
