"""The one Redis lock: `SET NX PX` with a random owner token, extended and released only by its
owner (scripts that compare the token first, so a lock that expired and was taken by someone else
is never touched). A holder that dies leaves the lock to expire by itself.

Used by the events worker's per-district lock (`app.events.lock`), the district-token fill
(`app.roster.district_tokens`) and the district directory's fill (`app.roster.directory`).
"""

from __future__ import annotations

import secrets

from app.redis_client import RedisClient

# Deletes KEYS[1] only while it still holds ARGV[1]: releases a lock only by its owner (and,
# for a cache, drops a value only if no one has replaced it meanwhile).
COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

_COMPARE_AND_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisLock:
    """A lock on `key` for `ttl_ms` milliseconds. `owner` is the token to check before a write
    that only the holder may make (see `app.events.cursor`)."""

    def __init__(self, redis: RedisClient, key: str, *, ttl_ms: int) -> None:
        self._redis = redis
        self.key = key
        self._ttl_ms = ttl_ms
        self.owner = secrets.token_hex(16)
        self._extend = redis.register_script(_COMPARE_AND_EXTEND)
        self._release = redis.register_script(COMPARE_AND_DELETE)

    async def acquire(self) -> bool:
        """Takes the lock if no one holds it."""
        return bool(await self._redis.set(self.key, self.owner, nx=True, px=self._ttl_ms))

    async def extend(self) -> bool:
        """Restarts the lock's TTL; False when it is no longer ours."""
        return bool(await self._extend(keys=[self.key], args=[self.owner, self._ttl_ms]))

    async def release(self) -> None:
        """Deletes the lock if it is still ours."""
        await self._release(keys=[self.key], args=[self.owner])
