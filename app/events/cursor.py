"""Where each district's event stream was left: `{prefix}ev:{<district id>}`.

The key and the value (`after`, `seen_until`) are defined in app.roster.events_cursor: a login
reads the cursor beside the district's roster copy to judge the copy's freshness. Its TTL is a
little over Clever's 30 days of event retention: an older cursor is useless anyway. The cursor
is written only by the holder of the district's lock (`{prefix}ev:{<district id>}:lock`, the
same hash tag, so one Cluster slot), checked in the same script.
"""

from __future__ import annotations

from app.events.lock import DistrictLock, LockLost
from app.redis_client import KEY_PREFIX, RedisClient
from app.roster.events_cursor import Cursor as Cursor
from app.roster.events_cursor import cursor_key, dump_cursor, parse_cursor

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


class Cursors:
    def __init__(self, redis: RedisClient, *, prefix: str = KEY_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix
        self._write = redis.register_script(_WRITE_IF_HOLDER)

    def key(self, district_id: str) -> str:
        return cursor_key(self._prefix, district_id)

    def lock(self, district_id: str, *, ttl: float) -> DistrictLock:
        return DistrictLock(self._redis, f"{self.key(district_id)}:lock", ttl=ttl)

    async def read(self, district_id: str) -> Cursor | None:
        raw = await self._redis.get(self.key(district_id))
        # Unreadable: treated as a first start.
        return None if raw is None else parse_cursor(raw)

    async def write(self, district_id: str, cursor: Cursor, lock: DistrictLock) -> None:
        """Record `cursor`, only while `lock` is still ours; raises LockLost otherwise."""
        value = dump_cursor(cursor)
        written = await self._write(
            keys=[self.key(district_id), lock.key], args=[lock.owner, value, CURSOR_TTL_SECONDS]
        )
        if not written:
            raise LockLost(district_id)
