"""The district-app token of each district, cached sealed in Redis and fetched once on a miss.

- `cl:dt:{<district hash>}`: the token, sealed (AES-GCM) and bound to its key name; TTL
  `ttl_seconds`. A value that does not unseal (tampered, or SESSION_SECRET rotated) is a miss.
- `cl:dt:{<district hash>}:lock`: held for at most `lock_timeout` seconds by the replica that
  fetches a missing token; same hash tag, so both keys live on one Cluster slot.

Why the token, and not the roster, is what gets cached: the token changes rarely and saves a
call on every login; a person's roster (sections, resources, linked students) must be fresh at
each login, and a second copy of student data in Redis would outlive logout. The session is
the roster's only cache: validations read it from Redis and never call Clever.

A cold cache costs Clever one `GET /oauth/tokens?owner_type=district` however many logins find
it cold at once: within a process they share one fetch; across replicas the lock holder fetches
while the others poll the cache. Redis errors propagate (the caller answers 503).

Each process also remembers a token it read or fetched for `memory_seconds` (60 s), sparing the
Redis round trip on the login's critical path. A token Clever stops honouring within that time
answers 401, and `invalidate` forgets it here as well as in Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.clever import CleverClient, CleverUnauthorized
from app.crypto.sealing import SealBroken, seal, unseal
from app.errors import ServiceError
from app.redis_client import KEY_PREFIX, RedisClient
from app.redis_lock import COMPARE_AND_DELETE, RedisLock
from app.roster.memo import Memo

T = TypeVar("T")

logger = logging.getLogger("app.roster.district_tokens")

_POLL_FIRST = 0.02
_POLL_MAX = 0.25
MEMORY_SECONDS = 60.0
# Remembered tokens past this many districts make room (a district's token is ~100 B).
_MEMORY_ENTRIES = 4096


class DistrictNotConnected(ServiceError):
    """Clever lists no district-app token for this district: the app is not connected there."""

    code = "district_not_connected"

    def __init__(self, district_id: str) -> None:
        super().__init__("no district-app token for this district")
        self.district_id = district_id


class DistrictTokens:
    """Hands out the district-app token for a district, from the Redis cache or from Clever.

    `sealing_key` encrypts the cached tokens (the Keyring's `district_token_sealing`); key
    names are keyed hashes of district ids derived from it, so a Redis dump names no district
    and holds no token. Every key has a TTL.
    """

    def __init__(
        self,
        redis: RedisClient,
        clever: CleverClient,
        *,
        sealing_key: bytes,
        prefix: str = KEY_PREFIX,
        ttl_seconds: int = 24 * 3600,
        lock_timeout: float = 10.0,
        memory_seconds: float = MEMORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._clever = clever
        self._sealing_key = sealing_key
        # A separate key for names, so the AES key never doubles as an HMAC key.
        self._naming_key = hmac.new(
            sealing_key, b"clever-login district token names v1", hashlib.sha256
        ).digest()
        self._prefix = prefix
        self._ttl_ms = ttl_seconds * 1000
        self._lock_ms = max(1, int(lock_timeout * 1000))
        self._lock_timeout = lock_timeout
        # Drops a cached token only if no one has replaced it meanwhile.
        self._compare_and_delete = redis.register_script(COMPARE_AND_DELETE)
        self._inflight: dict[str, asyncio.Task[str]] = {}
        self._memory: Memo[str] = Memo(seconds=memory_seconds, entries=_MEMORY_ENTRIES, clock=clock)

    def key(self, district_id: str) -> str:
        digest = hmac.new(self._naming_key, district_id.encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}dt:{{{digest}}}"

    async def get(self, district_id: str) -> str:
        """The district's token; raises DistrictNotConnected, or the client's CleverError.

        Every call on the token is then spent through the client's rate budget, reported under
        the district's id: all logins of a district share its 1200 calls a minute.
        """
        token = await self._get(district_id)
        self._clever.budget.track(token, district_id)
        return token

    async def _get(self, district_id: str) -> str:
        remembered = self._memory.get(district_id)
        if remembered is not None:
            return remembered
        token = await self._get_shared(district_id)
        self._memory.put(district_id, token)
        return token

    async def _get_shared(self, district_id: str) -> str:
        """From Redis, or fetched from Clever by one caller (in this process and across replicas)."""
        task = self._inflight.get(district_id)
        if task is None:
            cached = await self._read(self.key(district_id))
            if cached is not None:
                return cached
            # Another caller may have started the fetch while we read.
            task = self._inflight.get(district_id)
            if task is None:
                task = asyncio.create_task(self._fill(district_id))
                self._inflight[district_id] = task
                task.add_done_callback(lambda done: self._forget(district_id, done))
        # A caller that gives up must not cancel the fetch the others are waiting for.
        return await asyncio.shield(task)

    async def call(self, district_id: str, call: Callable[[str], Awaitable[T]]) -> T:
        """`call` with the district's token; after a 401 (the token was revoked), the cached
        token is dropped and `call` runs once more with a fresh one (or DistrictNotConnected)."""
        token = await self.get(district_id)
        try:
            return await call(token)
        except CleverUnauthorized:
            await self.invalidate(district_id, token)
            return await call(await self.get(district_id))

    async def invalidate(self, district_id: str, token: str) -> None:
        """Drops the cached token if it is still `token` (after Clever answered 401 to it)."""
        remembered = self._memory.get(district_id)
        if remembered is not None and hmac.compare_digest(remembered.encode(), token.encode()):
            self._memory.forget(district_id)
        key = self.key(district_id)
        raw = await self._raw(key)
        if raw is None:
            return
        try:
            current: bytes | None = unseal(self._sealing_key, raw, key.encode())
        except SealBroken:
            current = None  # useless to everyone: drop it as well
        if current is None or hmac.compare_digest(current, token.encode()):
            await self._compare_and_delete(keys=[key], args=[raw])

    # -- filling a miss ------------------------------------------------------------------

    def _forget(self, district_id: str, done: asyncio.Task[str]) -> None:
        if self._inflight.get(district_id) is done:
            del self._inflight[district_id]
        # Mark the outcome as seen: every waiter may have been cancelled.
        if not done.cancelled():
            done.exception()

    async def _fill(self, district_id: str) -> str:
        key = self.key(district_id)
        lock = RedisLock(self._redis, f"{key}:lock", ttl_ms=self._lock_ms)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_timeout
        pause = _POLL_FIRST
        while True:
            if await lock.acquire():
                try:
                    # Another replica may have stored it between our miss and our lock.
                    cached = await self._read(key)
                    return cached if cached is not None else await self._fetch(district_id, key)
                finally:
                    await lock.release()
            if loop.time() >= deadline:
                # The holder outlived its lock without storing a token (stuck, or retrying):
                # fetch without it rather than keep this login waiting.
                return await self._fetch(district_id, key)
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_MAX)
            cached = await self._read(key)
            if cached is not None:
                return cached

    async def _fetch(self, district_id: str, key: str) -> str:
        tokens = await self._clever.district_tokens(district_id)
        token = next(
            (t.access_token for t in tokens if t.owner.type == "district" and t.owner.id == district_id),
            None,
        )
        if token is None:
            raise DistrictNotConnected(district_id)
        await self._redis.set(key, seal(self._sealing_key, token.encode(), key.encode()), px=self._ttl_ms)
        logger.info(
            "district-app token fetched and cached",
            extra={"event": "district_token_fetched", "district": district_id},
        )
        return token

    async def _raw(self, key: str) -> bytes | None:
        raw = await self._redis.get(key)
        # Sealed values are bytes; anything else cannot be ours.
        return raw if isinstance(raw, bytes) else None

    async def _read(self, key: str) -> str | None:
        raw = await self._raw(key)
        if raw is None:
            return None
        try:
            return unseal(self._sealing_key, raw, key.encode()).decode()
        except SealBroken:
            logger.warning(
                "cached district-app token does not unseal; fetching it again",
                extra={"event": "district_token_unsealable"},
            )
            return None
