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

# KEYS: the token's count. ARGV: the cap, the window (ms), how many are wanted. Answers how many
# were counted (0 when the count is at the cap) and the ms until the window ends.
_TAKE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local cap = tonumber(ARGV[1])
local granted = 0
if n < cap then
    granted = math.min(tonumber(ARGV[3]), cap - n)
    redis.call('INCRBY', KEYS[1], granted)
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    left = tonumber(ARGV[2])
end
return {granted, left}
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

    @property
    def reachable(self) -> bool:
        return not self._failing

    async def take(self, key: str, *, cap: int, window: float, want: int = 1) -> tuple[int, float]:
        try:
            granted, left = await self._take(keys=[self.key(key)], args=[cap, math.ceil(window * 1000), want])
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return 0, self._clock()
        self._failing = False
        return int(granted), self._clock() + int(left) / 1000

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
