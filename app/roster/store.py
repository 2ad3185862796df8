"""Each district's roster in Redis: the copy a full sync writes and a login reads.

Key layout. Every key of a district carries the hash tag `{<district id>}`, as the events cursor
(`{prefix}ev:{<district id>}`) does, so a district's roster, cursor and events lock share one
Cluster slot: a reader gets the cursor with the records, and the script that applies an event
checks the lock:

- `{prefix}ro:{D}`: the pointer, the id of the district's current generation.
- `{prefix}ro:{D}:g:<generation>`: a hash, one generation of the copy. Field `meta` is plain
  JSON (when it was synced, counts, calls spent, the newest event at the start, which key sealed
  it, the STUDENT_FIELDS it was written under: no personal data). Every other field is named
  `<kind><12 bytes of HMAC(naming key, kind:id)>` (kinds: `u` user, `s` section, `r` resource,
  `h` school, `c` course, `t` term, `d` the district) and holds that record sealed (AES-GCM,
  bound to the key and field name). A user's value is prefixed by its *links*, left unsealed so
  that a script can follow them: 13-byte entries, a tag (`T` a section they teach, `E` one they
  are enrolled in, `R` a resource they get, `K` a contact's linked student) then the 12-byte
  name of that record. The links show who shares a section, under names no one can turn back
  into Clever ids without SESSION_SECRET; names, emails and all other fields are sealed.
  Field `event` (plain) is the id of the last event applied to the generation since its sync
  (`apply_event`); readers see it as `CopyInfo.last_event`. A resource's record also holds
  `shared_sections` and `direct_users` (who holds it other than through those sections), which
  section events need to keep the R links as Clever derives them.
- `{prefix}ro:{D}:gens`: the generations written and not yet dropped, for a purge.
- `{prefix}ro:{D}:sync`: a full sync was asked for (`request_sync`: the service API, the CLI);
  the events worker takes the request (`take_sync_request`) and performs it.

Every key has a TTL (`ttl_seconds`, 3 days, renewed by each sync and each applied event; a
generation being written has `building_ttl_seconds` until it is switched to).

Events (app.events.deltas) are applied to the current generation by `apply_event`: one script
per event that checks the caller still holds the district's events lock (`{prefix}ev:{D}:lock`,
same hash tag, same slot), that the generation it sealed for is still current, and that the
event is newer than the last one applied (ids in stream order; the sync's `events_after` counts
as applied): so re-applying an event, or an older one after a newer, changes nothing. Then it
writes the records and links, records the event id and renews the TTLs. The events cursor is
written just after, once the event's effects on live sessions are done (app.events.worker): the
copy may be ahead of the cursor, never behind it.

A sync writes a whole new generation, then one script checks it was not purged meanwhile and
holds every field the sync wrote, and moves the pointer; the generation it replaced is then
dropped. The fields are counted as they are written (field `written`, beside them while the
generation is being written, removed by the switch): after a Sentinel failover, writes the old
master took before it was demoted are lost while the later ones and the switch reach the new
master, and a copy without them would serve people without their sections (the sync fails
instead, with `GenerationIncomplete`, and the previous copy stays). A reader sends one script that
reads the pointer, the person's record, every record it links to and the district's events
cursor: one round trip, and never half of one generation and half of another. Each process
remembers a district's current generation; right after a switch (or on its first read) a read
costs one round trip more.

Size: about 500 bytes per user (MEMORY USAGE of all of a district's keys over its users, default
STUDENT_FIELDS: 511 B at 1,000 students, 493 B at 50,000, tests/roster/test_store.py); while a
sync writes, the district takes twice that.

Records are sealed with the keyring's `roster_sealing` key; `meta` names which secret's key, so a
copy written before SESSION_SECRET was rotated stays readable until the next sync reseals it.
STUDENT_FIELDS and STUDENT_IDENTITY_FIELDS (one policy, app.roster.fieldpolicy) are applied
before a record is sealed; a copy written under another policy than the reader's is not fresh.

Freshness. A login (and a session refresh) builds its Principal from the copy only when
`is_fresh` holds (app.roster.source):
- the last full sync is younger than `MAX_SYNC_AGE` (a day), and
- the district's event stream was read to its end less than `max_events_lag` seconds ago
  (`ROSTER_MAX_EVENTS_LAG`; the events cursor's `seen_until`, app.roster.events_cursor, read
  in the same script as the person's records), every event after `meta.events_after` having
  been applied to the copy, and
- the copy was written under the reader's STUDENT_FIELDS and STUDENT_IDENTITY_FIELDS.
Otherwise, and for a person not in the copy (created since the last poll), the login fetches
live. A `users.deleted` event also calls `delete_user` (every generation, one being written
too); a disconnect or `districts.deleted` calls `purge`. The events worker syncs a district at
first sight, daily, after a lost stream and when `request_sync` asked for it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from app.clever.models import Course, District, Resource, School, Section, Term, User
from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.logs import EventLimiter
from app.redis_client import KEY_PREFIX, RedisClient
from app.roster.events_cursor import cursor_key, parse_cursor
from app.roster.fetch import Roster
from app.roster.fieldpolicy import apply_student_fields, keeps_identity

logger = logging.getLogger("app.roster.store")

DAY = 24 * 3600
TTL_SECONDS = 3 * DAY
BUILDING_TTL_SECONDS = 3600
MAX_SYNC_AGE = DAY
META = b"meta"
EVENT = b"event"
WRITTEN = b"written"
_NAME_BYTES = 12
_LINK_BYTES = 1 + _NAME_BYTES
_LENGTH_BYTES = 4
_WRITE_BATCH = 1000

TEACHES, ENROLLED, RESOURCE, STUDENT = b"T", b"E", b"R", b"K"
_LINK_KINDS = {TEACHES: b"s", ENROLLED: b"s", RESOURCE: b"r", STUDENT: b"u"}

# KEYS: pointer, the generation the caller believes current, the district's events cursor.
# ARGV: that generation, the user's field. Every reply starts {code, cursor (false when none)}:
# {0, c}: no copy; {1, c, gen}: the current generation is another; {2, c, meta}: not in the
# copy; {3, c, meta, value, linked...}: the user's value and each linked record (nil when gone);
# {4, c, meta}: the user's value is not one this store wrote.
_READ = """
local cursor = redis.call('GET', KEYS[3])
local current = redis.call('GET', KEYS[1])
if not current then return {0, cursor} end
if current ~= ARGV[1] then return {1, cursor, current} end
local meta = redis.call('HGET', KEYS[2], 'meta')
if not meta then return {0, cursor} end
local event = redis.call('HGET', KEYS[2], 'event')
if event then meta = string.sub(meta, 1, -2) .. ',"last_event":' .. cjson.encode(event) .. '}' end
local head = redis.call('HGET', KEYS[2], ARGV[2])
if not head then return {2, cursor, meta} end
if string.len(head) < 4 then return {4, cursor, meta} end
local b1, b2, b3, b4 = string.byte(head, 1, 4)
local n = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
if n % 13 ~= 0 or string.len(head) < 4 + n then return {4, cursor, meta} end
local kinds = {T = 's', E = 's', R = 'r', K = 'u'}
local reply = {3, cursor, meta, head}
local fields = {}
for i = 5, 4 + n - 1, 13 do
    fields[#fields + 1] = kinds[string.sub(head, i, i)] .. string.sub(head, i + 1, i + 12)
    if #fields == 500 then
        for _, value in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do reply[#reply + 1] = value end
        fields = {}
    end
end
if #fields > 0 then
    for _, value in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do reply[#reply + 1] = value end
end
return reply
"""

# KEYS: pointer, generations set, the new generation. ARGV: its id, meta, TTL, how many fields
# were written to it. Switches the pointer unless the district was purged since the generation
# began (false) or the generation lacks some of what was written (0); answers the one replaced
# ("" when none).
_COMMIT = """
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return false end
if (tonumber(redis.call('HGET', KEYS[3], 'written')) or 0) ~= tonumber(ARGV[4]) then return 0 end
redis.call('HDEL', KEYS[3], 'written')
redis.call('HSET', KEYS[3], 'meta', ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[3])
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return old or ''
"""


# KEYS: pointer, the generation the writer sealed for, the generations set, the district's
# events lock. ARGV: that generation, the event id, TTL, the lock's owner token, then the
# operations, each a letter and its arguments:
#   P field value            set a record (a section, resource, school, course, term, district)
#   D field                  remove a record
#   U field sealed tags new  set a user's sealed record; of its links, those with a tag in `tags`
#                            are replaced by `new` (whole 13-byte entries), the others kept
#   L field drop add         a user's links: entries in `drop` go, entries in `add` are added
#                            (nothing when the user is not in the copy)
#   R entry holders          every user's link `entry` (an R entry) is present exactly when the
#                            user is among `holders` (user field names, concatenated)
#   H entry via n (field direct)*n   for each of the n users: the link `entry` (an R entry) is
#                            present exactly when `direct` is "1" or the user has one of the
#                            links in `via` (the T/E entries of the sections that confer it)
# {-1}: the lock is not ours; {0}: no copy; {1, gen}: the current generation is another;
# {2}: the copy already reflects this event or a newer one; {3}: applied.
_APPLY = """
if redis.call('GET', KEYS[4]) ~= ARGV[4] then return {-1} end
local current = redis.call('GET', KEYS[1])
if not current then return {0} end
if current ~= ARGV[1] then return {1, current} end
local meta = redis.call('HGET', KEYS[2], 'meta')
if not meta then return {0} end
local id = ARGV[2]
local last = redis.call('HGET', KEYS[2], 'event')
if not last then
    local ok, decoded = pcall(cjson.decode, meta)
    if ok and type(decoded) == 'table' and type(decoded.events_after) == 'string' then
        last = decoded.events_after
    end
end
if last and not (#id > #last or (#id == #last and id > last)) then return {2} end
local function split(value)
    if not value or string.len(value) < 4 then return nil end
    local b1, b2, b3, b4 = string.byte(value, 1, 4)
    local n = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    if n % 13 ~= 0 or string.len(value) < 4 + n then return nil end
    local entries = {}
    for i = 5, 4 + n - 1, 13 do entries[#entries + 1] = string.sub(value, i, i + 12) end
    return entries, string.sub(value, 5 + n)
end
local function join(entries, sealed)
    local index = table.concat(entries)
    local n = string.len(index)
    return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
        math.floor(n / 256) % 256, n % 256) .. index .. sealed
end
local function chunks(value)
    local out = {}
    for i = 1, string.len(value), 13 do out[#out + 1] = string.sub(value, i, i + 12) end
    return out
end
-- The user `field` (its links `entries`, its `sealed` record) holds the link `entry` or not, as
-- `wanted` says: written only when that changes.
local function hold(field, entries, sealed, entry, wanted)
    local has = false
    local kept = {}
    for _, e in ipairs(entries) do
        if e == entry then has = true else kept[#kept + 1] = e end
    end
    if has ~= wanted then
        if wanted then kept[#kept + 1] = entry end
        redis.call('HSET', KEYS[2], field, join(kept, sealed))
    end
end
local i = 5
while i <= #ARGV do
    local op = ARGV[i]
    if op == 'P' then
        redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
        i = i + 3
    elseif op == 'D' then
        redis.call('HDEL', KEYS[2], ARGV[i + 1])
        i = i + 2
    elseif op == 'U' then
        local field, sealed, tags = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
        local kept = {}
        local old = split(redis.call('HGET', KEYS[2], field))
        for _, entry in ipairs(old or {}) do
            if not string.find(tags, string.sub(entry, 1, 1), 1, true) then kept[#kept + 1] = entry end
        end
        for _, entry in ipairs(chunks(ARGV[i + 4])) do kept[#kept + 1] = entry end
        redis.call('HSET', KEYS[2], field, join(kept, sealed))
        i = i + 5
    elseif op == 'L' then
        local field = ARGV[i + 1]
        local entries, sealed = split(redis.call('HGET', KEYS[2], field))
        if entries then
            local gone = {}
            for _, entry in ipairs(chunks(ARGV[i + 2])) do gone[entry] = true end
            local adding = chunks(ARGV[i + 3])
            for _, entry in ipairs(adding) do gone[entry] = true end
            local kept = {}
            for _, entry in ipairs(entries) do
                if not gone[entry] then kept[#kept + 1] = entry end
            end
            for _, entry in ipairs(adding) do kept[#kept + 1] = entry end
            redis.call('HSET', KEYS[2], field, join(kept, sealed))
        end
        i = i + 4
    elseif op == 'R' then
        local entry = ARGV[i + 1]
        local holders = {}
        for _, name in ipairs(chunks(ARGV[i + 2])) do holders[name] = true end
        local cursor = '0'
        repeat
            local page = redis.call('HSCAN', KEYS[2], cursor, 'MATCH', 'u*', 'COUNT', 1000)
            cursor = page[1]
            local found = page[2]
            for j = 1, #found, 2 do
                local field = found[j]
                local entries, sealed = split(found[j + 1])
                if entries then hold(field, entries, sealed, entry, holders[field] == true) end
            end
        until cursor == '0'
        i = i + 3
    elseif op == 'H' then
        local entry = ARGV[i + 1]
        local via = {}
        for _, e in ipairs(chunks(ARGV[i + 2])) do via[e] = true end
        local n = tonumber(ARGV[i + 3])
        for j = 0, n - 1 do
            local field = ARGV[i + 4 + 2 * j]
            local entries, sealed = split(redis.call('HGET', KEYS[2], field))
            if entries then
                local wanted = ARGV[i + 5 + 2 * j] == '1'
                for _, e in ipairs(entries) do
                    if via[e] then wanted = true end
                end
                hold(field, entries, sealed, entry, wanted)
            end
        end
        i = i + 4 + 2 * n
    else
        return redis.error_reply('unknown roster operation')
    end
end
redis.call('HSET', KEYS[2], 'event', id)
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {3}
"""


class GenerationIncomplete(RedisError):
    """A generation lacks fields its sync wrote (writes lost in a Redis failover): not switched to."""

    def __init__(self, district_id: str) -> None:
        super().__init__("the new copy lacks writes Redis acknowledged; not switched to")
        self.district_id = district_id


class DistrictPurged(Exception):
    """A new generation of the district's copy is no longer listed when it is switched to: the
    district was purged while it was written, or Redis lost the write that listed it (a failover
    right after the sync began). Either way nothing was switched."""

    def __init__(self, district_id: str) -> None:
        super().__init__("district purged, or its new copy unlisted, while the copy was being written")
        self.district_id = district_id


@dataclass(frozen=True, slots=True)
class CopyInfo:
    """What `meta` says of a district's copy."""

    generation: str
    synced_at: float
    seconds: float
    calls: int
    counts: Mapping[str, int]
    events_after: str | None
    student_fields: frozenset[str]
    key_id: str
    # The newest event applied to the copy since the sync (None: none yet); not part of `meta`
    # as the sync writes it, but kept beside it (field `event`) by `apply_event`.
    last_event: str | None = None

    def as_json(self) -> bytes:
        return orjson.dumps(
            {
                "generation": self.generation,
                "synced_at": self.synced_at,
                "seconds": self.seconds,
                "calls": self.calls,
                "counts": dict(self.counts),
                "events_after": self.events_after,
                "student_fields": sorted(self.student_fields),
                "key": self.key_id,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> CopyInfo | None:
        try:
            value = orjson.loads(raw)
            return cls(
                generation=str(value["generation"]),
                synced_at=float(value["synced_at"]),
                seconds=float(value["seconds"]),
                calls=int(value["calls"]),
                counts={str(k): int(v) for k, v in value["counts"].items()},
                events_after=value["events_after"] if isinstance(value["events_after"], str) else None,
                student_fields=frozenset(str(name) for name in value["student_fields"]),
                key_id=str(value["key"]),
                last_event=value["last_event"] if isinstance(value.get("last_event"), str) else None,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


def is_fresh(
    info: CopyInfo,
    *,
    events_seen_until: float | None,
    now: float,
    max_events_lag: float,
    student_fields: frozenset[str],
    max_sync_age: float = MAX_SYNC_AGE,
) -> bool:
    """The freshness rule of the module docstring."""
    return (
        now - info.synced_at < max_sync_age
        and events_seen_until is not None
        and now - events_seen_until < max_events_lag
        and info.student_fields == student_fields
    )


@dataclass(frozen=True, slots=True)
class StoredRoster:
    """A person's roster from the copy, what the copy says of itself, and the district's events
    cursor's `seen_until` read with it (None when there is no readable cursor)."""

    roster: Roster
    info: CopyInfo
    events_seen_until: float | None = None


# Why the copy gave no roster for a person.
MissReason = Literal["no_copy", "not_in_copy", "unreadable"]


@dataclass(frozen=True, slots=True)
class StoreMiss:
    """Why the copy gave no roster, with what it said of itself when it said anything."""

    reason: MissReason
    info: CopyInfo | None = None
    events_seen_until: float | None = None


@dataclass(frozen=True, slots=True)
class _Keys:
    """One secret's keys for the store: sealing, naming, and the id `meta` records."""

    sealing: bytes
    naming: bytes
    key_id: str

    @classmethod
    def of(cls, keyring: Keyring) -> _Keys:
        sealing = keyring.roster_sealing
        # Separate keys for names and for the id, so the AES key never doubles as an HMAC key.
        naming = hmac.new(sealing, b"clever-login roster names v1", hashlib.sha256).digest()
        key_id = hmac.new(sealing, b"clever-login roster key id v1", hashlib.sha256).hexdigest()[:16]
        return cls(sealing, naming, key_id)

    def name(self, kind: bytes, record_id: str) -> bytes:
        return _name(self.naming, kind, record_id)


@functools.lru_cache(maxsize=1 << 16)
def _name(naming: bytes, kind: bytes, record_id: str) -> bytes:
    # Cached: an event that touches a section names its members and the sections that confer
    # its resources again and again.
    digest = hmac.new(naming, kind + b":" + record_id.encode(), hashlib.sha256).digest()
    return kind + digest[:_NAME_BYTES]


class RosterStore:
    """The districts' roster copies in Redis (layout and rules in the module docstring)."""

    def __init__(
        self,
        redis: RedisClient,
        keyring: Keyring,
        *,
        prefix: str = KEY_PREFIX,
        ttl_seconds: int = TTL_SECONDS,
        building_ttl_seconds: int = BUILDING_TTL_SECONDS,
    ) -> None:
        self._redis = redis
        self._keys = tuple(_Keys.of(keys) for keys in keyring.generations)
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._building_ttl = building_ttl_seconds
        self._read = redis.register_script(_READ)
        self._commit = redis.register_script(_COMMIT)
        self._apply = redis.register_script(_APPLY)
        # district id -> the generation last seen current (saves a round trip per read)
        self._current: dict[str, str] = {}
        # A broken copy is met by every login of its district until the next sync: one line
        # per kind a second is enough (the logins are counted by reason: app.web.metrics).
        self._warnings = EventLimiter()

    # -- names -------------------------------------------------------------------------------

    def pointer_key(self, district_id: str) -> str:
        if "{" in district_id or "}" in district_id or not district_id:
            raise ValueError("not a district id")
        return f"{self._prefix}ro:{{{district_id}}}"

    def generation_key(self, district_id: str, generation: str) -> str:
        return f"{self.pointer_key(district_id)}:g:{generation}"

    def generations_key(self, district_id: str) -> str:
        return f"{self.pointer_key(district_id)}:gens"

    def sync_request_key(self, district_id: str) -> str:
        return f"{self.pointer_key(district_id)}:sync"

    # -- asking for a sync -------------------------------------------------------------------

    async def request_sync(self, district_id: str) -> bool:
        """Ask the events worker for a full sync of the district; False when one is already
        asked for and not yet taken."""
        return bool(await self._redis.set(self.sync_request_key(district_id), b"1", nx=True, ex=DAY))

    async def take_sync_request(self, district_id: str) -> bool:
        """Whether a sync was asked for; the request is gone afterwards (one taker)."""
        return bool(await self._redis.delete(self.sync_request_key(district_id)))

    # -- writing -----------------------------------------------------------------------------

    async def new_generation(self, district_id: str, *, student_fields: frozenset[str]) -> NewGeneration:
        """A generation to fill and `commit`; until then readers keep the current one."""
        generation = secrets.token_hex(8)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(self.generations_key(district_id), generation)
            pipe.expire(self.generations_key(district_id), self._ttl)
            await pipe.execute()
        return NewGeneration(self, district_id, generation, self._keys[0], student_fields)

    async def _write(self, key: str, fields: Mapping[bytes, bytes]) -> None:
        items = list(fields.items())
        for start in range(0, len(items), _WRITE_BATCH):
            batch = items[start : start + _WRITE_BATCH]
            async with self._redis.pipeline(transaction=False) as pipe:
                # HSET and its TTL together: no moment where the key exists without one. The
                # count after the fields, on the same server: it never counts a field not there.
                pipe.hset(key, mapping=dict(batch))
                pipe.hincrby(key, WRITTEN, len(batch))
                pipe.expire(key, self._building_ttl)
                await pipe.execute()

    async def _switch(self, district_id: str, generation: str, info: CopyInfo, written: int) -> None:
        pointer, gens = self.pointer_key(district_id), self.generations_key(district_id)
        replaced = await self._commit(
            keys=[pointer, gens, self.generation_key(district_id, generation)],
            args=[generation, info.as_json(), self._ttl, written],
        )
        if replaced == 0:
            logger.warning(
                "a new roster copy lacks fields its sync wrote (lost in a Redis failover); "
                "the previous copy stays in use",
                extra={"event": "roster_generation_incomplete", "district": district_id},
            )
            raise GenerationIncomplete(district_id)
        if replaced is None:
            await self._redis.delete(self.generation_key(district_id, generation))
            raise DistrictPurged(district_id)
        self._current[district_id] = generation
        old = replaced.decode() if isinstance(replaced, bytes) else str(replaced)
        await self._drop_others(district_id, keep=generation, also=old)

    async def _drop_others(self, district_id: str, *, keep: str, also: str) -> None:
        """Drop the generation replaced, and forget generations whose key has expired (an
        interrupted sync's); one still being written by another sync is left alone."""
        gens = self.generations_key(district_id)
        members = [m.decode() for m in await self._redis.smembers(gens) if isinstance(m, bytes)]
        others = [m for m in members if m != keep]
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for generation in others:
                pipe.exists(self.generation_key(district_id, generation))
            alive = await pipe.execute()
        gone = [g for g, exists in zip(others, alive, strict=True) if not exists or g == also]
        if also:
            await self._redis.unlink(self.generation_key(district_id, also))
        if gone:
            await self._redis.srem(gens, *gone)

    async def _discard(self, district_id: str, generation: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.unlink(self.generation_key(district_id, generation))
            pipe.srem(self.generations_key(district_id), generation)
            await pipe.execute()

    # -- applying an event -------------------------------------------------------------------

    async def apply_event(
        self,
        district_id: str,
        event_id: str,
        write: Callable[[CopyWriter], None],
        *,
        lock_key: str,
        lock_owner: str,
    ) -> Applied:
        """Apply one event to the district's current copy, in one script: `write` says what
        changes (it is called again should a sync switch generations meanwhile), the copy
        records `event_id` as the last applied and every key of the copy gets its TTL anew.
        Only while `lock_owner` holds the district's events lock (`lock_key`, same hash tag);
        an event no newer than the last one applied changes nothing (ids in stream order)."""
        for _ in range(3):
            info = await self.info(district_id)
            if info is None:
                return "no_copy"
            keys = self._keys_of(info)
            if keys is None:
                return "no_copy"  # sealed under a secret no longer held: the next sync replaces it
            writer = CopyWriter(self, district_id, info.generation, keys, info.student_fields)
            write(writer)
            reply = await self._apply(
                keys=[
                    self.pointer_key(district_id),
                    self.generation_key(district_id, info.generation),
                    self.generations_key(district_id),
                    lock_key,
                ],
                args=[info.generation, event_id, self._ttl, lock_owner, *writer.ops],
            )
            code = int(reply[0])
            if code == 1:
                continue  # switched since `info`: seal for the new generation
            return _APPLIED[code]
        return "no_copy"

    # -- removing ----------------------------------------------------------------------------

    async def purge(self, district_id: str) -> int:
        """Remove the district's copy, every generation of it; answers how many keys went."""
        self._current.pop(district_id, None)
        gens = self.generations_key(district_id)
        members = [m.decode() for m in await self._redis.smembers(gens) if isinstance(m, bytes)]
        keys = [self.pointer_key(district_id), gens, self.sync_request_key(district_id)]
        keys += [self.generation_key(district_id, generation) for generation in members]
        return int(await self._redis.delete(*keys))

    async def delete_user(self, district_id: str, user_id: str) -> bool:
        """Remove one person from every generation of the district's copy."""
        gens = self.generations_key(district_id)
        members = [m.decode() for m in await self._redis.smembers(gens) if isinstance(m, bytes)]
        if not members:
            return False
        async with self._redis.pipeline(transaction=False) as pipe:
            for generation in members:
                fields = [keys.name(b"u", user_id) for keys in self._keys]
                pipe.hdel(self.generation_key(district_id, generation), *fields)
            removed = await pipe.execute()
        return any(removed)

    # -- reading -----------------------------------------------------------------------------

    async def info(self, district_id: str) -> CopyInfo | None:
        """What the district's current copy says of itself, or None when there is none."""
        pointer = self.pointer_key(district_id)
        current = await self._redis.get(pointer)
        if not isinstance(current, bytes):
            return None
        raw, event = await self._redis.hmget(
            self.generation_key(district_id, current.decode()), [META, EVENT]
        )
        info = CopyInfo.from_json(raw) if isinstance(raw, bytes) else None
        if info is None or info.generation != current.decode():
            return None
        return replace(info, last_event=event.decode()) if isinstance(event, bytes) else info

    async def read_record(self, district_id: str, kind: str, record_id: str) -> dict[str, Any] | None:
        """One record of the current copy as stored (`kind`: districts, schools, courses, terms,
        sections, resources), or None when the copy has none or it does not unseal."""
        info = await self.info(district_id)
        keys = self._keys_of(info)
        if info is None or keys is None:
            return None
        letter = b"r" if kind == "resources" else _KIND_LETTERS[kind]
        name = keys.name(letter, record_id)
        gen_key = self.generation_key(district_id, info.generation)
        sealed = await self._redis.hget(gen_key, name)
        if not isinstance(sealed, bytes):
            return None
        try:
            record = _unseal(keys, gen_key.encode(), name, sealed)
        except (SealBroken, ValueError):
            return None
        return record if isinstance(record, dict) else None

    async def resources(self, district_id: str) -> tuple[str, list[dict[str, Any]]] | None:
        """The current generation and every resource record of it as stored (with
        `shared_sections` and `direct_users`), or None when there is no copy; records that do
        not unseal are left out."""
        found = await self.records(district_id, "resources")
        return (found[0].generation, found[1]) if found is not None else None

    async def records(self, district_id: str, kind: str) -> tuple[CopyInfo, list[dict[str, Any]]] | None:
        """What the current copy says of itself and every record of `kind` in it as stored
        (kinds as `read_record`), or None when there is no copy; records that do not unseal are
        left out. One scan of the whole generation: for what is read rarely (a resource event,
        the district directory), never on every login."""
        info = await self.info(district_id)
        keys = self._keys_of(info)
        if info is None or keys is None:
            return None
        letter = b"r" if kind == "resources" else _KIND_LETTERS[kind]
        gen_key = self.generation_key(district_id, info.generation)
        records: list[dict[str, Any]] = []
        async for name, sealed in self._redis.hscan_iter(gen_key, match=letter + b"*", count=1000):
            if not isinstance(name, bytes) or len(name) != 1 + _NAME_BYTES or not isinstance(sealed, bytes):
                continue
            try:
                record = _unseal(keys, gen_key.encode(), name, sealed)
            except (SealBroken, ValueError):
                continue
            if isinstance(record, dict):
                records.append(record)
        return info, records

    def cursor_key(self, district_id: str) -> str:
        """The district's events cursor (app.roster.events_cursor), read beside its copy."""
        return cursor_key(self._prefix, district_id)

    async def read_user(self, district_id: str, user_id: str) -> StoredRoster | None:
        """The person's roster from the current copy (see `read`), or None."""
        found = await self.read(district_id, user_id)
        return found if isinstance(found, StoredRoster) else None

    async def read(self, district_id: str, user_id: str) -> StoredRoster | StoreMiss:
        """The person's roster from the current copy with the district's events cursor, in one
        round trip (two right after a switch, or for a copy sealed before SESSION_SECRET was
        rotated); else why not: no copy, the person is not in it, or it does not unseal.
        Whether the copy is fresh enough to use is the caller's to judge (`is_fresh`)."""
        try:
            pointer = self.pointer_key(district_id)
        except ValueError:
            return StoreMiss("no_copy")  # no district id we would have stored a copy under
        cursor = self.cursor_key(district_id)
        generation = self._current.get(district_id, "")
        keys = self._keys[0]
        for _ in range(3):
            gen_key = self.generation_key(district_id, generation or "-")
            reply = await self._read(
                keys=[pointer, gen_key, cursor], args=[generation, keys.name(b"u", user_id)]
            )
            code = int(reply[0])
            read_cursor = parse_cursor(reply[1]) if isinstance(reply[1], bytes) else None
            seen_until = read_cursor.seen_until if read_cursor is not None else None
            if code == 0:
                self._current.pop(district_id, None)
                return StoreMiss("no_copy", events_seen_until=seen_until)
            if code == 1:
                generation = reply[2].decode()
                self._current[district_id] = generation
                continue
            info = CopyInfo.from_json(reply[2])
            if info is None:
                self._warn(
                    "a roster copy's meta does not parse; the copy is not used", "roster_meta_unreadable"
                )
                return StoreMiss("unreadable", events_seen_until=seen_until)
            sealed_with = self._keys_of(info)
            if sealed_with is None:
                # Sealed under a secret no longer held.
                return StoreMiss("unreadable", info, seen_until)
            if sealed_with is not keys:
                keys = sealed_with  # its names are that secret's: ask again with them
                continue
            if code == 2:
                return StoreMiss("not_in_copy", info, seen_until)
            if code == 4:
                self._warn("a roster record is malformed; the copy is not used", "roster_malformed")
                return StoreMiss("unreadable", info, seen_until)
            try:
                roster = _open(district_id, user_id, gen_key.encode(), keys, reply[3], reply[4:], info)
            except (SealBroken, ValueError, ValidationError):
                self._warn(
                    "a roster record does not unseal or parse; the copy is not used", "roster_unsealable"
                )
                return StoreMiss("unreadable", info, seen_until)
            return StoredRoster(roster, info, seen_until)
        return StoreMiss("unreadable")

    def _keys_of(self, info: CopyInfo | None) -> _Keys | None:
        """The keys `info`'s copy was sealed with, when this store holds them (SESSION_SECRET's,
        or a previous secret's)."""
        return next((k for k in self._keys if info is not None and k.key_id == info.key_id), None)

    def can_unseal(self, info: CopyInfo) -> bool:
        """Whether this store can read the copy `info` describes: a copy sealed under a secret
        no longer held serves no login until a sync replaces it."""
        return self._keys_of(info) is not None

    def _warn(self, message: str, event: str) -> None:
        self._warnings.log(logger, logging.WARNING, message, {"event": event})


Applied = Literal["applied", "no_copy", "already", "lock_lost"]
_APPLIED: dict[int, Applied] = {-1: "lock_lost", 0: "no_copy", 2: "already", 3: "applied"}


@dataclass(eq=False)
class _Sealer:
    """Names and seals records for one generation of a district's copy."""

    _store: RosterStore
    district_id: str
    generation: str
    _keys: _Keys
    _student_fields: frozenset[str]
    _key: str = field(init=False)

    def __post_init__(self) -> None:
        self._key = self._store.generation_key(self.district_id, self.generation)

    def _seal(self, name: bytes, record: Mapping[str, Any]) -> bytes:
        return seal(self._keys.sealing, orjson.dumps(record), self._key.encode() + b"\x00" + name)

    def _index(self, links: Iterable[tuple[bytes, str]]) -> bytes:
        return b"".join(tag + self._keys.name(_LINK_KINDS[tag], linked)[1:] for tag, linked in links)


@dataclass(eq=False)
class CopyWriter(_Sealer):
    """What one event changes in the current generation (see `RosterStore.apply_event`): each
    call adds an operation of the apply script."""

    ops: list[bytes] = field(default_factory=list, init=False)

    def put(self, kind: str, record: District | School | Course | Term | Section) -> None:
        name = self._keys.name(_KIND_LETTERS[kind], record.id)
        self.ops += [b"P", name, self._seal(name, _compact(record))]

    def put_resource(
        self, resource: Resource, shared_sections: Sequence[str], direct_users: Sequence[str]
    ) -> None:
        name = self._keys.name(b"r", resource.id)
        record = _resource_record(resource, shared_sections, direct_users)
        self.ops += [b"P", name, self._seal(name, record)]

    def remove(self, kind: str, record_id: str) -> None:
        letter = b"u" if kind == "users" else b"r" if kind == "resources" else _KIND_LETTERS[kind]
        self.ops += [b"D", self._keys.name(letter, record_id)]

    def put_user(self, user: User) -> None:
        """The user's record; a contact's student links follow its relationships (to students in
        the copy or not yet: app.roster.sync says why), the other links stay as they are."""
        name = self._keys.name(b"u", user.id)
        students: list[tuple[bytes, str]] = []
        if user.roles.contact is not None:
            linked = dict.fromkeys(link.student for link in user.roles.contact.student_relationships)
            students = [(STUDENT, student) for student in linked if student]
        sealed = self._seal(name, _user_record(user, self._student_fields))
        self.ops += [b"U", name, sealed, STUDENT, self._index(students)]

    def relink(
        self, user_id: str, *, drop: Iterable[tuple[bytes, str]] = (), add: Iterable[tuple[bytes, str]] = ()
    ) -> None:
        """Links of a user in the copy: `drop` removed, `add` added (tag, record id)."""
        self.ops += [b"L", self._keys.name(b"u", user_id), self._index(drop), self._index(add)]

    def holders(self, resource_id: str, user_ids: Iterable[str]) -> None:
        """Exactly these users get the resource (an R link), no one else in the copy."""
        entry = self._index([(RESOURCE, resource_id)])
        names = b"".join(self._keys.name(b"u", user_id) for user_id in dict.fromkeys(user_ids))
        self.ops += [b"R", entry, names]

    def holding(
        self,
        resource_id: str,
        user_ids: Iterable[str],
        *,
        direct: Iterable[str],
        via: Iterable[tuple[bytes, str]],
    ) -> None:
        """Each of `user_ids` gets the resource (an R link) when among `direct` or holding one
        of `via`: the (T or E, section id) links that confer it; evaluated after the operations
        before."""
        entry = self._index([(RESOURCE, resource_id)])
        held, people = set(direct), list(dict.fromkeys(user_ids))
        self.ops += [b"H", entry, self._index(via), str(len(people)).encode()]
        for person in people:
            self.ops += [self._keys.name(b"u", person), b"1" if person in held else b"0"]


@dataclass(eq=False)
class NewGeneration(_Sealer):
    """A generation being written: `put_*`, then `commit`, or `discard` (also on any error, by
    the caller: see app.roster.sync)."""

    counts: dict[str, int] = field(default_factory=dict, init=False)
    # Fields written so far: what the generation must hold at the switch.
    written: int = field(default=0, init=False)

    async def _put(self, fields: Mapping[bytes, bytes]) -> None:
        await self._store._write(self._key, fields)
        self.written += len(fields)

    async def put(self, kind: str, records: Sequence[District | School | Course | Term | Section]) -> None:
        """The district, schools, courses, terms or sections (`kind`), as `_compact` keeps them."""
        letter = _KIND_LETTERS[kind]
        fields: dict[bytes, bytes] = {}
        for record in records:
            name = self._keys.name(letter, record.id)
            fields[name] = self._seal(name, _compact(record))
        await self._put(fields)
        self.counts[kind] = self.counts.get(kind, 0) + len(records)

    async def put_resource_shares(
        self, resources: Sequence[Resource], shared: Mapping[str, list[str]], direct: Mapping[str, list[str]]
    ) -> None:
        """Resources, each with the ids of the sections it is shared with and of the users who
        hold it other than through those sections."""
        fields: dict[bytes, bytes] = {}
        for resource in resources:
            name = self._keys.name(b"r", resource.id)
            record = _resource_record(resource, shared.get(resource.id, []), direct.get(resource.id, []))
            fields[name] = self._seal(name, record)
        await self._put(fields)
        self.counts["resources"] = self.counts.get("resources", 0) + len(resources)

    async def put_users(
        self, users: Sequence[User], links: Mapping[str, Sequence[tuple[bytes, str]]]
    ) -> None:
        """Users, each with its links: (tag, record id) pairs, tags as in the module docstring."""
        fields: dict[bytes, bytes] = {}
        for user in users:
            name = self._keys.name(b"u", user.id)
            index = self._index(links.get(user.id, ()))
            sealed = self._seal(name, _user_record(user, self._student_fields))
            fields[name] = len(index).to_bytes(_LENGTH_BYTES, "big") + index + sealed
        await self._put(fields)
        self.counts["users"] = self.counts.get("users", 0) + len(users)

    async def commit(
        self, *, synced_at: float, seconds: float, calls: int, events_after: str | None
    ) -> CopyInfo:
        """Switch readers to this generation (raises DistrictPurged if the district was purged,
        GenerationIncomplete if it lacks some of what was written)."""
        info = CopyInfo(
            generation=self.generation,
            synced_at=synced_at,
            seconds=seconds,
            calls=calls,
            counts=dict(self.counts),
            events_after=events_after,
            student_fields=self._student_fields,
            key_id=self._keys.key_id,
        )
        await self._store._switch(self.district_id, self.generation, info, self.written)
        return info

    async def discard(self) -> None:
        await self._store._discard(self.district_id, self.generation)


_KIND_LETTERS = {
    "districts": b"d",
    "schools": b"h",
    "courses": b"c",
    "terms": b"t",
    "sections": b"s",
}

# What is kept of each kind: what a Principal needs, and for the rest what names the record,
# never a person's contact details (a school's principal, a district's contact).
_KEEP: dict[type[BaseModel], frozenset[str]] = {
    Section: frozenset({"id", "name", "subject", "grade", "period", "school", "course", "term_id"}),
    Resource: frozenset({"id", "resource_id", "title", "roles"}),
    School: frozenset({"id", "name", "school_number", "sis_id", "low_grade", "high_grade"}),
    Course: frozenset({"id", "name", "number"}),
    Term: frozenset({"id", "name", "start_date", "end_date"}),
    # `portal_url`: where the district directory sends people back to (app.roster.directory).
    District: frozenset({"id", "name", "state", "last_sync", "sis_type", "portal_url"}),
}


def _resource_record(
    resource: Resource, shared_sections: Sequence[str], direct_users: Sequence[str]
) -> dict[str, Any]:
    return {
        **_compact(resource),
        "shared_sections": list(shared_sections),
        "direct_users": list(direct_users),
    }


def _compact(record: BaseModel) -> dict[str, Any]:
    return record.model_dump(mode="json", include=set(_KEEP[type(record)]), exclude_none=True)


def _truthy(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value}


def _user_record(user: User, student_fields: frozenset[str]) -> dict[str, Any]:
    """What a Principal needs of a person (app.roster.principal), STUDENT_FIELDS applied; the
    district is the copy's own."""
    roles: dict[str, Any] = {}
    held = user.roles
    if held.district_admin is not None:
        roles["district_admin"] = _truthy(held.district_admin.model_dump(include={"legacy_id", "title"}))
    if held.staff is not None:
        fields = {"legacy_id", "schools", "roles", "title", "department"}
        roles["staff"] = _truthy(held.staff.model_dump(include=fields))
    if held.teacher is not None:
        roles["teacher"] = _truthy(held.teacher.model_dump(include={"legacy_id", "schools", "title"}))
    if held.student is not None:
        sent = held.student.model_dump(mode="json", exclude_unset=True)
        student = apply_student_fields(sent, student_fields)
        # The Principal names every role's legacy id (`user.legacy_ids`), whatever STUDENT_FIELDS.
        if held.student.legacy_id:
            student["legacy_id"] = held.student.legacy_id
        roles["student"] = student
    if held.contact is not None:
        links = [link.model_dump(exclude_none=True) for link in held.contact.student_relationships]
        roles["contact"] = _truthy({"legacy_id": held.contact.legacy_id, "student_relationships": links})
    record: dict[str, Any] = {"id": user.id, "roles": roles}
    # STUDENT_IDENTITY_FIELDS, as the Principal applies it: withheld before sealing.
    is_student = held.student is not None
    named = user.name.model_dump()
    if is_student and not keeps_identity("last_name", student_fields):
        named.pop("last", None)
    if name := _truthy(named):
        record["name"] = name
    if user.email and (not is_student or keeps_identity("email", student_fields)):
        record["email"] = user.email
    return record


def _unseal(keys: _Keys, gen_key: bytes, name: bytes, sealed: bytes) -> Any:
    return orjson.loads(unseal(keys.sealing, sealed, gen_key + b"\x00" + name))


def _links(index: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, field name) of each link in a user's value."""
    if len(index) % _LINK_BYTES:
        raise ValueError("links are not whole")
    return [
        (index[i : i + 1], _LINK_KINDS[index[i : i + 1]] + index[i + 1 : i + _LINK_BYTES])
        for i in range(0, len(index), _LINK_BYTES)
    ]


def _split_user(value: bytes) -> tuple[bytes, bytes]:
    """A user's links and sealed record."""
    length = int.from_bytes(value[:_LENGTH_BYTES], "big")
    if len(value) < _LENGTH_BYTES + length:
        raise ValueError("links cut short")
    return value[_LENGTH_BYTES : _LENGTH_BYTES + length], value[_LENGTH_BYTES + length :]


def _open(
    district_id: str,
    user_id: str,
    gen_key: bytes,
    keys: _Keys,
    head: bytes,
    linked: Iterable[bytes | None],
    info: CopyInfo,
) -> Roster:
    index, sealed = _split_user(head)
    record = _unseal(keys, gen_key, keys.name(b"u", user_id), sealed)
    user = User.model_validate({**record, "district": district_id})
    if user.id != user_id:
        raise ValueError("record of another user")
    sections: dict[str, Section] = {}
    resources: dict[str, Resource] = {}
    students: dict[str, User] = {}
    for (tag, name), value in zip(_links(index), linked, strict=True):
        if value is None:
            continue  # removed since the sync
        data = _unseal(keys, gen_key, name, _split_user(value)[1] if tag == STUDENT else value)
        if tag in (TEACHES, ENROLLED):
            # Of the section's members, only this person's part: all a Principal asks of it.
            part = {"teachers": [user_id]} if tag == TEACHES else {"students": [user_id]}
            sections[data["id"]] = Section.model_validate({**data, **part, "district": district_id})
        elif tag == RESOURCE:
            data.pop("shared_sections", None)
            data.pop("direct_users", None)
            resources[data["id"]] = Resource.model_validate({**data, "district": district_id})
        else:
            student = User.model_validate({**data, "district": district_id})
            if student.roles.student is not None:
                students[student.id] = student
    return Roster(
        user=user,
        sections=[sections[i] for i in sorted(sections)],
        resources=[resources[i] for i in sorted(resources)],
        students=[students[i] for i in sorted(students)] if user.roles.contact is not None else [],
        fetched_at=info.synced_at,
        source="store",
        synced_at=info.synced_at,
    )
