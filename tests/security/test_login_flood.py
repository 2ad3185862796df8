"""Unauthenticated floods of the login routes: what they may leave in Redis and in the log is bounded.

Logins started and never finished are capped per browser and per backend process, with a
429 `too_many_pending_logins` and `Retry-After` past the cap; a forged callback writes nothing;
a flood of refused requests is counted in full in `/metrics` but logs only a few lines.
"""

from __future__ import annotations

import logging
import secrets
import time

import httpx
import pytest
from redis.asyncio import Redis

from app.login.returnto import MAX_RETURN_TO_LENGTH
from tests.conftest import BackendFactory
from tests.security.conftest import LOGIN_COOKIE, error_code
from tests.support.browser import Browser
from tests.web.test_metrics import samples

# The log's rate for one kind of event (app.logs.EventLimiter's defaults): a burst, then 1 a second.
LOG_BURST = 20


def _log_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("app") and getattr(r, "event", None) == event]


async def _keys(redis: Redis, prefix: str) -> list[bytes]:
    return sorted([key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)])


async def _counted(backend: str, event: str, code: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{backend}/metrics")).text
    return samples(text, "security_events_total").get((("code", code), ("event", event)), 0.0)


def _assert_refused_past_the_cap(answer: httpx.Response) -> None:
    assert (answer.status_code, error_code(answer)) == (429, "too_many_pending_logins")
    assert 1 <= int(answer.headers["retry-after"]) <= 600
    assert "set-cookie" not in answer.headers


async def test_one_browser_starting_logins_it_never_finishes_is_capped(
    backend: str, redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    long_return_to = "/" + "a" * (MAX_RETURN_TO_LENGTH - 1)
    with caplog.at_level(logging.INFO, logger="app"):
        async with Browser(backend) as browser:
            answers = [(await browser.start_login(return_to=long_return_to)).response for _ in range(100)]
            cookie = browser.http.cookies[LOGIN_COOKIE]
    assert [a.status_code for a in answers[:30]] == [302] * 30  # PENDING_LOGINS_PER_BROWSER's default
    for answer in answers[30:]:
        _assert_refused_past_the_cap(answer)
    assert cookie  # one browser all along
    keys = await _keys(redis, key_prefix)
    assert len(keys) == 31  # 30 logins and the browser's count
    # A pending login at its longest is the return_to and at most 1 KiB more (Redis's own count).
    assert all([(await redis.memory_usage(key) or 0) <= MAX_RETURN_TO_LENGTH + 1024 for key in keys])
    assert len(_log_lines(caplog, "login_rejected")) <= LOG_BURST + 5
    assert await _counted(backend, "login_rejected", "too_many_pending_logins") == 70


async def test_a_return_to_longer_than_the_bound_is_refused_and_stored_nowhere(
    backend: str, redis: Redis, key_prefix: str
) -> None:
    async with Browser(backend) as browser:
        answer = (await browser.start_login(return_to="/" + "a" * MAX_RETURN_TO_LENGTH)).response
    assert (answer.status_code, error_code(answer)) == (400, "invalid_return_to")
    assert await _keys(redis, key_prefix) == []


async def test_cookieless_forged_portal_callbacks_are_capped_in_total(
    make_backend: BackendFactory, redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A code with no state is a login Clever started: each one sends a new browser back to Clever
    with a fresh transaction, so these are capped by PENDING_LOGINS_MAX (per process)."""
    with make_backend(PENDING_LOGINS_MAX="50") as backend, caplog.at_level(logging.INFO, logger="app"):
        started = time.monotonic()
        async with httpx.AsyncClient() as client:
            answers = []
            for n in range(120):
                client.cookies.clear()  # a new browser each time
                answers.append(await client.get(f"{backend}/auth/callback", params={"code": f"forged{n}"}))
        seconds = time.monotonic() - started
        assert [a.status_code for a in answers[:50]] == [302] * 50
        for answer in answers[50:]:
            _assert_refused_past_the_cap(answer)
        assert len(await _keys(redis, key_prefix)) == 50  # a new browser's first login is one key
        assert await _counted(backend, "login_portal_restart", "none") == 120
        assert await _counted(backend, "login_rejected", "too_many_pending_logins") == 70
    lines = _log_lines(caplog, "login_portal_restart") + _log_lines(caplog, "login_rejected")
    assert len(lines) <= 2 * (LOG_BURST + seconds + 1)


@pytest.mark.parametrize("with_login_cookie", [True, False])
async def test_forged_callbacks_naming_no_login_write_nothing_and_log_little(
    with_login_cookie: bool, backend: str, redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Browser(backend) as browser:
        if with_login_cookie:
            await browser.start_login()  # a real pending-login cookie; the states are forged
        before = {key: await redis.dump(key) for key in await _keys(redis, key_prefix)}
        with caplog.at_level(logging.INFO, logger="app"):
            started = time.monotonic()
            for _ in range(200):
                state = secrets.token_urlsafe(32)
                answer = (await browser.get(f"{backend}/auth/callback?code=forged&state={state}")).response
                assert (answer.status_code, error_code(answer)) == (400, "login_expired")
            seconds = time.monotonic() - started
        after = {key: await redis.dump(key) for key in await _keys(redis, key_prefix)}
    assert after == before
    assert len(_log_lines(caplog, "login_rejected")) <= LOG_BURST + seconds + 1
    assert await _counted(backend, "login_rejected", "login_expired") == 200
    suppressed = [getattr(r, "suppressed", 0) for r in _log_lines(caplog, "login_rejected")]
    assert all(isinstance(n, int) and n >= 0 for n in suppressed)
