"""Sessions in Redis.

- `cl:s:{<storage id>}`: the session record, sealed (AES-GCM) with the ticket's own key and bound
  to its key name; TTL = the idle timeout, capped by what is left of the absolute one.
- `cl:u:{<user hash>}`: a sorted set of the user's storage ids scored by their absolute expiry,
  so every session of a user can be ended at once.
- `cl:d:{<district hash>}`: a sorted set of the district's user hashes, for ending a district.
- `cl:rf:{<storage id>}`: present while the session may not refresh its roster again.

Validation is exactly one command (`GETEX`, which also slides the idle timeout) for a valid
ticket and none for a malformed or badly signed one; concurrent validations send theirs in one
pipeline (`app.sessions.batching`). Every key has a TTL. Each command touches one key, so the
layout works on Redis Cluster.

Roster updates from the events worker wait after the record until the session is next read;
how they are framed, sealed and applied is `app.sessions.updates`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.crypto.ticket import Ticket, decode_ticket
from app.redis_client import KEY_PREFIX, Queued, RedisClient
from app.roster.principal import Principal, RosterUpdate
from app.sessions import packing
from app.sessions.batching import GetexBatcher
from app.sessions.packing import SessionRecord
from app.sessions.updates import SessionUpdates, split_updates

TICKET_PURPOSE = "session"
Clock = Callable[[], float]

# Well-signed tickets remembered by `SessionStore.load`: about 1 MB at most.
_CHECKED_TICKETS = 2048
_INDEX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Session:
    ticket: Ticket
    user_id: str
    district_id: str
    created_at: float
    expires_at: float  # absolute
    idle_expires_at: float
    login_method: str
    principal: Principal


class SessionStore:
    def __init__(
        self,
        redis: RedisClient,
        keyring: Keyring,
        *,
        idle_timeout: int,
        absolute_timeout: int,
        prefix: str = KEY_PREFIX,
        clock: Clock = time.time,
    ) -> None:
        self._redis = redis
        self._keys = keyring
        self._idle = idle_timeout
        self._absolute = absolute_timeout
        self._prefix = prefix
        self._clock = clock
        # Per generation, read on every validation; the keyring never changes.
        self._retired_signing = tuple(keys.ticket_signing for keys in keyring.previous)
        self._storage_hashing = tuple(keys.storage_hashing for keys in keyring.generations)
        # Recently validated tickets by their exact text, with their Redis key: see `_lookup`.
        self._checked: dict[str, tuple[Ticket, str]] = {}
        # Concurrent validations share a round trip (a Cluster client sends each on its own).
        self._getex: Callable[[str], Awaitable[Any]] = (
            GetexBatcher(redis, idle_timeout).getex if isinstance(redis, Redis) else self._getex_alone
        )
        self._updates = SessionUpdates(redis, keyring)

    # -- names -------------------------------------------------------------------------------

    def session_key(self, ticket: Ticket) -> str:
        return self._session_key(self._storage_id(ticket))

    def user_key(self, user_id: str, generation: int = 0) -> str:
        """The user's index under the current secret, or under a retired one (`generation`)."""
        return self._user_key(self._hash("user", user_id, generation))

    def user_keys(self, user_id: str) -> list[str]:
        """The user's index under every secret in use: sessions keep the names they were born with."""
        return [self.user_key(user_id, generation) for generation in range(len(self._keys.generations))]

    def _storage_id(self, ticket: Ticket) -> str:
        return ticket.storage_id(self._storage_hashing[ticket.generation])

    def _session_key(self, storage_id: str) -> str:
        return f"{self._prefix}s:{{{storage_id}}}"

    def _user_key(self, user_hash: str) -> str:
        return f"{self._prefix}u:{{{user_hash}}}"

    def district_key(self, district_id: str, generation: int = 0) -> str:
        return f"{self._prefix}d:{{{self._hash('district', district_id, generation)}}}"

    def _hash(self, kind: str, value: str, generation: int = 0) -> str:
        hashing = self._keys.generation(generation).storage_hashing
        return hmac.new(hashing, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    # -- tickets -----------------------------------------------------------------------------

    def encode(self, ticket: Ticket) -> str:
        return ticket.encode(self._keys.generation(ticket.generation).ticket_signing, TICKET_PURPOSE)

    def decode(self, text: str) -> Ticket | None:
        return decode_ticket(
            text, self._keys.ticket_signing, TICKET_PURPOSE, retired_keys=self._retired_signing
        )

    # -- life cycle --------------------------------------------------------------------------

    def new_ticket(self) -> Ticket:
        """A ticket for `create`, to be encoded before the session is written (`alongside`)."""
        return Ticket.new()

    async def create(
        self,
        *,
        user_id: str,
        district_id: str,
        login_method: str,
        principal: Principal,
        ticket: Ticket | None = None,
        alongside: Iterable[Queued] = (),
    ) -> Session:
        """Write a new session (under `ticket`, else a new one); `alongside` are other stores'
        writes that belong with it (a login's completion), sent in the same round trip, after it."""
        now = self._clock()
        ticket = self.new_ticket() if ticket is None else ticket
        expires_at = now + self._absolute
        ttl = min(self._idle, self._absolute)
        key = self.session_key(ticket)
        session = Session(
            ticket=ticket,
            user_id=user_id,
            district_id=district_id,
            created_at=now,
            expires_at=expires_at,
            idle_expires_at=now + ttl,
            login_method=login_method,
            principal=principal,
        )
        sealed = _seal(session, key)
        user_key, district_key = self.user_key(user_id), self.district_key(district_id)
        storage_id = self._storage_id(ticket)
        async with self._redis.pipeline(transaction=False) as pipe:
            # The indexes first: a session must never exist that "end all of a user's sessions"
            # cannot reach (an index entry without its session is harmless).
            pipe.zadd(user_key, {storage_id: expires_at})
            pipe.zremrangebyscore(user_key, "-inf", now)  # forget sessions past their absolute expiry
            # Every session lives the same absolute time, so the newest one ends last: a plain
            # EXPIRE keeps each index exactly as long as its longest-lived member (and works on
            # Redis 6.2, which has no EXPIRE GT).
            pipe.expire(user_key, self._absolute)
            if district_id:  # a Clever Library login has none: no district can end it
                pipe.zadd(district_key, {self._hash("user", user_id): expires_at})
                pipe.expire(district_key, self._absolute)
            pipe.set(key, sealed, ex=ttl)
            for queue in alongside:
                queue(pipe)
            await pipe.execute()
        return session

    def _lookup(self, text: str) -> tuple[Ticket, str] | None:
        """The ticket in `text` and its session's key, or None when it is not well signed.

        The same text under the same keys always decodes the same, so a text found well signed
        is remembered (a browser or gateway sends it again and again) and spared the base64 and
        HMAC work next time; any other text is checked in full. A lookup compares texts only
        when their (secretly seeded) hashes are equal, so it reveals nothing about stored ones.
        Bounded; the oldest go first.
        """
        found = self._checked.get(text)
        if found is not None:
            return found
        ticket = self.decode(text)
        if ticket is None:
            return None
        if len(self._checked) >= _CHECKED_TICKETS:
            del self._checked[next(iter(self._checked))]
        found = self._checked[text] = (ticket, self.session_key(ticket))
        return found

    async def load(self, text: str) -> Session | None:
        """The session behind a ticket: one GETEX for a well-signed ticket, nothing otherwise."""
        found = self._lookup(text)
        if found is None:
            return None
        ticket, key = found
        value = await self._getex(key)
        if not isinstance(value, bytes):
            return None
        sealed, updates = split_updates(value)
        try:
            record: SessionRecord = packing.unpack(unseal(ticket.key, sealed, key.encode()))
        except (SealBroken, ValueError, zlib.error):
            await self._redis.delete(key)
            return None
        now = self._clock()
        if now >= record["expires_at"]:
            await self._redis.delete(key)
            return None
        if updates:
            record = await self._updates.fold(ticket.key, key, value, sealed, record, updates)
        return Session(
            ticket=ticket,
            user_id=record["user_id"],
            district_id=record["district_id"],
            created_at=record["created_at"],
            expires_at=record["expires_at"],
            idle_expires_at=min(now + self._idle, record["expires_at"]),
            login_method=record["login_method"],
            principal=record["principal"],
        )

    async def _getex_alone(self, key: str) -> Any:
        return await self._redis.getex(key, ex=self._idle)

    # -- roster updates (the events worker) -----------------------------------------------

    def user_hashes(self, user_id: str) -> list[str]:
        """The user's hash under each secret in use, as the district indexes hold it."""
        return [self._hash("user", user_id, generation) for generation in range(len(self._keys.generations))]

    async def district_user_hashes(self, district_id: str) -> set[str]:
        """The hashes of the users of a district that have (or recently had) a session."""
        hashes: set[str] = set()
        for generation in range(len(self._keys.generations)):
            hashes.update(await self._members(self.district_key(district_id, generation)))
        return hashes

    async def user_storage_ids(self, user_id: str) -> list[str]:
        """The storage ids of the user's sessions that have not passed their absolute expiry."""
        now = self._clock()
        ids: list[str] = []
        for user_key in self.user_keys(user_id):
            members = await self._redis.zrangebyscore(user_key, now, "+inf")
            ids.extend(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        return ids

    async def district_storage_ids(self, district_id: str) -> list[str]:
        """The storage ids of every live session in the district (through its user indexes)."""
        now = self._clock()
        hashes = list(await self.district_user_hashes(district_id))
        ids: list[str] = []
        for start in range(0, len(hashes), _INDEX_BATCH):
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_hash in hashes[start : start + _INDEX_BATCH]:
                    pipe.zrangebyscore(self._user_key(user_hash), now, "+inf")
                for members in await pipe.execute():
                    ids.extend(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        return ids

    async def push_update(self, storage_ids: Iterable[str], update: RosterUpdate) -> int:
        """Leave `update` beside each of these sessions that still exists; answers how many
        (`SessionUpdates.push`)."""
        return await self._updates.push(map(self._session_key, storage_ids), update)

    async def delete_user_hash(self, user_hash: str) -> int:
        """End every session in the user index named by `user_hash` (see `district_user_hashes`)."""
        user_key = self._user_key(user_hash)
        return await self._delete_storage_ids(user_key, await self._members(user_key))

    async def forget_in_district(self, district_id: str, user_hashes: Iterable[str]) -> None:
        hashes = list(user_hashes)
        if not hashes:
            return
        for generation in range(len(self._keys.generations)):
            await self._redis.zrem(self.district_key(district_id, generation), *hashes)

    async def claim_refresh(self, session: Session, interval: int) -> int:
        """0 when the session may fetch its roster again now (the next time is `interval` seconds
        away), else the seconds left to wait. One round trip."""
        key = f"{self._prefix}rf:{{{self._storage_id(session.ticket)}}}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, b"1", nx=True, ex=interval)
            pipe.ttl(key)
            claimed, left = await pipe.execute()
        return 0 if claimed else max(int(left), 1)

    async def replace_principal(self, session: Session, principal: Principal) -> Session:
        """Store a refreshed Principal in the same session (same ticket, same expiry)."""
        refreshed = replace(session, principal=principal)
        key = self.session_key(session.ticket)
        await self._redis.set(key, _seal(refreshed, key), xx=True, keepttl=True)  # never revive an ended one
        return refreshed

    async def delete(self, session: Session) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.session_key(session.ticket))
            user_key = self.user_key(session.user_id, session.ticket.generation)
            pipe.zrem(user_key, self._storage_id(session.ticket))
            await pipe.execute()

    async def delete_ticket(self, text: str) -> bool:
        """End the session a (possibly stale) ticket names; True when there was one."""
        ticket = self.decode(text)
        if ticket is None:
            return False
        return bool(await self._redis.delete(self.session_key(ticket)))

    async def delete_user(self, user_id: str) -> int:
        """End every session of a user; answers how many there were."""
        ended = 0
        for user_key in self.user_keys(user_id):
            ended += await self._delete_storage_ids(user_key, await self._members(user_key))
        return ended

    async def delete_district(self, district_id: str) -> int:
        ended = 0
        for generation in range(len(self._keys.generations)):
            district_key = self.district_key(district_id, generation)
            for user_hash in await self._members(district_key):
                user_key = self._user_key(user_hash)
                ended += await self._delete_storage_ids(user_key, await self._members(user_key))
            await self._redis.delete(district_key)
        return ended

    async def _members(self, key: str) -> list[str]:
        members = await self._redis.zrange(key, 0, -1)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def _delete_storage_ids(self, user_key: str, storage_ids: list[str]) -> int:
        if not storage_ids:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for storage_id in storage_ids:
                pipe.delete(self._session_key(storage_id))
            pipe.delete(user_key)
            results = await pipe.execute()
        return sum(results[:-1])


def _seal(session: Session, key: str) -> bytes:
    record: SessionRecord = {
        "user_id": session.user_id,
        "district_id": session.district_id,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "login_method": session.login_method,
        "principal": session.principal,
    }
    return seal(session.ticket.key, packing.pack(record), key.encode())
