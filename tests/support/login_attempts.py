"""Logins attempted while something breaks underneath, each answer classified.

A login under a fault may succeed, or answer 503 `store_unavailable` (Redis cannot be reached);
where the test says so, `login_expired` or `session_lost` (the pending transaction, or the new
session, was written to a master that was failed over before it replicated: the person logs in
again). Never anything else: no 500, no traceback, no "anonymous".
Answers are asked for as JSON so that errors come back with their stable codes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from tests.support.backend import FRONTEND_URL
from tests.support.browser import Browser

JSON = {"Accept": "application/json"}
SESSION_COOKIE = "clever_session"


@dataclass
class Outcomes:
    """What each attempt came to: `ok`, `store_unavailable`, or something that must not happen."""

    counts: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def note(self, outcome: str, *, tolerated: frozenset[str] = frozenset()) -> None:
        """Count `outcome`; anything but `ok`, `store_unavailable` and `tolerated` is unexpected."""
        self.counts[outcome] += 1
        if outcome not in ("ok", "store_unavailable", *tolerated):
            self.unexpected.append(outcome)


def _unavailable(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    body = response.json()
    return body.get("error") == "store_unavailable" and "Traceback" not in response.text


async def attempt_login(backend_url: str, user_id: str) -> tuple[str, str | None]:
    """One whole login and a validation; answers the outcome and, when it worked, the session token."""
    async with Browser(backend_url) as browser:
        start = await browser.http.get(f"{backend_url}/auth/login", headers=JSON)
        if _unavailable(start):
            return "store_unavailable", None
        if start.status_code != 302:
            return f"login {start.status_code} {start.text[:200]}", None
        clever = await browser.sign_in_at_clever(str(start.headers["location"]), user_id)
        if clever.response.status_code != 302:
            return f"sandbox {clever.response.status_code}", None
        query = urlsplit(clever.location).query
        landed = await browser.http.get(f"{backend_url}/auth/callback?{query}", headers=JSON)
        token = browser.http.cookies.get(SESSION_COOKIE)
        if _unavailable(landed):
            if token:
                return "store_unavailable with a session cookie", None
            return "store_unavailable", None
        if landed.status_code == 400 and landed.json().get("error") == "login_expired" and not token:
            return "login_expired", None
        if landed.status_code != 302 or landed.headers.get("location") != FRONTEND_URL or not token:
            return f"callback {landed.status_code} {landed.text[:200]}", None
        session = await browser.http.get(f"{backend_url}/auth/session", headers=JSON)
        if _unavailable(session):
            return "store_unavailable", token
        if session.status_code == 401:
            return "session_lost", None
        if session.status_code != 200 or session.json()["user"]["id"] != user_id:
            return f"session {session.status_code} {session.text[:200]}", None
        return "ok", token


async def session_status(backend_url: str, token: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{backend_url}/auth/session", headers={"Authorization": f"Bearer {token}"})
    return response.status_code
