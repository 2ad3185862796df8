"""The rate budget's count shared in Redis: the backend's replicas and the events worker spend one
budget per district token between them, as Clever counts it (app/redis_budget.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from app.clever.budget import BudgetExhausted, BudgetPolicy, RateBudget
from app.clever.priority import Priority
from app.clever.ratelimit import RateLimit
from app.redis_budget import RedisRateCount
from app.redis_client import close_redis, create_redis
from tests.support.redis import RecordingRedis

TOKEN = "district-token"  # a label for the budget's key; never sent anywhere
ANSWERED = RateLimit(None, None, None)  # Clever answered, and said nothing of its window


def replica(redis: Redis, key_prefix: str, *, limit: int = 20, max_wait: float = 0.0) -> RateBudget:
    """The budget one process keeps, over the shared count, a call at a time (no leases, so the
    counts below are exact)."""
    policy = BudgetPolicy(limit=limit, max_wait=max_wait, background_max_wait=max_wait, shared_lease=1)
    budget = RateBudget(policy, shared=RedisRateCount(redis, prefix=key_prefix))
    budget.track(TOKEN, "district-1")
    return budget


async def spend(budget: RateBudget, calls: int, priority: Priority = Priority.INTERACTIVE) -> int:
    """Up to `calls` calls, each answered at once; how many the budget let start."""
    started = 0
    for _ in range(calls):
        try:
            window = await budget.acquire(TOKEN, priority=priority)
        except BudgetExhausted:
            break
        budget.release(window, ANSWERED, status=200)
        started += 1
    return started


async def test_background_calls_stop_at_their_reserve_of_what_every_process_spent(
    redis: Redis, key_prefix: str
) -> None:
    backend, worker = replica(redis, key_prefix), replica(redis, key_prefix)
    assert await spend(backend, 10) == 10  # logins on one replica
    # The worker's own count is zero, but 10 of 20 are gone: of the 15 background calls may
    # take (a quarter is kept for logins), 5 are left.
    assert await spend(worker, 20, Priority.BACKGROUND) == 5
    # Logins on either replica still have the rest of the window.
    assert await spend(backend, 20) == 5
    assert await spend(worker, 1) == 0


async def test_a_429_one_process_meets_holds_the_others_back_until_the_reset(
    redis: Redis, key_prefix: str
) -> None:
    first, second = replica(redis, key_prefix), replica(redis, key_prefix)
    window = await first.acquire(TOKEN)
    reset = time.time() + 30
    first.release(window, RateLimit(20, 0, reset), status=429)
    await first.share_spent(TOKEN)
    with pytest.raises(BudgetExhausted) as caught:
        await second.acquire(TOKEN)
    assert caught.value.reset_at is not None
    assert abs(caught.value.reset_at - reset) < 1.5
    [key] = [key async for key in redis.scan_iter(match=f"{key_prefix}rb:*")]
    assert 28_000 < await redis.pttl(key) <= 30_000


async def test_the_shared_window_reopens_and_the_key_holds_no_token(redis: Redis, key_prefix: str) -> None:
    policy = BudgetPolicy(limit=3, window=0.3, max_wait=1.0, shared_lease=1)
    budget = RateBudget(policy, shared=RedisRateCount(redis, prefix=key_prefix))
    budget.track(TOKEN, "district-1")
    started = time.monotonic()
    assert await spend(budget, 5) == 5  # 3, then a wait for the window to reopen, then 2 more
    assert time.monotonic() - started >= 0.25
    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}rb:*")]
    assert len(keys) == 1
    assert TOKEN.encode() not in keys[0]
    assert 0 < await redis.pttl(keys[0]) <= 300


async def test_without_redis_each_process_counts_its_own(key_prefix: str) -> None:
    gone = create_redis("redis://127.0.0.1:1/0?socket_connect_timeout=0.2&socket_timeout=0.2")
    budget = RateBudget(BudgetPolicy(limit=5, max_wait=0.0), shared=RedisRateCount(gone, prefix=key_prefix))
    budget.track(TOKEN, "district-1")
    assert await spend(budget, 10) == 5  # the local count still holds: never more than Clever allows
    await close_redis(gone)


async def test_interactive_calls_lease_their_count_a_few_at_a_time(redis_url: str, key_prefix: str) -> None:
    recording = RecordingRedis.from_url(redis_url)
    assert isinstance(recording, RecordingRedis)
    budget = RateBudget(
        BudgetPolicy(limit=100, shared_lease=8), shared=RedisRateCount(recording, prefix=key_prefix)
    )
    budget.track(TOKEN, "district-1")
    assert await spend(budget, 16) == 16
    assert recording.commands.count("EVALSHA") + recording.commands.count("EVAL") == 2
    [key] = [key async for key in recording.scan_iter(match=f"{key_prefix}rb:*")]
    assert await recording.get(key) == b"16"
    # A background call counts itself alone, whatever the leases.
    assert await spend(budget, 1, Priority.BACKGROUND) == 1
    assert await recording.get(key) == b"17"
    await recording.aclose()


async def test_leases_taken_at_once_are_all_spent_before_another_is_taken(
    redis_url: str, key_prefix: str
) -> None:
    # A login asks for a person's sections and resources at once: both calls find no lease and
    # each takes one. Every unit the shared count counted must start a call of this process.
    recording = RecordingRedis.from_url(redis_url)
    assert isinstance(recording, RecordingRedis)
    budget = RateBudget(
        BudgetPolicy(limit=100, shared_lease=8), shared=RedisRateCount(recording, prefix=key_prefix)
    )
    budget.track(TOKEN, "district-1")
    windows = await asyncio.gather(*(budget.acquire(TOKEN) for _ in range(4)))
    for window in windows:
        budget.release(window, ANSWERED, status=200)
    assert recording.commands.count("EVALSHA") + recording.commands.count("EVAL") == 4
    assert await spend(budget, 28) == 28  # the 4 leases' other 28 units, without asking again
    assert recording.commands.count("EVALSHA") + recording.commands.count("EVAL") == 4
    [key] = [key async for key in recording.scan_iter(match=f"{key_prefix}rb:*")]
    assert await recording.get(key) == b"32"  # the shared count holds exactly the calls made
    assert await spend(budget, 1) == 1
    assert recording.commands.count("EVALSHA") + recording.commands.count("EVAL") == 5
    await recording.aclose()


async def test_calls_asking_the_shared_count_at_once_start_no_more_than_the_window_has_left(
    redis: Redis, key_prefix: str
) -> None:
    budget = replica(redis, key_prefix)
    window = await budget.acquire(TOKEN)
    budget.release(window, RateLimit(20, 5, time.time() + 30), status=200)  # Clever: 5 left

    async def one() -> bool:
        try:
            await budget.acquire(TOKEN)
        except BudgetExhausted:
            return False
        return True

    started = await asyncio.gather(*(one() for _ in range(20)))
    assert started.count(True) == 5
