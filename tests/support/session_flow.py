"""A session's whole life through a running backend, for proving a Redis topology end to end.

Login (every Redis command the login uses: the transaction's Lua scripts, the district-token
cache and its lock, the session pipeline over keys in different slots), `/auth/session` and
`/auth/verify` (GETEX), a refresh (SET XX KEEPTTL), logout, and ending every session of a user
with `DELETE /auth/users/{id}/sessions`.
"""

from __future__ import annotations

import httpx

from tests.support.backend import FRONTEND_URL, SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser

CSRF = {"X-Requested-With": "test"}


async def assert_ready(backend_url: str) -> None:
    """The backend's `/readyz` answers 200."""
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"{backend_url}/readyz")
    assert ready.status_code == 200, ready.text


async def logged_in(browser: Browser, user_id: str) -> None:
    landed = await browser.login(user_id)
    assert landed.response.status_code == 302, landed.response.text
    assert landed.location == FRONTEND_URL
    answer = await browser.session()
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["id"] == user_id


async def whole_session_life(backend_url: str, user_id: str) -> None:
    """Log in twice, use, refresh and end the sessions; fails on the first unexpected answer."""
    async with Browser(backend_url) as browser:
        await logged_in(browser, user_id)
        verify = await browser.http.get(f"{backend_url}/auth/verify")
        assert verify.status_code == 200, verify.text
        assert verify.headers["X-Clever-User-Id"] == user_id
        refresh = await browser.http.post(f"{backend_url}/auth/session/refresh", headers=CSRF)
        assert refresh.status_code == 200, refresh.text
        logout = await browser.http.post(f"{backend_url}/auth/logout", headers=CSRF)
        assert logout.status_code == 204, logout.text
        assert (await browser.session()).status_code == 401

    async with Browser(backend_url) as first, Browser(backend_url) as second:
        await logged_in(first, user_id)
        await logged_in(second, user_id)
        async with httpx.AsyncClient() as service:  # a partner's backend service: no cookies
            ended = await service.delete(
                f"{backend_url}/auth/users/{user_id}/sessions", auth=(SERVICE_NAME, SERVICE_SECRET)
            )
        assert ended.status_code == 200, ended.text
        assert ended.json() == {"ended": 2}
        assert (await first.session()).status_code == 401
        assert (await second.session()).status_code == 401
