"""Where each district's event stream was left: `{prefix}ev:{<district id>}`.

The value is JSON: `after`, the id of the last event applied (null when the stream was empty
on a first start), and `seen_until` (Unix seconds): every event created before it has been
applied. That is the time the stream was last read to its end, or, while catching up, the
creation time of the last event applied. Its TTL is a little over Clever's 30 days of event
retention: an older cursor is useless anyway. The cursor is written only by the holder of the
district's lock (`{prefix}ev:{<district id>}:lock`, the same hash tag, so one Cluster slot), checked in
the same script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from app.events.lock import DistrictLock, LockLost
from app.redis_client import RedisClient

DAY = 24 * 3600
RETENTION_SECONDS = 30 * DAY  # how long Clever keeps events
CURSOR_TTL_SECONDS = 35 * DAY

_WRITE_IF_HOLDER = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


def newer(event_id: str, than: str | None) -> bool:
    """Whether `event_id` comes after `than` in the stream (None: before every event). Clever
    pages events by id, and its ids (like the sandbox's) are hex of one width, so the stream's
    order is the ids' order; app.roster.store's apply script compares them the same way."""
    if than is None:
        return True
    return len(event_id) > len(than) or (len(event_id) == len(than) and event_id > than)


@dataclass(frozen=True, slots=True)
class Cursor:
    after: str | None
    seen_until: float


class Cursors:
    def __init__(self, redis: RedisClient, *, prefix: str = "cl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._write = redis.register_script(_WRITE_IF_HOLDER)

    def key(self, district_id: str) -> str:
        return f"{self._prefix}ev:{{{district_id}}}"

    def lock(self, district_id: str, *, ttl: float) -> DistrictLock:
        return DistrictLock(self._redis, f"{self.key(district_id)}:lock", ttl=ttl)

    async def read(self, district_id: str) -> Cursor | None:
        raw = await self._redis.get(self.key(district_id))
        if raw is None:
            return None
        try:
            value = json.loads(raw)
            after = value["after"]
            return Cursor(
                after=after if isinstance(after, str) else None, seen_until=float(value["seen_until"])
            )
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: treated as a first start

    async def write(self, district_id: str, cursor: Cursor, lock: DistrictLock) -> None:
        """Record `cursor`, only while `lock` is still ours; raises LockLost otherwise."""
        value = json.dumps({"after": cursor.after, "seen_until": cursor.seen_until})
        written = await self._write(
            keys=[self.key(district_id), lock.key], args=[lock.owner, value, CURSOR_TTL_SECONDS]
        )
        if not written:
            raise LockLost(district_id)
