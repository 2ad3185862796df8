"""A district's roster copy made fresh for a test: synced, and its events cursor written as the
events worker writes it once it has read the district's stream to its end."""

from __future__ import annotations

import time

from app.redis_client import RedisClient
from app.roster.events_cursor import Cursor, cursor_key, dump_cursor


async def mark_events_read(
    redis: RedisClient, prefix: str, district_id: str, *, at: float | None = None
) -> float:
    """The district's event stream was read to its end at `at` (now, when not given); answers
    that moment."""
    seen_until = time.time() if at is None else at
    await redis.set(cursor_key(prefix, district_id), dump_cursor(Cursor(None, seen_until)), ex=3600)
    return seen_until
