"""Clever failing in every way the sandbox can fake, seen from a login (the README's "When Clever fails").

Each case: an answer within a bounded time, the right number of requests at Clever, a friendly
page with a way to try again (or a login that retries its way through), and no session written.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from tests.conftest import BackendFactory, RunningSandbox
from tests.reliability.clever_faults import (
    CALL_TIMEOUT,
    DATA_API,
    MANY,
    TOKENS,
    arm,
    assert_friendly_retry_page,
    clear,
    log_in,
    seen,
    session_keys,
    user_record,
)
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.oauth import redeem


@pytest.fixture
def backend(make_backend: BackendFactory) -> Iterator[str]:
    """A backend whose calls to Clever each give up after CALL_TIMEOUT seconds."""
    with make_backend(CLEVER_TIMEOUT=str(CALL_TIMEOUT)) as url:
        yield url


@pytest.fixture
def teacher(sandbox: RunningSandbox) -> str:
    return str(demo_user(sandbox.sandbox.store, "teacher")["id"])


async def _fails_cleanly(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str, status: int, code: str
) -> None:
    async with Browser(backend) as browser:
        answer = await log_in(browser, teacher)
        assert_friendly_retry_page(answer, status, code)
        assert "clever_session" not in str(browser.http.cookies)
        assert (await browser.session()).status_code == 401
    assert await session_keys(redis, key_prefix) == []


async def _succeeds(backend: str, teacher: str) -> None:
    async with Browser(backend) as browser:
        answer = await log_in(browser, teacher)
        assert answer.status == 302, answer.response.text[:300]
        session = await browser.session()
        assert session.status_code == 200
        assert session.json()["user"]["id"] == teacher


# -- the token endpoint (the code exchange is never retried: a code redeems once) -------------


@pytest.mark.parametrize("status", [500, 503])
async def test_token_endpoint_5xx_is_tried_once(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str, status: int
) -> None:
    await arm(sandbox, TOKENS, method="POST", status=status, count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, 503, "clever_unavailable")
    assert await seen(sandbox, TOKENS) == 1


async def test_token_endpoint_invalid_grant_asks_for_a_new_login(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    async with Browser(backend) as browser:
        start = await browser.start_login()
        clever = await browser.sign_in_at_clever(start.location, teacher)
        code = clever.query["code"]
        # Used up by an exchange Clever refuses whether or not it checks PKCE: another redirect_uri.
        elsewhere = dataclasses.replace(sandbox.config, redirect_uris=("https://elsewhere.example.org/cb",))
        assert (await redeem(sandbox.url, elsewhere, code)).status_code == 400  # used up
        await arm(sandbox, TOKENS, method="POST", status=None, count=MANY)
        step = await browser.callback(clever.location)
    assert step.response.status_code == 400
    assert "Error code: login_expired" in step.response.text
    assert 'href="/auth/login"' in step.response.text
    assert await seen(sandbox, TOKENS) == 1
    assert await session_keys(redis, key_prefix) == []


async def test_token_endpoint_timeout_answers_within_the_call_timeout(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, TOKENS, method="POST", latency_ms=(CALL_TIMEOUT + 3) * 1000, count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, 503, "clever_unavailable")
    assert await seen(sandbox, TOKENS) == 1


# -- the Data API (GETs: retried within the policy and the call's time) ----------------------


async def test_a_lasting_data_api_5xx_is_retried_three_times_then_unavailable(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", status=502, count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, 503, "clever_unavailable")
    assert await seen(sandbox, user_record(teacher)) == 3


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"status": 500, "count": 2}, id="5xx"),
        pytest.param({"status": 429, "count": 1}, id="429-waits-for-the-reset"),
    ],
)
async def test_a_passing_data_api_failure_is_retried_through(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str, rule: dict[str, int]
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", **rule)
    await _succeeds(backend, teacher)
    assert await seen(sandbox, user_record(teacher), armed=rule["count"]) == rule["count"]
    assert len(await session_keys(redis, key_prefix)) == 1


async def test_a_lasting_429_is_a_try_again_page_after_bounded_attempts(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", status=429, count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, 503, "clever_unavailable")
    # Each 429 says the window reopens in a second; the call's time allows at most three tries.
    assert 1 <= await seen(sandbox, user_record(teacher)) <= 3


async def test_a_slow_drip_is_cut_off_at_the_call_timeout(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", body="drip", count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, 503, "clever_unavailable")
    assert 1 <= await seen(sandbox, user_record(teacher)) <= 3


@pytest.mark.parametrize(
    ("status", "body", "answered", "code", "attempts"),
    [
        (500, "html", 503, "clever_unavailable", 3),  # a proxy's error page: still a 5xx
        (200, "html", 502, "clever_error", 1),  # a page instead of JSON: not retried
        (200, "malformed", 502, "clever_error", 1),  # JSON cut short: not retried
        (200, "huge", 502, "clever_error", 1),  # over the size cap: not read, not retried
    ],
)
async def test_bodies_we_cannot_use(
    sandbox: RunningSandbox,
    backend: str,
    redis: Redis,
    key_prefix: str,
    teacher: str,
    status: int,
    body: str,
    answered: int,
    code: str,
    attempts: int,
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", status=status, body=body, count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, answered, code)
    assert await seen(sandbox, user_record(teacher)) == attempts


async def test_a_connection_reset_is_retried_through(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", body="reset", count=1)
    await _succeeds(backend, teacher)
    assert await seen(sandbox, user_record(teacher), armed=1) == 1


async def test_lasting_connection_resets_are_unavailable_after_three_attempts(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, user_record(teacher), method="GET", body="reset", count=MANY)
    await _fails_cleanly(sandbox, backend, redis, key_prefix, teacher, 503, "clever_unavailable")
    assert await seen(sandbox, user_record(teacher)) == 3


# -- a dead Clever: the circuit opens and logins stop piling up requests ---------------------


async def test_a_dead_data_api_opens_the_circuit_then_a_probe_closes_it(
    sandbox: RunningSandbox, backend: str, redis: Redis, key_prefix: str, teacher: str
) -> None:
    await arm(sandbox, DATA_API, method="GET", status=503, count=MANY)
    async with Browser(backend) as browser:
        # Until enough attempts have failed in a row, each login tries (and retries); each
        # failing login fails at least three, so the circuit opens within a few logins.
        opened = False
        for _ in range(8):
            before = await seen(sandbox, DATA_API)
            answer = await log_in(browser, teacher)
            assert_friendly_retry_page(answer, 503, "clever_unavailable")
            if await seen(sandbox, DATA_API) == before:
                opened = True
                break
        assert opened
        # Open: the next logins are refused at once, and Clever sees nothing of them.
        for _ in range(3):
            answer = await log_in(browser, teacher)
            assert_friendly_retry_page(answer, 503, "clever_unavailable")
            assert answer.seconds < 1.0
        assert await seen(sandbox, DATA_API) == before
        metrics = (await browser.http.get(f"{backend}/metrics")).text
        assert 'outcome="circuit_open"' in metrics
    assert await session_keys(redis, key_prefix) == []

    await clear(sandbox)
    # After the open period one probe goes through; it succeeds and logins work again.
    retry_after = int(answer.response.headers["retry-after"])
    async with Browser(backend) as browser:
        for _ in range(2 * (retry_after + 1)):
            answer = await log_in(browser, teacher)
            if answer.status == 302:
                break
            await asyncio.sleep(0.5)
        assert answer.status == 302
        assert (await browser.session()).status_code == 200
