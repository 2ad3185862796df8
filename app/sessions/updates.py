"""Roster updates to live sessions: how they are framed after a session's record, sealed, and
applied when the session is next read.

The events worker (`app.events`) cannot read or re-seal a record: only the ticket carries its
key. It leaves *updates* after the record instead, each sealed with the keyring's
`session_update_sealing` key and bound to the session's key name, framed from the end:

    <sealed record> [<sealed update> <its length, 4 bytes big-endian> UPDATE_MARK]...

An update is appended only while the key exists (a script, so an ended session is never revived
and the TTL is kept). `SessionStore.load` peels the updates off, applies those newer than the
roster version the record reflects, and writes the record back without them: a second command,
only when updates were waiting. A value that would grow past `MAX_VALUE_BYTES` ends the session
instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from collections.abc import Iterable
from typing import Any

from app.crypto.keyring import Keyring
from app.crypto.sealing import SealBroken, seal, unseal
from app.redis_client import RedisClient
from app.roster.principal import RosterUpdate, apply_roster_update
from app.sessions import packing
from app.sessions.packing import SessionRecord

logger = logging.getLogger("app.sessions")

UPDATE_MARK = b"\x00clu1\x00\xfe\xff"
_LENGTH_BYTES = 4
MAX_VALUE_BYTES = 512 * 1024
_PUSH_BATCH = 32

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


class SessionUpdates:
    """The updates waiting after the session records under `redis`, sealed with `keyring`'s
    `session_update_sealing` key (any generation in use opens them)."""

    def __init__(self, redis: RedisClient, keyring: Keyring) -> None:
        self._keys = keyring
        self._append_if_exists = redis.register_script(_APPEND_IF_EXISTS)
        self._fold = redis.register_script(_FOLD)

    async def push(self, session_keys: Iterable[str], update: RosterUpdate) -> int:
        """Leave `update` after each of these session records that still exists; answers how many.

        A whole Principal (`"kind": "principal"`) replaces the updates still waiting: it was
        fetched after them, so a session idle through many events holds one Principal, not many.
        """
        supersedes = "1" if update["kind"] == "principal" else "0"
        payload = packing.pack(update)

        async def push(key: str) -> bool:
            framed = frame_update(seal(self._keys.session_update_sealing, payload, key.encode()))
            outcome = await self._append_if_exists(
                keys=[key], args=[framed, MAX_VALUE_BYTES, supersedes, UPDATE_MARK]
            )
            return bool(outcome == 1)

        pushed = 0
        keys = list(session_keys)
        # A district-wide change reaches every live session of the district: a few at a time.
        for start in range(0, len(keys), _PUSH_BATCH):
            done = await asyncio.gather(*(push(key) for key in keys[start : start + _PUSH_BATCH]))
            pushed += sum(done)
        return pushed

    async def fold(
        self,
        record_key: bytes,
        key: str,
        value: bytes,
        sealed: bytes,
        record: SessionRecord,
        updates: list[bytes],
    ) -> SessionRecord:
        """Apply the waiting `updates` to `record` (read as `value` from `key`, its sealed part
        `sealed`, under the ticket's `record_key`) and store it back without them."""
        principal = record["principal"]
        for sealed_update in updates:
            update = self._open(sealed_update, key)
            if update is not None:
                principal = apply_roster_update(principal, update)
        if principal is not record["principal"]:
            record = {**record, "principal": principal}
            sealed = seal(record_key, packing.pack(record), key.encode())
        consumed = len(value)
        digest = hashlib.sha1(value, usedforsecurity=False).hexdigest()
        # A script: only if nothing but appends happened since our read (another request may
        # have folded the same updates, or the session may have ended).
        await self._fold(keys=[key], args=[consumed, digest, sealed])
        return record

    def _open(self, sealed_update: bytes, key: str) -> dict[str, Any] | None:
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
        logger.warning(
            "a session update does not unseal; ignored", extra={"event": "session_update_unsealable"}
        )
        return None


def frame_update(sealed_update: bytes) -> bytes:
    """A sealed update as it is appended after a record (see the module doc)."""
    return sealed_update + len(sealed_update).to_bytes(_LENGTH_BYTES, "big") + UPDATE_MARK


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
