"""The district directory: what each district and its schools are called, and the district's
Clever Portal address, so that a Principal can name them (README, "The district directory").

- `{prefix}dir:{<district hash>}`: the district's entry, sealed (AES-GCM) and bound to its key
  name; TTL `ttl_seconds` (a day). A value that does not unseal (SESSION_SECRET rotated) is a miss.
- `{prefix}dir:{<district hash>}:lock`: held by the one replica that fills a missing entry.

Key names are keyed hashes of district ids and values are sealed, as the district tokens'
(app.roster.district_tokens) are: names of districts and schools are not personal data, but a
Redis dump then names no district here either.

A missing entry is filled from the district's roster copy (app.roster.store) when it has one
synced within a day: no call to Clever. Else it is fetched with the district-app token,
`GET /districts/{id}` and the district's schools (`GET /schools`, paged) together: two calls or
more once a day per district, never one per login. One replica fills it at a time; a login
that finds the entry missing and the lock taken goes without names rather than wait. A fill
that fails keeps the lock until it expires (`lock_seconds`), so a district whose directory
cannot be had costs at most one attempt per lock period, whatever the number of logins.

Nothing here fails a login: `get` answers None on any failure (Clever's, Redis's, the token's),
and the Principal then lacks the names (app.roster.principal, `district`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from app.clever import CleverClient, CleverError
from app.clever.models import District, School
from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.errors import ServiceError
from app.redis_client import KEY_PREFIX, REDIS_ERRORS, RedisClient
from app.redis_lock import RedisLock
from app.roster.district_tokens import DistrictTokens
from app.roster.memo import Memo
from app.roster.principal import Directory
from app.roster.store import MAX_SYNC_AGE, RosterStore

logger = logging.getLogger("app.roster.directory")

DAY = 24 * 3600
LOCK_SECONDS = 30.0
MEMORY_SECONDS = 60.0
MEMORY_DISTRICTS = 10_000

# What a failure to get the directory can be; each leaves the login without names.
_FAILURES: tuple[type[Exception], ...] = (CleverError, ServiceError, TimeoutError, OSError, *REDIS_ERRORS)


class DistrictDirectory:
    """Each district's directory entry, from Redis, the district's roster copy or Clever."""

    def __init__(
        self,
        redis: RedisClient,
        clever: CleverClient,
        tokens: DistrictTokens,
        store: RosterStore,
        *,
        keyring: Keyring,
        prefix: str = KEY_PREFIX,
        ttl_seconds: int = DAY,
        lock_seconds: float = LOCK_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._clever = clever
        self._tokens = tokens
        self._store = store
        # Keys of their own, so no other store's key doubles as these.
        self._sealing_key = hmac.new(
            keyring.roster_sealing, b"clever-login district directory sealing v1", hashlib.sha256
        ).digest()
        self._naming_key = hmac.new(
            keyring.roster_sealing, b"clever-login district directory names v1", hashlib.sha256
        ).digest()
        self._prefix = prefix
        self._ttl_ms = ttl_seconds * 1000
        self._lock_ms = max(1, int(lock_seconds * 1000))
        self._clock = clock
        # Every login of a district reads the same entry: kept in memory for a minute, so a login
        # costs no Redis round trip and no unsealing for it (a rename shows within the minute).
        self._memory: Memo[Directory] = Memo(seconds=MEMORY_SECONDS, entries=MEMORY_DISTRICTS, clock=clock)

    def key(self, district_id: str) -> str:
        digest = hmac.new(self._naming_key, district_id.encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}dir:{{{digest}}}"

    def remembered(self, district_id: str) -> Directory | None:
        """The district's directory if this process read it within the minute (no I/O)."""
        return self._memory.get(district_id)

    async def get(self, district_id: str) -> Directory | None:
        """The district's directory, or None when it cannot be had now (never raises for that)."""
        remembered = self._memory.get(district_id)
        if remembered is not None:
            return remembered
        key = self.key(district_id)
        try:
            found = await self._read(key, district_id)
            if found is None:
                found = await self._fill(district_id, key)
            if found is not None:
                self._memory.put(district_id, found)
            return found
        except _FAILURES as exc:
            logger.warning(
                "district directory unavailable; the login goes without names",
                extra={
                    "event": "district_directory_unavailable",
                    "district": district_id,
                    "error": type(exc).__name__,
                    "code": getattr(exc, "code", None),
                },
            )
            return None

    async def _fill(self, district_id: str, key: str) -> Directory | None:
        lock = RedisLock(self._redis, f"{key}:lock", ttl_ms=self._lock_ms)
        if not await lock.acquire():
            return None  # another login fills it: this one goes without rather than wait
        # Another replica may have stored it between our miss and our lock.
        cached = await self._read(key, district_id)
        if cached is not None:
            await lock.release()
            return cached
        # On failure the lock stays until it expires: the next attempt waits that long.
        directory = await self._from_copy(district_id)
        source = "store"
        if directory is None:
            directory = await self._fetch(district_id)
            source = "live"
        await self._redis.set(key, seal(self._sealing_key, _dump(directory), key.encode()), px=self._ttl_ms)
        await lock.release()
        logger.info(
            "district directory filled",
            extra={
                "event": "district_directory_filled",
                "district": district_id,
                "source": source,
                "schools": len(directory.schools),
            },
        )
        return directory

    async def _from_copy(self, district_id: str) -> Directory | None:
        """From the district's roster copy when it was synced within a day, else None."""
        found = await self._store.records(district_id, "schools")
        if found is None or self._clock() - found[0].synced_at >= MAX_SYNC_AGE:
            return None
        record = await self._store.read_record(district_id, "districts", district_id)
        if record is None:
            return None
        schools = [School.model_validate({**school, "district": district_id}) for school in found[1]]
        return _directory(District.model_validate(record), schools)

    async def _fetch(self, district_id: str) -> Directory:
        """From the Data API with the district-app token: the district and its schools together."""

        async def both(token: str) -> tuple[District, list[School]]:
            district, schools = await asyncio.gather(
                self._clever.district(token, district_id), self._clever.schools(token)
            )
            return district, schools

        district, schools = await self._tokens.call(district_id, both)
        if district.id != district_id:
            raise ServiceError("the Data API answered another district")
        return _directory(district, [school for school in schools if school.district in (None, district_id)])

    async def _read(self, key: str, district_id: str) -> Directory | None:
        raw = await self._redis.get(key)
        if not isinstance(raw, bytes):
            return None
        try:
            return _load(unseal(self._sealing_key, raw, key.encode()), district_id)
        except (SealBroken, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # sealed under a secret no longer held, or not ours: filled again


def _directory(district: District, schools: list[School]) -> Directory:
    return Directory(
        district_id=district.id,
        name=district.name or "",
        portal_url=_portal_url(district.portal_url),
        schools={school.id: school.name or "" for school in schools},
    )


def _portal_url(value: str | None) -> str | None:
    """An absolute https URL, or None: the error page and frontends link to it as it is."""
    if not value or not value.isascii() or any(ord(char) <= 0x20 for char in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme == "https" and parts.hostname else None


def _dump(directory: Directory) -> bytes:
    return orjson.dumps(
        {
            "id": directory.district_id,
            "name": directory.name,
            "portal_url": directory.portal_url,
            "schools": dict(directory.schools),
        }
    )


def _load(raw: bytes, district_id: str) -> Directory:
    value: Any = orjson.loads(raw)
    schools: Mapping[str, Any] = value["schools"]
    portal_url = value["portal_url"]
    if value["id"] != district_id or not isinstance(value["name"], str):
        raise ValueError("not this district's entry")
    return Directory(
        district_id=district_id,
        name=value["name"],
        portal_url=portal_url if isinstance(portal_url, str) else None,
        schools={str(school): str(name) for school, name in schools.items()},
    )
