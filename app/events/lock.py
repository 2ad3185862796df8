"""A per-district lock in Redis, so that exactly one worker consumes a district's events.

`SET NX PX` with a random owner token; renewed and released only by its owner (scripts that
compare the token first). A worker that dies leaves the lock to expire after `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from app.redis_client import RedisClient

logger = logging.getLogger("app.events")

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class LockLost(Exception):
    """The lock expired or was taken while its holder was still working."""


class DistrictLock:
    """One district's lock. `hold()` takes it (or answers None when another worker has it) and
    keeps renewing it in the background until the block ends; `owner` is the token to check
    before a write that only the holder may make (see `app.events.cursor`)."""

    def __init__(self, redis: RedisClient, key: str, *, ttl: float) -> None:
        self._redis = redis
        self.key = key
        self._ttl_ms = max(1000, int(ttl * 1000))
        self.owner = secrets.token_hex(16)
        self.lost = False
        self._extend = redis.register_script(_EXTEND)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self.key, self.owner, nx=True, px=self._ttl_ms))

    async def extend(self) -> bool:
        return bool(await self._extend(keys=[self.key], args=[self.owner, self._ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.owner])

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Yields True while this worker holds the lock, False when another one does."""
        if not await self.acquire():
            yield False
            return
        renewer = asyncio.create_task(self._renew())
        try:
            yield True
        finally:
            renewer.cancel()
            try:
                # `wait` neither raises the renewer's CancelledError nor swallows one aimed at
                # this task: suppressing CancelledError around `await renewer` would also eat a
                # cancellation of the worker arriving just then, and the worker would run on.
                await asyncio.wait([renewer])
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release())

    async def _renew(self) -> None:
        pause = self._ttl_ms / 3000
        while True:
            await asyncio.sleep(pause)
            try:
                still_ours = await self.extend()
            except Exception:  # a Redis hiccup: try again sooner; the cursor write checks anyway
                logger.warning(
                    "could not renew a district lock; retrying", extra={"event": "lock_renew_failed"}
                )
                await asyncio.sleep(pause / 3)
                continue
            if not still_ours:
                self.lost = True
                logger.error("a district lock was lost while working on it", extra={"event": "lock_lost"})
                return
