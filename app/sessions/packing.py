"""Session records and roster updates as stored (before sealing): JSON, deflated with a preset
dictionary.

A record is a few hundred bytes of JSON whose keys repeat from session to session, too little
for deflate to find much to reuse within one record. A preset dictionary (zlib's `zdict`) of
those keys and common values gives it that history: records come out about a third smaller
than plain deflate (a district admin's 384 -> 237 B, a teacher's with 6 sections and 10
resources 597 -> 373 B; bench/), and inflate no slower. Version 2 adds the roster's `source`
and `synced_at`: the teacher's record grows by 1 byte from a live login, by 17 from a store
login whose copy was synced the day before (tests/sessions/test_packing.py). Version 3 adds the
district directory's names (`district`): about 55 bytes for a teacher's record that has them,
none for one without.

Each stream names its dictionary by checksum (zlib's DICTID), so a record is read with the
dictionary it was written with. Never edit a dictionary in `_DICTIONARIES`: add a new one and
write with it; records written before it stay readable. Records deflated without a dictionary
and plain JSON records (both written by earlier versions) are read too.
"""

from __future__ import annotations

import zlib
from typing import Any, TypedDict

import orjson

from app.roster.principal import Principal, RosterUpdate


class SessionRecord(TypedDict):
    """A session as stored; the ticket (and with it the sealing key) is never part of it."""

    user_id: str
    district_id: str
    created_at: float
    expires_at: float  # absolute
    login_method: str
    principal: Principal


# Version 1. Deflate finds matches up to 32 KB back and codes near ones cheaper: what is most
# common comes last. Each version's bytes are fixed once written (above); the shared parts are
# named only so the versions can be read side by side.
_ROLES_PART = (
    b'"staff":{"schools":[],"roles":[],"title":"","department":""},'
    b'"contact":{"student_relationships":[{"student":"","relationship":"","type":""}],'
    b'"students":[{"id":"","name":{"first":"","last":""},"grade":""}]},'
    b'"student":{"school":"","schools":[],"grade":"","graduation_year":"","gifted_status":"",'
    b'"section_504_status":"","disability_status":"","home_language":"","frl_status":"",'
    b'"ell_status":"","iep_status":""},'
    b'"district_admin":{"title":""},"teacher":{"schools":[],"title":""},'
    b'{"user_id":"","district_id":"","created_at":1,"expires_at":1,"login_method":"clever_sso",'
    b'"principal":{"user":{"id":"","district":"","name":{"first":"","middle":"","last":""},'
    b'"email":"@","roles":["student"],"primary_role":"student","legacy_ids":{"student":""}},"roles":{'
    b'"resources":[{"id":"","resource_id":"","title":"","roles":["student","teacher"]}],'
)
_SECTIONS_PART = (
    b'"sections":[{"id":"","name":"","subject":"","grade":"","period":"","school":"","course":null,'
    b'"term_id":null,"role":"teacher"},{"id":"","name":"","subject":"","grade":"","period":"",'
    b'"school":"","course":null,"term_id":null,"role":"student"}],'
)
_ZDICT_1 = _ROLES_PART + b'"roster":{"fetched_at":"T:Z","event_id":null}}}' + _SECTIONS_PART
# Version 2: version 1 with the roster part that says where the roster came from (a store
# login's, then the more common live one).
_ZDICT_2 = (
    _ROLES_PART
    + b'"roster":{"fetched_at":"T:Z","event_id":null,"source":"store","synced_at":"T:Z"}}}'
    + b'"roster":{"fetched_at":"T:Z","event_id":null,"source":"live"}}}'
    + _SECTIONS_PART
)
# Version 3: version 2 led by the district directory's part (`district`: its name, Portal and
# the names of the schools the Principal names; app.roster.principal). Leading, it leaves every
# other part as near as in version 2, so a record without it costs what it did.
_ZDICT_3 = (
    b'"district":{"id":"","name":" School District","portal_url":"https://clever.com/in/",'
    b'"schools":{"":" Elementary School","":" Middle School","":" High School"}},'
) + _ZDICT_2
_DICTIONARIES = {zlib.adler32(zdict): zdict for zdict in (_ZDICT_1, _ZDICT_2, _ZDICT_3)}
_WRITE_WITH = _ZDICT_3
# Written once per login or update and read on every validation: the smallest output is worth
# the extra microseconds of level 9.
_LEVEL = 9
_FDICT = 0x20


def pack(record: SessionRecord | RosterUpdate) -> bytes:
    compressor = zlib.compressobj(_LEVEL, zdict=_WRITE_WITH)
    return compressor.compress(orjson.dumps(record)) + compressor.flush()


def unpack(data: bytes) -> Any:
    """The record `pack` packed (or an earlier version's); ValueError or zlib.error if it is not one.

    The caller knows what it packed there and checks what it does not trust (a roster update,
    in `app.roster.principal.apply_roster_update`)."""
    if data[:1] == b"{":  # plain JSON: a deflate stream never starts with "{"
        return orjson.loads(data)
    if len(data) >= 6 and data[1] & _FDICT:
        zdict = _DICTIONARIES.get(int.from_bytes(data[2:6], "big"))
        if zdict is None:
            raise zlib.error("record deflated with an unknown dictionary")
        inflater = zlib.decompressobj(zdict=zdict)
    else:
        inflater = zlib.decompressobj()
    plain = inflater.decompress(data)
    if not inflater.eof or inflater.unused_data:
        raise zlib.error("record is not one whole deflate stream")
    return orjson.loads(plain)
