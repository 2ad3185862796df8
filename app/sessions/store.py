"""Sessions in Redis (design section 5).

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

Roster updates. The events worker (`app.events`) cannot read or re-seal a record: only the
ticket carries its key. It leaves *updates* after the record instead, each sealed with the
keyring's `session_update_sealing` key and bound to the session's key name, framed from the end:

    <sealed record> [<sealed update> <its length, 4 bytes big-endian> UPDATE_MARK]...

An update is appended only while the key exists (a script, so an ended session is never revived
and the TTL is kept). `load` peels the updates off, applies those newer than the roster version
the record reflects, and writes the record back without them: a second command, only when
updates were waiting. A value that would grow past `MAX_VALUE_BYTES` ends the session instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.crypto.ticket import Ticket, decode_ticket
from app.redis_client import RedisClient
from app.roster.principal import Principal, RosterUpdate, apply_roster_update
from app.sessions import packing
from app.sessions.batching import GetexBatcher
from app.sessions.packing import SessionRecord

logger = logging.getLogger("app.sessions")

TICKET_PURPOSE = "session"
Clock = Callable[[], float]

UPDATE_MARK = b"\x00clu1\x00\xfe\xff"
_LENGTH_BYTES = 4
MAX_VALUE_BYTES = 512 * 1024
_PUSH_BATCH = 32
# Well-signed tickets remembered by `SessionStore.load`: about 1 MB at most.
_CHECKED_TICKETS = 2048
_INDEX_BATCH = 500

# Appends ARGV[1] to KEYS[1] only if it exists (APPEND would create a key without a TTL).
# With ARGV[3] = "1" the new update supersedes the waiting ones (a whole Principal, fetched after
# them): they are cut off first, walking the frames back from the end (ARGV[4] is UPDATE_MARK).
# A value that would pass ARGV[2] bytes ends the session. 1 appended, 0 no session, -1 ended.
_APPEND_IF_EXISTS = """
local size = redis.call('STRLEN', KEYS[1])
if size == 0 then return 0 end
local keep = size
if ARGV[3] == '1' then
    local mark = ARGV[4]
    local trailer = string.len(mark) + 4
    while keep > trailer do
        local tail = redis.call('GETRANGE', KEYS[1], keep - trailer, keep - 1)
        if string.sub(tail, 5) ~= mark then break end
        local b1, b2, b3, b4 = string.byte(tail, 1, 4)
        local length = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
        if length <= 0 or length > keep - trailer then break end
        keep = keep - trailer - length
    end
end
if keep + string.len(ARGV[1]) > tonumber(ARGV[2]) then
    redis.call('DEL', KEYS[1])
    return -1
end
if keep < size then
    local record = redis.call('GETRANGE', KEYS[1], 0, keep - 1)
    redis.call('SET', KEYS[1], record .. ARGV[1], 'KEEPTTL')
else
    redis.call('APPEND', KEYS[1], ARGV[1])
end
return 1
"""

# Replaces the first ARGV[1] bytes of KEYS[1] by ARGV[3] if they still hash to ARGV[2] (SHA-1
# hex), keeping whatever was appended meanwhile and the TTL.
_FOLD = """
local value = redis.call('GET', KEYS[1])
local n = tonumber(ARGV[1])
if not value or string.len(value) < n or redis.sha1hex(string.sub(value, 1, n)) ~= ARGV[2] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[3] .. string.sub(value, n + 1), 'KEEPTTL')
return 1
"""


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
        prefix: str = "cl:",
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
        self._append_if_exists = redis.register_script(_APPEND_IF_EXISTS)
        self._fold = redis.register_script(_FOLD)

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

    async def create(
        self, *, user_id: str, district_id: str, login_method: str, principal: Principal
    ) -> Session:
        now = self._clock()
        ticket = Ticket.new()
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
            pipe.zadd(district_key, {self._hash("user", user_id): expires_at})
            pipe.expire(district_key, self._absolute)
            pipe.set(key, sealed, ex=ttl)
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
            record = await self._fold_updates(ticket, key, value, sealed, record, updates)
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

    async def _fold_updates(
        self,
        ticket: Ticket,
        key: str,
        value: bytes,
        sealed: bytes,
        record: SessionRecord,
        updates: list[bytes],
    ) -> SessionRecord:
        """Apply the waiting updates to `record` and store it back without them."""
        principal = record["principal"]
        for sealed_update in updates:
            update = self._open_update(sealed_update, key)
            if update is not None:
                principal = apply_roster_update(principal, update)
        if principal is not record["principal"]:
            record = {**record, "principal": principal}
            sealed = seal(ticket.key, packing.pack(record), key.encode())
        consumed = len(value)
        digest = hashlib.sha1(value, usedforsecurity=False).hexdigest()
        # A script: only if nothing but appends happened since our read (another request may
        # have folded the same updates, or the session may have ended).
        await self._fold(keys=[key], args=[consumed, digest, sealed])
        return record

    def _open_update(self, sealed_update: bytes, key: str) -> dict[str, Any] | None:
        for keys in self._keys.generations:
            try:
                update = packing.unpack(unseal(keys.session_update_sealing, sealed_update, key.encode()))
            except SealBroken:
                continue
            except (ValueError, zlib.error):
                break
            if isinstance(update, dict):
                return update
            break
        logger.warning("a session update does not unseal; ignored")
        return None

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
        """Leave `update` beside each of these sessions that still exists; answers how many.

        A whole Principal (`"kind": "principal"`) replaces the updates still waiting: it was
        fetched after them, so a session idle through many events holds one Principal, not many.
        """
        supersedes = "1" if update["kind"] == "principal" else "0"
        payload = packing.pack(update)

        async def push(storage_id: str) -> bool:
            key = self._session_key(storage_id)
            sealed = seal(self._keys.session_update_sealing, payload, key.encode())
            framed = sealed + len(sealed).to_bytes(_LENGTH_BYTES, "big") + UPDATE_MARK
            outcome = await self._append_if_exists(
                keys=[key], args=[framed, MAX_VALUE_BYTES, supersedes, UPDATE_MARK]
            )
            return bool(outcome == 1)

        pushed = 0
        ids = list(storage_ids)
        # A district-wide change reaches every live session of the district: a few at a time.
        for start in range(0, len(ids), _PUSH_BATCH):
            done = await asyncio.gather(*(push(one) for one in ids[start : start + _PUSH_BATCH]))
            pushed += sum(done)
        return pushed

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


def split_updates(value: bytes) -> tuple[bytes, list[bytes]]:
    """The sealed record and the updates framed after it, oldest first (see the module doc)."""
    updates: list[bytes] = []
    end = len(value)
    trailer = len(UPDATE_MARK) + _LENGTH_BYTES
    while end >= trailer and value[end - len(UPDATE_MARK) : end] == UPDATE_MARK:
        length_at = end - trailer
        length = int.from_bytes(value[length_at : length_at + _LENGTH_BYTES], "big")
        if length <= 0 or length > length_at:
            break
        updates.append(value[length_at - length : length_at])
        end = length_at - length
    updates.reverse()
    return value[:end], updates
