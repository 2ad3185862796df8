"""A per-district lock in Redis, so that exactly one worker consumes a district's events.

The one Redis lock (`app.redis_lock`), held while a worker consumes the district and renewed in
the background. A worker that dies leaves the lock to expire after `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from app.redis_client import RedisClient
from app.redis_lock import RedisLock

logger = logging.getLogger("app.events")


class LockLost(Exception):
    """The lock expired or was taken while its holder was still working."""


class DistrictLock(RedisLock):
    """One district's lock. `hold()` takes it (or answers None when another worker has it) and
    keeps renewing it in the background until the block ends; `owner` is the token to check
    before a write that only the holder may make (see `app.events.cursor`)."""

    def __init__(self, redis: RedisClient, key: str, *, ttl: float) -> None:
        super().__init__(redis, key, ttl_ms=max(1000, int(ttl * 1000)))
        self.lost = False

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
