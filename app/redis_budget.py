"""The rate budget's shared count (`app.clever.budget.SharedCount`) in Redis: the calls every
process on this Redis has made on a district-app token in Clever's current window, so that the
backend's replicas and the events worker spend one budget between them, as Clever counts it.

One key per tracked token (`<prefix>rb:<the token's digest>`, never the token), holding the
count, expiring when the window ends; a 429 sets it to the limit until Clever's reset. A Redis
that does not answer leaves each process to its own count (and Clever's 429s), never a refused
login: the budget is a courtesy to Clever, the sessions' Redis is what fails closed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from app.redis_client import KEY_PREFIX, REDIS_ERRORS, RedisClient

logger = logging.getLogger("app.redis_budget")

# KEYS: the token's count. ARGV: the cap, the window (ms). -1: counted; else ms until the window
# ends (the count is at the cap).
_TAKE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
    local left = redis.call('PTTL', KEYS[1])
    if left < 0 then
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        left = tonumber(ARGV[2])
    end
    return left
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return -1
"""


class RedisRateCount:
    def __init__(
        self, redis: RedisClient, *, prefix: str = KEY_PREFIX, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock
        self._take = redis.register_script(_TAKE)
        self._failing = False

    def key(self, key: str) -> str:
        return f"{self._prefix}rb:{key}"

    async def take(self, key: str, *, cap: int, window: float) -> float | None:
        try:
            left = int(await self._take(keys=[self.key(key)], args=[cap, math.ceil(window * 1000)]))
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        self._failing = False
        return None if left < 0 else self._clock() + left / 1000

    async def spend_all(self, key: str, *, limit: int, until: float) -> None:
        left = math.ceil((until - self._clock()) * 1000)
        if left <= 0:
            return
        try:
            await self._redis.set(self.key(key), limit, px=left)
        except REDIS_ERRORS as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:  # once per outage, not once per call
            logger.warning(
                "the shared rate count does not answer; each process counts its own calls",
                extra={"event": "rate_count_unavailable", "error": type(exc).__name__},
            )
        self._failing = True
