"""Throttling failed service-client authentication (HTTP Basic with SERVICE_CLIENTS).

Failures are counted in Redis, so every replica sees the same numbers, in fixed windows: one per
configured client name (every name that is not one shares a single window, so made-up names add
no keys), and one over all of them. Once a window holds its limit of failures, that client (or,
for the total, every client) is answered 429 with `Retry-After` until the window ends, the right
secret included: if the right secret got through, the one answer that is not a 429 would tell a
guesser it had found it (SECURITY.md, "Service clients"). Every key expires with its window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.redis_client import KEY_PREFIX, RedisClient

WINDOW_SECONDS = 60
FAILURES_PER_CLIENT = 10
FAILURES_IN_ALL = 100
# The window shared by every name that is no configured client; `*` cannot start a client name.
UNKNOWN_KEY = "*unknown"
UNKNOWN_LABEL = "unknown"

# Seconds left in the longest window that is full (0: none is). A full window without a TTL
# cannot happen (each is created with one), but would still wait a second rather than never.
_WAIT = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i]) then
    wait = math.max(wait, redis.call('TTL', key), 1)
  end
end
return wait
"""
# Count one failure in each window, creating it with its expiry in the same step.
_FAIL = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, ARGV[1])
  end
end
return counts
"""


@dataclass(frozen=True, slots=True)
class Failure:
    """One counted failure: whether it filled a window (the throttle starts now)."""

    engaged: bool


class ServiceAuthThrottle:
    """The failure windows of service-client authentication, shared through Redis."""

    def __init__(
        self,
        redis: RedisClient,
        clients: Iterable[str],
        *,
        prefix: str = KEY_PREFIX,
        window_seconds: int = WINDOW_SECONDS,
        per_client: int = FAILURES_PER_CLIENT,
        in_all: int = FAILURES_IN_ALL,
    ) -> None:
        self._clients = frozenset(clients)
        self._prefix = prefix
        self.window_seconds = window_seconds
        self._limits = (per_client, in_all)
        self._wait = redis.register_script(_WAIT)
        self._fail = redis.register_script(_FAIL)

    def label(self, name: str) -> str:
        """What logs and metrics may name the caller by: a configured client, else `unknown`
        (a made-up name may be anything, a secret pasted in the wrong field included)."""
        return name if name in self._clients else UNKNOWN_LABEL

    def keys(self, name: str) -> list[str]:
        bucket = name if name in self._clients else UNKNOWN_KEY
        # One hash tag for all: the scripts touch two keys, which a Redis Cluster wants in one slot.
        return [f"{self._prefix}sa:{{throttle}}:{bucket}", f"{self._prefix}sa:{{throttle}}:*all"]

    async def wait(self, name: str) -> int:
        """0 when `name` may try to authenticate now, else the seconds until it may. One round trip."""
        return int(await self._wait(keys=self.keys(name), args=list(self._limits)))

    async def failed(self, name: str) -> Failure:
        """Count a failed authentication as `name`. One round trip."""
        counts = await self._fail(keys=self.keys(name), args=[self.window_seconds])
        return Failure(engaged=any(int(c) == limit for c, limit in zip(counts, self._limits, strict=True)))
