"""A district's roster copy made fresh for a test: synced, and its events cursor written as the
events worker writes it once it has read the district's stream to its end; and a roster store on
a Redis of the test's own (Sentinel, Cluster)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from app.crypto.keyring import Keyring
from app.redis_client import RedisClient, close_redis, create_redis
from app.roster.events_cursor import Cursor, cursor_key, dump_cursor
from app.roster.store import RosterStore


@contextlib.asynccontextmanager
async def store_on(url: str, keyring: Keyring, prefix: str) -> AsyncIterator[tuple[RedisClient, RosterStore]]:
    """The app's Redis client for `url` and a roster store on it; the client closed on exit."""
    client = create_redis(url)
    try:
        yield client, RosterStore(client, keyring, prefix=prefix)
    finally:
        await close_redis(client)


async def mark_events_read(
    redis: RedisClient, prefix: str, district_id: str, *, at: float | None = None
) -> float:
    """The district's event stream was read to its end at `at` (now, when not given); answers
    that moment."""
    seen_until = time.time() if at is None else at
    await redis.set(cursor_key(prefix, district_id), dump_cursor(Cursor(None, seen_until)), ex=3600)
    return seen_until
