"""Retries and errors, with faults injected at the sandbox and attempts counted there."""

from __future__ import annotations

import math
import socket
import time

import httpx
import pytest

from app.clever import CleverClient, RetryPolicy, errors
from app.clever.http import Timeouts
from tests.clever.conftest import FAST_RETRY, MakeClient
from tests.clever.sandbox_control import add_fault, remaining
from tests.conftest import RunningSandbox

SECTIONS = "/v3.1/users/*/sections"


@pytest.fixture
def teacher(sandbox: RunningSandbox) -> str:
    """A teacher who has sections (the primary teacher of the first seeded one)."""
    teacher_id = sandbox.sandbox.store.all("sections")[0]["teacher"]
    assert isinstance(teacher_id, str)
    return teacher_id


async def section_ids(sandbox: RunningSandbox, token: str, user_id: str) -> list[str]:
    """What the sandbox serves for the teacher's sections, in one page, read without our client."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.get(
            f"/v3.1/users/{user_id}/sections",
            params={"limit": 10_000},
            headers={"Authorization": f"Bearer {token}"},
        )
    response.raise_for_status()
    return [item["data"]["id"] for item in response.json()["data"]]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_5xx_is_retried_until_it_passes(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str, status: int
) -> None:
    await add_fault(sandbox.url, SECTIONS, method="GET", status=status, count=1)
    sections = await clever.user_sections(district_token, teacher)
    assert [s.id for s in sections] == await section_ids(sandbox, district_token, teacher)
    assert await remaining(sandbox.url, SECTIONS) == 0


async def test_a_lasting_5xx_gives_up_after_the_policy_s_attempts(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str
) -> None:
    # One more failure armed than the policy allows attempts: one must be left over.
    await add_fault(sandbox.url, SECTIONS, method="GET", status=500, count=FAST_RETRY.attempts + 1)
    with pytest.raises(errors.CleverUnavailable) as caught:
        await clever.user_sections(district_token, teacher)
    assert caught.value.status == 500
    assert caught.value.attempts == FAST_RETRY.attempts
    assert await remaining(sandbox.url, SECTIONS) == 1


async def test_a_5xx_until_cleared_is_unavailable(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str
) -> None:
    await add_fault(sandbox.url, SECTIONS, method="GET", status=503, count=None)
    with pytest.raises(errors.CleverUnavailable) as caught:
        await clever.user_sections(district_token, teacher)
    assert caught.value.attempts == FAST_RETRY.attempts
    assert district_token not in str(caught.value)
    assert teacher not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, errors.CleverRejected), (401, errors.CleverUnauthorized), (403, errors.CleverRejected),
     (404, errors.CleverNotFound), (413, errors.CleverRejected), (501, errors.CleverRejected)],
)  # fmt: skip
async def test_client_errors_and_501_are_not_retried(
    sandbox: RunningSandbox,
    clever: CleverClient,
    district_token: str,
    teacher: str,
    status: int,
    error: type[Exception],
) -> None:
    await add_fault(sandbox.url, SECTIONS, method="GET", status=status, count=2)
    with pytest.raises(error) as caught:
        await clever.user_sections(district_token, teacher)
    assert isinstance(caught.value, errors.CleverRejected)
    assert caught.value.status == status
    assert caught.value.clever_message  # Clever's `{"message"}` was read
    assert await remaining(sandbox.url, SECTIONS) == 1


async def test_a_429_waits_for_the_reset_then_succeeds(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str
) -> None:
    await add_fault(sandbox.url, SECTIONS, method="GET", status=429, count=1)
    started = time.time()
    await clever.user_sections(district_token, teacher)
    waited = time.time() - started
    # The fault's X-RateLimit-Reset is the whole second after next, as seen when it answered.
    reset = math.ceil(started) + 1
    assert waited >= reset - started - 0.05
    assert waited < reset - started + 1.5  # a second boundary crossed before the answer
    assert await remaining(sandbox.url, SECTIONS) == 0


async def rate_limited(
    sandbox: RunningSandbox, clever: CleverClient, token: str, user_id: str, faults: int
) -> tuple[errors.CleverRateLimited, float]:
    """`faults` 429s armed on the user's sections: the error the call gives up with, and the time
    the call began."""
    await add_fault(sandbox.url, SECTIONS, method="GET", status=429, count=faults)
    started = time.time()
    with pytest.raises(errors.CleverRateLimited) as caught:
        await clever.user_sections(token, user_id)
    return caught.value, started


async def test_a_429_with_a_reset_too_far_away_fails_at_once(
    sandbox: RunningSandbox, make_client: MakeClient, district_token: str, teacher: str
) -> None:
    clever = make_client(retry=RetryPolicy(attempts=3, max_rate_limit_wait=0.5))
    error, started = await rate_limited(sandbox, clever, district_token, teacher, faults=2)
    assert time.time() - started < 0.5
    assert error.reset_at is not None
    assert error.reset_at > started
    assert error.attempts == 1
    assert await remaining(sandbox.url, SECTIONS) == 1


async def test_a_lasting_429_is_rate_limited_after_bounded_attempts(
    sandbox: RunningSandbox, make_client: MakeClient, district_token: str, teacher: str
) -> None:
    clever = make_client(retry=RetryPolicy(attempts=2, max_rate_limit_wait=3.0))
    error, _ = await rate_limited(sandbox, clever, district_token, teacher, faults=3)
    assert error.attempts == 2
    assert await remaining(sandbox.url, SECTIONS) == 1


async def test_the_sandbox_s_own_rate_limit_is_honoured(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str
) -> None:
    # Spend the district token's budget, then one more call must wait for the window (too far).
    limiter = sandbox.sandbox.limiter
    for _ in range(limiter.limit):
        limiter.hit(district_token)
    with pytest.raises(errors.CleverRateLimited) as caught:
        await clever.user_sections(district_token, teacher)
    assert caught.value.reset_at is not None


async def test_a_slow_answer_times_out_and_is_retried(
    sandbox: RunningSandbox, make_client: MakeClient, district_token: str, teacher: str
) -> None:
    clever = make_client(timeouts=Timeouts(connect=1.0, pool=1.0, read=0.2))
    await add_fault(sandbox.url, SECTIONS, method="GET", latency_ms=1000, count=1)
    sections = await clever.user_sections(district_token, teacher)
    assert sections
    assert await remaining(sandbox.url, SECTIONS) == 0


async def test_a_lasting_slow_answer_is_unavailable(
    sandbox: RunningSandbox, make_client: MakeClient, district_token: str, teacher: str
) -> None:
    clever = make_client(timeouts=Timeouts(connect=1.0, pool=1.0, read=0.2))
    await add_fault(sandbox.url, SECTIONS, method="GET", latency_ms=1000, count=FAST_RETRY.attempts + 1)
    started = time.monotonic()
    with pytest.raises(errors.CleverUnavailable) as caught:
        await clever.user_sections(district_token, teacher)
    assert "timed out" in str(caught.value)
    assert caught.value.attempts == FAST_RETRY.attempts
    assert time.monotonic() - started < 2.0
    assert await remaining(sandbox.url, SECTIONS) == 1


async def test_an_attempt_deadline_bounds_a_slow_answer(
    sandbox: RunningSandbox, make_client: MakeClient, district_token: str, teacher: str
) -> None:
    clever = make_client(attempt_timeout=0.2, retry=RetryPolicy(attempts=1))
    await add_fault(sandbox.url, SECTIONS, method="GET", latency_ms=1000, count=1)
    with pytest.raises(errors.CleverUnavailable, match="timed out"):
        await clever.user_sections(district_token, teacher)


async def test_connection_refused_is_unavailable_after_retries() -> None:
    from app.clever import CleverCredentials, CleverHTTP

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = CleverHTTP(f"http://127.0.0.1:{port}")
    try:
        clever = CleverClient(
            oauth=http, api=http, credentials=CleverCredentials("id", "secret"), retry=FAST_RETRY
        )
        with pytest.raises(errors.CleverUnavailable) as caught:
            await clever.user("token", "user")
        assert caught.value.attempts == FAST_RETRY.attempts
        assert "connection failed" in str(caught.value)
    finally:
        await http.aclose()


@pytest.mark.parametrize("body", ["html", "malformed", "huge"])
async def test_a_bad_body_is_malformed_and_not_retried(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str, body: str
) -> None:
    await add_fault(sandbox.url, SECTIONS, method="GET", status=200, body=body, count=2)
    started = time.monotonic()
    with pytest.raises(errors.CleverMalformed) as caught:
        await clever.user_sections(district_token, teacher)
    assert caught.value.attempts == 1
    assert await remaining(sandbox.url, SECTIONS) == 1
    if body == "huge":
        assert "bytes" in str(caught.value)
        assert time.monotonic() - started < 2.0  # stopped at the cap, not after 20 MiB


async def test_a_body_over_a_small_cap_is_refused(
    sandbox: RunningSandbox, make_client: MakeClient, district_token: str, teacher: str
) -> None:
    clever = make_client(body_limit=200)
    with pytest.raises(errors.CleverMalformed, match="over 200 bytes"):
        await clever.user(district_token, teacher)


async def test_an_html_error_page_is_still_classified_by_status(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, teacher: str
) -> None:
    await add_fault(sandbox.url, SECTIONS, method="GET", status=502, body="html", count=1)
    assert await clever.user_sections(district_token, teacher)
    await add_fault(sandbox.url, SECTIONS, method="GET", status=404, body="html", count=1)
    with pytest.raises(errors.CleverNotFound) as caught:
        await clever.user_sections(district_token, teacher)
    assert caught.value.clever_message is None


async def test_an_unknown_token_is_unauthorized(
    sandbox: RunningSandbox, clever: CleverClient, teacher: str
) -> None:
    with pytest.raises(errors.CleverUnauthorized) as caught:
        await clever.user("not-a-token", teacher)
    assert caught.value.status == 401
    assert "not-a-token" not in str(caught.value)


async def test_an_unknown_user_is_not_found(clever: CleverClient, district_token: str) -> None:
    with pytest.raises(errors.CleverNotFound) as caught:
        await clever.user(district_token, "000000000000000000000000")
    assert caught.value.status == 404


async def test_a_user_token_cannot_read_events(sandbox: RunningSandbox, clever: CleverClient) -> None:
    from tests.support.oauth import user_token

    student = next(
        login.user_id for login in sandbox.sandbox.store.demo_logins() if login.user_type == "student"
    )
    with pytest.raises(errors.CleverNotFound):
        await clever.events(await user_token(sandbox.url, sandbox.config, student))


async def test_a_limit_over_clever_s_maximum_is_rejected(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str
) -> None:
    with pytest.raises(errors.CleverRejected) as caught:
        await clever.users(district_token, limit=10_001)
    assert caught.value.status == 413
