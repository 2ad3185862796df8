"""Clever's rate limit as a budget (the README's "Clever's rate limit"): the budget's rules, and a
login wave larger than a district's budget, which must end in clear "try again" answers, not in
429s at Clever."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from app.clever.budget import BudgetExhausted, BudgetPolicy, RateBudget
from app.clever.priority import Priority, current_priority, in_background
from app.clever.ratelimit import RateLimit, rate_limit
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox
from tests.reliability.clever_faults import DATA_API, MANY, arm, log_in, seen, session_keys
from tests.support.backend import backend_on
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.servers import serve_in_thread

TOKEN = "district-token"  # a label for the budget's key; never sent anywhere


def rate_headers(limit: int, remaining: int, reset: float) -> RateLimit:
    """What an answer with Clever's numbers says, as the client hands it to the budget."""
    return rate_limit(
        {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }
    )


NOTHING_SAID = RateLimit(None, None, None)


# -- the budget's rules ----------------------------------------------------------------------


async def test_an_untracked_token_is_not_held_back() -> None:
    budget = RateBudget()
    assert await budget.acquire("a user token") is None
    assert await budget.acquire(None) is None


async def test_until_clever_has_answered_only_a_few_calls_go_out() -> None:
    budget = RateBudget(BudgetPolicy(first_calls=2))
    budget.track(TOKEN, "district-1")
    first = await budget.acquire(TOKEN)
    assert await budget.acquire(TOKEN) is not None
    second = asyncio.create_task(budget.acquire(TOKEN))
    await asyncio.sleep(0.02)
    assert not second.done()
    headroom = budget.release(first, rate_headers(1200, 1199, time.time() + 60))
    assert headroom is not None
    # Clever's 1199, less the call still in flight.
    assert (headroom.label, headroom.limit, headroom.remaining) == ("district-1", 1200, 1198)
    assert await asyncio.wait_for(second, 1) is not None


async def test_a_spent_budget_with_a_distant_reset_fails_at_once_without_calling() -> None:
    budget = RateBudget()
    budget.track(TOKEN, "district-1")
    reset = time.time() + 40
    budget.release(await budget.acquire(TOKEN), rate_headers(1200, 0, reset))
    began = time.monotonic()
    with pytest.raises(BudgetExhausted) as spent:
        await budget.acquire(TOKEN)
    assert spent.value.reset_at == reset
    assert time.monotonic() - began < 0.5


async def test_a_spent_budget_with_a_near_reset_queues_until_the_window_reopens() -> None:
    budget = RateBudget(BudgetPolicy(max_wait=2.0))
    budget.track(TOKEN, "district-1")
    budget.release(await budget.acquire(TOKEN), rate_headers(1200, 0, time.time() + 0.3))
    window = await asyncio.wait_for(budget.acquire(TOKEN), 2.0)
    assert window is not None
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert headroom.remaining == 1199  # the refilled window, less this call in flight


async def test_the_reserve_is_kept_for_other_replicas() -> None:
    budget = RateBudget(BudgetPolicy(reserve=0.02))
    budget.track(TOKEN, "district-1")
    budget.release(await budget.acquire(TOKEN), rate_headers(100, 4, time.time() + 50))
    await budget.acquire(TOKEN)  # 4 left, 2 of them the reserve: two may go
    await budget.acquire(TOKEN)
    with pytest.raises(BudgetExhausted):
        await budget.acquire(TOKEN)


async def test_answers_out_of_order_only_lower_the_count_within_a_window() -> None:
    budget = RateBudget()
    budget.track(TOKEN, "district-1")
    reset = time.time() + 50
    budget.release(await budget.acquire(TOKEN), rate_headers(1200, 900, reset))
    budget.release(await budget.acquire(TOKEN), rate_headers(1200, 950, reset))  # an older answer
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert headroom.remaining == 899  # Clever's 900, less the call started after it
    budget.release(await budget.acquire(TOKEN), rate_headers(1200, 1190, reset + 60))  # next window
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert headroom.remaining == 1190


async def test_without_rate_headers_our_own_calls_are_counted_against_the_documented_limit() -> None:
    budget = RateBudget(BudgetPolicy(limit=5, reserve=0.0))
    budget.track(TOKEN, "district-1")
    budget.release(await budget.acquire(TOKEN), NOTHING_SAID)
    windows = [await asyncio.wait_for(budget.acquire(TOKEN), 0.5) for _ in range(4)]
    assert all(window is not None for window in windows)
    with pytest.raises(BudgetExhausted) as spent:
        await budget.acquire(TOKEN)
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert headroom.remaining == 0
    assert spent.value.reset_at == headroom.reset_at  # the window our first call opened


async def test_background_calls_stop_at_their_reserve_and_interactive_ones_use_the_rest() -> None:
    budget = RateBudget(BudgetPolicy(limit=100, reserve=0.0, background_reserve=0.25))
    budget.track(TOKEN, "district-1")
    budget.release(await budget.acquire(TOKEN), NOTHING_SAID)  # 99 left
    for _ in range(74):
        await budget.acquire(TOKEN, priority=Priority.BACKGROUND)
    with pytest.raises(BudgetExhausted):  # 25 left: background waits for the window to reopen
        await budget.acquire(TOKEN, max_wait=0.05, priority=Priority.BACKGROUND)
    for _ in range(25):
        await budget.acquire(TOKEN, priority=Priority.INTERACTIVE)
    with pytest.raises(BudgetExhausted):
        await budget.acquire(TOKEN)


async def test_a_waiting_background_call_does_not_hold_up_an_interactive_one() -> None:
    budget = RateBudget(BudgetPolicy(limit=8, reserve=0.0, background_reserve=0.5))
    budget.track(TOKEN, "district-1")
    budget.release(await budget.acquire(TOKEN), NOTHING_SAID)
    for _ in range(3):
        await budget.acquire(TOKEN, priority=Priority.BACKGROUND)
    waiting = asyncio.create_task(budget.acquire(TOKEN, priority=Priority.BACKGROUND))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(budget.acquire(TOKEN), 1) is not None
    assert not waiting.done()
    waiting.cancel()


async def test_a_429_empties_the_window_until_its_reset_and_teaches_the_limit() -> None:
    budget = RateBudget(BudgetPolicy(background_max_wait=5.0))
    budget.track(TOKEN, "district-1")
    reset = time.time() + 0.5
    budget.release(await budget.acquire(TOKEN), rate_headers(30, 0, reset), status=429)
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert (headroom.limit, headroom.remaining, headroom.reset_at) == (30, 0, reset)
    with pytest.raises(BudgetExhausted):
        await budget.acquire(TOKEN, max_wait=0.05)
    # A background call waits for the reset, then the window is refilled to Clever's limit.
    window = await asyncio.wait_for(budget.acquire(TOKEN, priority=Priority.BACKGROUND), 5)
    assert window is not None
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert headroom.remaining == 29


async def test_a_429_without_a_reset_keeps_the_window_we_counted() -> None:
    budget = RateBudget()
    budget.track(TOKEN, "district-1")
    first = await budget.acquire(TOKEN)
    opened = budget.headroom(TOKEN)
    assert opened is not None
    budget.release(first, NOTHING_SAID, status=429)
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert (headroom.remaining, headroom.reset_at) == (0, opened.reset_at)


async def test_a_call_that_never_left_gives_its_unit_back() -> None:
    budget = RateBudget()
    budget.track(TOKEN, "district-1")
    budget.release(await budget.acquire(TOKEN), NOTHING_SAID)
    budget.release(await budget.acquire(TOKEN), None, sent=False)
    headroom = budget.headroom(TOKEN)
    assert headroom is not None
    assert headroom.remaining == 1199


async def test_in_background_marks_the_calls_of_a_function_and_the_tasks_it_starts() -> None:
    @in_background
    async def sync() -> list[Priority]:
        inner = asyncio.create_task(asyncio.sleep(0, current_priority()))
        return [current_priority(), await inner]

    assert await sync() == [Priority.BACKGROUND, Priority.BACKGROUND]
    assert current_priority() is Priority.INTERACTIVE


def test_tracked_tokens_are_bounded() -> None:
    budget = RateBudget(BudgetPolicy(max_tokens=3))
    for number in range(5):
        budget.track(f"token-{number}", f"district-{number}")
    assert len(budget._windows) == 3


# -- a login wave larger than the district's budget ------------------------------------------

BUDGET = 30  # Clever's 1200 a minute, scaled down so that a small wave outgrows it
WAVE = 24  # each teacher login spends three Data API calls on the district token


@pytest.fixture(params=["every", "on_429"])
def small_budget_sandbox(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    config = SandboxConfig(
        redirect_uris=(TEST_REDIRECT_URI,), rate_limit_per_minute=BUDGET, rate_headers=request.param
    )
    app = create_sandbox_app(config)
    with serve_in_thread(app) as url:
        yield RunningSandbox(url=url, sandbox=app.state.sandbox)


def _clever_calls(metrics: str) -> dict[tuple[str, str], float]:
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "clever_calls_total":
                key = (sample.labels["outcome"], sample.labels["status"])
                found[key] = found.get(key, 0) + sample.value
    return found


async def test_a_wave_over_the_budget_gets_try_again_answers_and_few_429s_at_clever(
    small_budget_sandbox: RunningSandbox, redis_url: str, redis: Redis, key_prefix: str
) -> None:
    sandbox = small_budget_sandbox
    teacher = str(demo_user(sandbox.sandbox.store, "teacher")["id"])
    await arm(sandbox, DATA_API, method="GET", status=None, count=MANY)  # counts what reaches Clever
    with backend_on(sandbox, redis_url=redis_url, key_prefix=key_prefix) as backend:
        whole: list[bool] = []

        async def one() -> tuple[int, str | None, float]:
            async with Browser(backend) as browser:
                answer = await log_in(browser, teacher)
                if answer.status == 302:
                    session = await browser.session()
                    assert session.status_code == 200  # a real, working session
                    # Sections and resources refused by the budget leave a partial roster
                    # (README, "Partial rosters"); the user record cannot be missing.
                    whole.append("unavailable" not in session.json()["roster"])
                return answer.status, answer.response.headers.get("retry-after"), answer.seconds

        answers = await asyncio.gather(*(one() for _ in range(WAVE)))
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{backend}/metrics")).text

    statuses = [status for status, _, _ in answers]
    succeeded = statuses.count(302)
    refused = [(status, retry_after) for status, retry_after, _ in answers if status != 302]
    # Some got in, the rest were told to try again when the window reopens: nothing else.
    assert 1 <= succeeded <= BUDGET
    assert whole.count(True) <= BUDGET // 3  # a whole roster costs three calls
    assert refused
    assert all(status == 503 and retry_after is not None for status, retry_after in refused)
    assert all(1 <= int(str(retry_after)) <= 60 for _, retry_after in refused)
    assert all(seconds < 10 for _, _, seconds in answers)
    calls = _clever_calls(metrics)
    if sandbox.config.rate_headers == "every":
        # Clever never saw more calls than the budget, so it never had to answer 429.
        assert await seen(sandbox, DATA_API) <= BUDGET
        assert not any(status == "429" for _, status in calls)
    else:
        # Our count assumes Clever's 1200 until the first 429 teaches the limit and the reset:
        # only the calls already under way then reach Clever past the budget.
        assert await seen(sandbox, DATA_API) <= BUDGET + 2 * WAVE
    if sandbox.config.rate_headers == "every":
        # Refused by our budget, not by Clever. With headers on 429s only, a wave that is all
        # under way before the first 429 comes back may leave the budget nothing to refuse.
        assert calls.get(("budget_spent", "none"), 0) >= 1
    assert 'clever_rate_limit_limit{district="' in metrics
    # Nothing half-written: one session per successful login, none for the others.
    assert len(await session_keys(redis, key_prefix)) == succeeded
