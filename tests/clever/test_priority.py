"""Logins first on a district token: background calls (`in_background`) stop while a reserve of
the window is left, at Clever's real limit (1200 a minute), with rate-limit headers only on 429
answers (as Clever documents them) and on every answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from app.clever import CleverClient, CleverCredentials, CleverHTTP, CleverRateLimited
from app.clever.budget import BudgetPolicy, Headroom, RateBudget
from app.clever.priority import in_background
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.clever.conftest import FAST_RETRY
from tests.clever.sandbox_control import add_fault
from tests.conftest import RunningSandbox
from tests.support.demo import demo_user
from tests.support.servers import serve_in_thread

DISTRICT_PATH = "/v3.1/districts/*"
INTERACTIVE_TASKS, INTERACTIVE_CALLS = 8, 30  # 240 calls: within the 300 kept from background
BACKGROUND_TASKS = 32


@dataclass
class Recorder:
    """The client's observer: every attempt's operation, status and start (Unix time)."""

    attempts: list[tuple[str, str, int | None, float]] = field(default_factory=list)

    def attempt(self, operation: str, outcome: str, status: int | None, seconds: float) -> None:
        self.attempts.append((operation, outcome, status, time.time() - seconds))

    def headroom(self, headroom: Headroom) -> None:
        pass

    def statuses(self) -> list[int | None]:
        return [status for _, _, status, _ in self.attempts]


@dataclass
class Setup:
    sandbox: RunningSandbox
    clever: CleverClient
    recorder: Recorder
    token: str
    district_id: str
    teacher: str


def _sandbox(rate_headers: str) -> Iterator[RunningSandbox]:
    app = create_sandbox_app(SandboxConfig(rate_headers=rate_headers))  # type: ignore[arg-type]
    with serve_in_thread(app) as url:
        yield RunningSandbox(url=url, sandbox=app.state.sandbox)


@pytest.fixture(params=["on_429", "every"])
def own_sandbox(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    """A sandbox of its own (a fresh rate window), at Clever's limit, in each headers mode."""
    yield from _sandbox(request.param)


@pytest.fixture
def strict_sandbox() -> Iterator[RunningSandbox]:
    yield from _sandbox("on_429")


@contextlib.asynccontextmanager
async def _setup(sandbox: RunningSandbox, policy: BudgetPolicy) -> AsyncIterator[Setup]:
    oauth, api = CleverHTTP(sandbox.url), CleverHTTP(sandbox.url)
    recorder = Recorder()
    config = sandbox.config
    clever = CleverClient(
        oauth=oauth,
        api=api,
        credentials=CleverCredentials(config.client_id, config.client_secret),
        retry=FAST_RETRY,
        budget=RateBudget(policy),
        observer=recorder,
    )
    district_id = sandbox.sandbox.store.district_ids()[0]
    token = sandbox.sandbox.tokens.district_token(district_id, config.client_id)
    clever.budget.track(token, district_id)
    teacher = str(demo_user(sandbox.sandbox.store, "teacher")["id"])
    try:
        yield Setup(sandbox, clever, recorder, token, district_id, teacher)
    finally:
        await oauth.aclose()
        await api.aclose()


@pytest.fixture
async def flood(own_sandbox: RunningSandbox) -> AsyncIterator[Setup]:
    # Background gives up soon instead of waiting for the next window, so that the flood ends.
    async with _setup(own_sandbox, BudgetPolicy(background_max_wait=0.2)) as setup:
        yield setup


async def _background_until_refused(setup: Setup) -> int:
    """Background calls until the budget holds them back; how many were answered."""

    @in_background
    async def run() -> int:
        done = 0
        while True:
            try:
                await setup.clever.district(setup.token, setup.district_id)
            except CleverRateLimited:
                return done
            done += 1

    return await run()


async def _interactive(setup: Setup) -> int:
    for _ in range(INTERACTIVE_CALLS):
        await setup.clever.user(setup.token, setup.teacher)
    return INTERACTIVE_CALLS


async def test_a_background_flood_never_gets_an_interactive_call_refused(flood: Setup) -> None:
    background = [asyncio.create_task(_background_until_refused(flood)) for _ in range(BACKGROUND_TASKS)]
    interactive = await asyncio.gather(*(_interactive(flood) for _ in range(INTERACTIVE_TASKS)))
    answered = await asyncio.gather(*background)

    assert sum(interactive) == INTERACTIVE_TASKS * INTERACTIVE_CALLS  # none raised
    # Background took what the reserve (a quarter of 1200) left, and stopped there.
    assert 0 < sum(answered) <= 1200 - 300
    assert 429 not in flood.recorder.statuses()
    refused = [outcome for operation, outcome, _, _ in flood.recorder.attempts if outcome == "budget_spent"]
    assert refused
    assert all(
        operation == "district" for operation, outcome, _, _ in flood.recorder.attempts if outcome != "ok"
    )
    # Logins still have the rest of the window.
    headroom = flood.clever.budget.headroom(flood.token)
    assert headroom is not None
    assert headroom.remaining > 24  # more than the 2 % every call leaves
    await flood.clever.user(flood.token, flood.teacher)


async def test_interactive_calls_do_not_wait_behind_background_ones(own_sandbox: RunningSandbox) -> None:
    async with _setup(own_sandbox, BudgetPolicy(background_max_wait=120.0)) as setup:
        background = [asyncio.create_task(_background_until_refused(setup)) for _ in range(BACKGROUND_TASKS)]
        # Background reaches its reserve, then waits for the window to reopen (up to a minute).
        while True:
            headroom = setup.clever.budget.headroom(setup.token)
            assert headroom is not None
            if headroom.remaining <= 300 and len(setup.recorder.attempts) >= 1200 - 300:
                break
            assert not any(task.done() for task in background)
            await asyncio.sleep(0.05)
        interactive = await asyncio.gather(*(_interactive(setup) for _ in range(INTERACTIVE_TASKS)))
        assert sum(interactive) == INTERACTIVE_TASKS * INTERACTIVE_CALLS
        assert not any(task.done() for task in background), "background still waits for the window"
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        assert 429 not in setup.recorder.statuses()


async def test_background_backs_off_on_a_429_and_resumes_after_its_reset(
    strict_sandbox: RunningSandbox,
) -> None:
    async with _setup(strict_sandbox, BudgetPolicy()) as setup:
        # Clever's 429 (its reset a second or two away) on the first background call.
        await add_fault(setup.sandbox.url, DISTRICT_PATH, method="GET", status=429, count=1)

        @in_background
        async def sync_like(clever: CleverClient, token: str, district_id: str) -> None:
            for _ in range(5):
                await clever.district(token, district_id)

        await sync_like(setup.clever, setup.token, setup.district_id)

        statuses = setup.recorder.statuses()
        assert statuses == [429, 200, 200, 200, 200, 200]
        throttled_at = setup.recorder.attempts[0][3]
        resumed_at = setup.recorder.attempts[1][3]
        # The fault's X-RateLimit-Reset is the whole second after next, as seen when it answered.
        assert resumed_at >= int(throttled_at) + 1


async def test_a_window_spent_elsewhere_is_learned_from_the_429(strict_sandbox: RunningSandbox) -> None:
    async with _setup(strict_sandbox, BudgetPolicy()) as setup:
        await setup.clever.user(setup.token, setup.teacher)  # a 200: nothing to learn from it
        limiter = setup.sandbox.sandbox.limiter
        while limiter.hit(setup.token).allowed:  # another replica spends the rest of the window
            pass
        with pytest.raises(CleverRateLimited) as first:
            await setup.clever.user(setup.token, setup.teacher)
        assert first.value.reset_at is not None
        assert first.value.reset_at > time.time() + 3  # too far to wait: refused
        with pytest.raises(CleverRateLimited) as second:
            await setup.clever.user(setup.token, setup.teacher)
        assert second.value.reset_at == first.value.reset_at
        outcomes = [(outcome, status) for _, outcome, status, _ in setup.recorder.attempts]
        assert outcomes == [("ok", 200), ("rate_limited", 429), ("budget_spent", None)]
