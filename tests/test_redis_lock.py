"""The one Redis lock: one holder at a time, and only its owner extends or releases it."""

from __future__ import annotations

from redis.asyncio import Redis

from app.redis_lock import RedisLock


async def test_one_holder_at_a_time_until_it_releases(redis: Redis, key_prefix: str) -> None:
    first = RedisLock(redis, f"{key_prefix}lock", ttl_ms=5000)
    second = RedisLock(redis, f"{key_prefix}lock", ttl_ms=5000)
    assert first.owner != second.owner

    assert await first.acquire()
    assert not await second.acquire()
    assert await redis.get(first.key) == first.owner.encode()
    assert 0 < await redis.pttl(first.key) <= 5000

    await first.release()
    assert not await redis.exists(first.key)
    assert await second.acquire()


async def test_only_the_owner_extends_or_releases(redis: Redis, key_prefix: str) -> None:
    lock = RedisLock(redis, f"{key_prefix}lock", ttl_ms=5000)
    assert await lock.acquire()
    await redis.pexpire(lock.key, 1000)
    assert await lock.extend()
    assert await redis.pttl(lock.key) > 1000

    # It expired and someone else took it: neither extending nor releasing touches theirs.
    await redis.set(lock.key, "another-holder", px=1000)
    assert not await lock.extend()
    await lock.release()
    assert await redis.get(lock.key) == b"another-holder"
    assert await redis.pttl(lock.key) <= 1000
