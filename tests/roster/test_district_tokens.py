from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from app.clever import CleverClient, CleverUnauthorized
from app.crypto.keyring import Keyring
from app.crypto.sealing import seal
from app.roster.district_tokens import DistrictNotConnected, DistrictTokens
from clever_sandbox.config import SandboxConfig
from tests.conftest import RunningSandbox
from tests.support.clever import count_requests, requests_seen, sandbox_clever
from tests.support.clock import Clock
from tests.support.redis import RecordingRedis

SEALING_KEY = Keyring.from_secret("a district token test secret of enough length").district_token_sealing
TOKENS_PATH = "/oauth/tokens"


@pytest.fixture
async def clever(sandbox: RunningSandbox) -> AsyncIterator[CleverClient]:
    async with sandbox_clever(sandbox.url, sandbox.config) as client:
        yield client


@pytest.fixture
def district_id(sandbox: RunningSandbox) -> str:
    return sandbox.sandbox.store.district_ids()[0]


def expected_token(sandbox: RunningSandbox, district_id: str) -> str:
    return sandbox.sandbox.tokens.district_token(district_id, sandbox.config.client_id)


def make_tokens(
    redis: Redis,
    clever: CleverClient,
    prefix: str,
    *,
    ttl_seconds: int = 3600,
    lock_timeout: float = 10.0,
    memory_seconds: float = 0.0,
    clock: Callable[[], float] | None = None,
) -> DistrictTokens:
    """Without the in-process memory unless asked: most tests here are about the Redis cache."""
    return DistrictTokens(
        redis,
        clever,
        sealing_key=SEALING_KEY,
        prefix=prefix,
        ttl_seconds=ttl_seconds,
        lock_timeout=lock_timeout,
        memory_seconds=memory_seconds,
        **({"clock": clock} if clock is not None else {}),
    )


async def test_a_cold_cache_is_filled_by_one_fetch_for_twenty_concurrent_logins(
    sandbox: RunningSandbox,
    redis: Redis,
    redis_url: str,
    key_prefix: str,
    clever: CleverClient,
    district_id: str,
) -> None:
    await count_requests(sandbox.url, TOKENS_PATH, latency_ms=50)
    recording = RecordingRedis.from_url(redis_url)
    assert isinstance(recording, RecordingRedis)
    try:
        tokens = make_tokens(recording, clever, key_prefix)
        got = await asyncio.gather(*(tokens.get(district_id) for _ in range(20)))
        assert got == [expected_token(sandbox, district_id)] * 20
        assert await requests_seen(sandbox.url, TOKENS_PATH) == 1
        # Within the process they shared one fill: one lock taken, one value stored.
        assert recording.commands.count("SET") == 2, recording.commands
        # Warm: one GET, no more fetches.
        recording.commands.clear()
        assert await tokens.get(district_id) == got[0]
        assert recording.commands == ["GET"]
        assert await requests_seen(sandbox.url, TOKENS_PATH) == 1
    finally:
        await recording.aclose()


async def test_two_replicas_sharing_redis_fetch_once(
    sandbox: RunningSandbox, redis_url: str, key_prefix: str, district_id: str
) -> None:
    await count_requests(sandbox.url, TOKENS_PATH, latency_ms=50)
    async with (
        sandbox_clever(sandbox.url, sandbox.config) as clever_a,
        sandbox_clever(sandbox.url, sandbox.config) as clever_b,
    ):
        redis_a, redis_b = Redis.from_url(redis_url), Redis.from_url(redis_url)
        try:
            replica_a = make_tokens(redis_a, clever_a, key_prefix)
            replica_b = make_tokens(redis_b, clever_b, key_prefix)
            got = await asyncio.gather(
                *(replica.get(district_id) for _ in range(10) for replica in (replica_a, replica_b))
            )
        finally:
            await redis_a.aclose()
            await redis_b.aclose()

    assert set(got) == {expected_token(sandbox, district_id)}
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1


async def test_the_cached_value_is_sealed_and_expires(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    tokens = make_tokens(redis, clever, key_prefix, ttl_seconds=3600)
    token = await tokens.get(district_id)

    key = tokens.key(district_id)
    # A keyed hash in a Cluster hash tag, not the district id.
    assert re.fullmatch(re.escape(key_prefix) + r"dt:\{[0-9a-f]{64}\}", key)
    raw = await redis.get(key)
    assert isinstance(raw, bytes)
    assert token.encode() not in raw
    assert 3590_000 < await redis.pttl(key) <= 3600_000
    # Nothing else is left behind (the lock is released), and nothing without a TTL.
    keys = [k async for k in redis.scan_iter(match=f"{key_prefix}*")]
    assert keys == [key.encode()]


async def test_the_lock_has_a_ttl_while_a_fetch_is_under_way(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    await count_requests(sandbox.url, TOKENS_PATH, latency_ms=300)
    tokens = make_tokens(redis, clever, key_prefix, lock_timeout=5.0)
    fetch = asyncio.create_task(tokens.get(district_id))
    lock = f"{tokens.key(district_id)}:lock"
    while not await redis.exists(lock):
        assert not fetch.done()
        await asyncio.sleep(0.005)
    assert 0 < await redis.pttl(lock) <= 5000
    await fetch
    assert not await redis.exists(lock)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), id="tampered"),
        pytest.param(lambda raw: b"garbage", id="garbage"),
        pytest.param(None, id="secret-rotated"),
    ],
)
async def test_a_value_that_does_not_unseal_is_fetched_again(
    sandbox: RunningSandbox,
    redis: Redis,
    key_prefix: str,
    clever: CleverClient,
    district_id: str,
    spoil: Callable[[bytes], bytes] | None,
) -> None:
    tokens = make_tokens(redis, clever, key_prefix)
    key = tokens.key(district_id)
    if spoil is None:
        # Sealed under the same name with another SESSION_SECRET's key.
        other = Keyring.from_secret("the previous secret, before it was rotated").district_token_sealing
        await redis.set(key, seal(other, b"stale-token", key.encode()), ex=60)
    else:
        await tokens.get(district_id)
        raw = await redis.get(key)
        assert isinstance(raw, bytes)
        await redis.set(key, spoil(raw), ex=60)
    await count_requests(sandbox.url, TOKENS_PATH)

    assert await tokens.get(district_id) == expected_token(sandbox, district_id)
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1
    # Stored again, sealed with the current key.
    assert await make_tokens(redis, clever, key_prefix).get(district_id) == expected_token(
        sandbox, district_id
    )
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1


async def test_a_value_moved_under_another_district_does_not_unseal(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient
) -> None:
    first, second = sandbox.sandbox.store.district_ids()[:2]
    tokens = make_tokens(redis, clever, key_prefix)
    await tokens.get(first)
    raw = await redis.get(tokens.key(first))
    assert isinstance(raw, bytes)
    await redis.set(tokens.key(second), raw, ex=60)

    assert await tokens.get(second) == expected_token(sandbox, second)
    assert expected_token(sandbox, second) != expected_token(sandbox, first)


async def test_invalidate_drops_only_the_token_it_names(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    tokens = make_tokens(redis, clever, key_prefix)
    await tokens.invalidate(district_id, "nothing-cached-yet")  # a no-op on a cold cache
    token = await tokens.get(district_id)
    key = tokens.key(district_id)

    await tokens.invalidate(district_id, "some-older-token")
    assert await redis.exists(key)
    await count_requests(sandbox.url, TOKENS_PATH)
    assert await tokens.get(district_id) == token
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 0

    await tokens.invalidate(district_id, token)
    assert not await redis.exists(key)
    assert await tokens.get(district_id) == token
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1


async def test_a_revoked_token_is_replaced_after_invalidate(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    tokens = make_tokens(redis, clever, key_prefix)
    old = await tokens.get(district_id)
    sandbox.sandbox.tokens.revoke(old)
    assert await tokens.get(district_id) == old  # the cache cannot know yet

    await tokens.invalidate(district_id, old)
    new = await tokens.get(district_id)
    assert new != old
    assert new == expected_token(sandbox, district_id)


async def test_a_district_that_is_not_connected_raises_a_typed_error(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient
) -> None:
    tokens = make_tokens(redis, clever, key_prefix)
    await count_requests(sandbox.url, TOKENS_PATH, latency_ms=20)
    results = await asyncio.gather(
        *(tokens.get("5a0000000000000000000000") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, DistrictNotConnected) for result in results), results
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1
    assert [k async for k in redis.scan_iter(match=f"{key_prefix}*")] == []  # lock released, nothing cached


async def test_wrong_client_credentials_propagate_as_clevers_error(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, district_id: str
) -> None:
    config = SandboxConfig(redirect_uris=sandbox.config.redirect_uris, client_secret="not-the-secret")
    async with sandbox_clever(sandbox.url, config) as wrong:
        tokens = make_tokens(redis, wrong, key_prefix)
        with pytest.raises(CleverUnauthorized):
            await tokens.get(district_id)
    assert [k async for k in redis.scan_iter(match=f"{key_prefix}*")] == []


async def test_a_dead_lock_holder_delays_but_does_not_block_a_login(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    tokens = make_tokens(redis, clever, key_prefix, lock_timeout=0.3)
    lock = f"{tokens.key(district_id)}:lock"
    # Another replica took the lock and died: it expires by itself.
    await redis.set(lock, "another-replica", px=300)
    await count_requests(sandbox.url, TOKENS_PATH)

    assert await tokens.get(district_id) == expected_token(sandbox, district_id)
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1
    assert not await redis.exists(lock)


async def test_a_waiter_takes_the_token_the_lock_holder_stores(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    tokens = make_tokens(redis, clever, key_prefix, lock_timeout=5.0)
    key = tokens.key(district_id)
    await redis.set(f"{key}:lock", "another-replica", px=5000)
    await count_requests(sandbox.url, TOKENS_PATH)
    waiting = asyncio.create_task(tokens.get(district_id))
    await asyncio.sleep(0.05)
    assert not waiting.done()

    # The other replica stores the token (sealed as it would) and keeps its lock.
    await redis.set(key, seal(SEALING_KEY, b"from-the-other-replica", key.encode()), ex=60)
    assert await waiting == "from-the-other-replica"
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 0
    assert await redis.get(f"{key}:lock") == b"another-replica"  # not ours to release


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    await count_requests(sandbox.url, TOKENS_PATH, latency_ms=100)
    tokens = make_tokens(redis, clever, key_prefix)
    impatient = asyncio.create_task(tokens.get(district_id))
    patient = asyncio.create_task(tokens.get(district_id))
    await asyncio.sleep(0.02)
    impatient.cancel()

    assert await patient == expected_token(sandbox, district_id)
    assert impatient.cancelled()
    assert await requests_seen(sandbox.url, TOKENS_PATH) == 1


async def test_a_process_remembers_the_token_for_a_while_sparing_redis(
    redis_url: str, key_prefix: str, clever: CleverClient, district_id: str, sandbox: RunningSandbox
) -> None:
    recording = RecordingRedis.from_url(redis_url)
    assert isinstance(recording, RecordingRedis)
    clock = Clock()
    try:
        tokens = make_tokens(recording, clever, key_prefix, memory_seconds=60, clock=clock)
        token = await tokens.get(district_id)
        assert token == expected_token(sandbox, district_id)
        recording.commands.clear()
        clock.now += 59
        assert await tokens.get(district_id) == token
        assert recording.commands == []  # neither Redis nor Clever
        clock.now += 2
        assert await tokens.get(district_id) == token
        assert recording.commands == ["GET"]  # past the window: from Redis again, and remembered
        assert await tokens.get(district_id) == token
        assert recording.commands == ["GET"]
    finally:
        await recording.aclose()


async def test_invalidate_forgets_a_remembered_token_too(
    sandbox: RunningSandbox, redis: Redis, key_prefix: str, clever: CleverClient, district_id: str
) -> None:
    tokens = make_tokens(redis, clever, key_prefix, memory_seconds=60, clock=Clock())
    old = await tokens.get(district_id)
    sandbox.sandbox.tokens.revoke(old)
    await tokens.invalidate(district_id, "some-older-token")
    assert await tokens.get(district_id) == old  # another token's 401 forgets nothing

    await tokens.invalidate(district_id, old)
    new = await tokens.get(district_id)
    assert new != old
    assert new == expected_token(sandbox, district_id)
