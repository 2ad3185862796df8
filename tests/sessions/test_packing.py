"""Records deflated with a preset dictionary: smaller, and every earlier format still reads."""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable

import orjson
import pytest
from redis.asyncio import Redis

from app.crypto.sealing import seal, unseal
from app.sessions import packing
from app.sessions.packing import SessionRecord
from app.sessions.store import SessionStore
from tests.sessions.test_store import KEYRING
from tests.support.clock import Clock
from tests.support.redis import RecordingRedis


def teacher_record(sections: int = 6, resources: int = 10) -> SessionRecord:
    """A record shaped as a login writes it (ids as Clever's, 24 hex digits)."""
    school = "6863cdc0dc5eb9eeed000001"
    return {
        "user_id": "6863cdc0dc5eb9eeed000048",
        "district_id": "6863cdc0dc5eb9eeed000000",
        "created_at": 1795496003.293636,
        "expires_at": 1795524803.293636,
        "login_method": "clever_sso",
        "principal": {
            "user": {
                "id": "6863cdc0dc5eb9eeed000048",
                "district": "6863cdc0dc5eb9eeed000000",
                "name": {"first": "Grace", "middle": "", "last": "Hopper"},
                "email": "grace.hopper@example.org",
                "roles": ["teacher"],
                "primary_role": "teacher",
                "legacy_ids": {"teacher": "5e1715c0c1d553fd09000001"},
            },
            "roles": {"teacher": {"schools": [school], "title": "Grade 3 Teacher"}},
            "sections": [
                {
                    "id": f"6863cdc0dc5eb9eeed0000{index:02x}",
                    "name": f"Math {index}",
                    "subject": "math",
                    "grade": "5",
                    "period": str(index),
                    "school": school,
                    "course": None,
                    "term_id": None,
                    "role": "teacher",
                }
                for index in range(sections)
            ],
            "resources": [
                {
                    "id": f"6863cdc0dc5eb9eeed0001{index:02x}",
                    "resource_id": f"resource-{index}",
                    "title": f"Resource {index}",
                    "roles": ["student", "teacher"],
                }
                for index in range(resources)
            ],
            "roster": {"fetched_at": "2026-11-24T04:53:23.298419Z", "event_id": None, "source": "live"},
        },
    }


def test_a_record_round_trips_and_is_smaller_than_plain_deflate() -> None:
    record = teacher_record()
    packed = packing.pack(record)
    assert packing.unpack(packed) == record
    plain = zlib.compress(orjson.dumps(record), 9)
    assert len(packed) < 0.8 * len(plain)


@pytest.mark.parametrize(
    "earlier",
    [
        pytest.param(lambda record: zlib.compress(orjson.dumps(record), 1), id="deflate"),
        pytest.param(orjson.dumps, id="plain-json"),
        pytest.param(lambda record: _deflated(record, packing._ZDICT_1), id="dictionary-1"),
        pytest.param(lambda record: _deflated(record, packing._ZDICT_2), id="dictionary-2"),
    ],
)
def test_records_of_earlier_versions_still_read(earlier: Callable[[object], bytes]) -> None:
    record = teacher_record(sections=1, resources=1)
    assert packing.unpack(earlier(record)) == record


def test_no_dictionary_a_stored_record_names_has_changed() -> None:
    # Sessions in Redis name their dictionary by checksum: an edited dictionary would make every
    # record written with it unreadable (the module's docstring: add one, never edit one).
    assert sorted(packing._DICTIONARIES) == sorted([1935960182, 767789396, 377601184])


def _deflated(record: object, zdict: bytes) -> bytes:
    compressor = zlib.compressobj(9, zdict=zdict)
    return compressor.compress(orjson.dumps(record)) + compressor.flush()


def test_saying_where_the_roster_came_from_costs_a_few_bytes() -> None:
    """The version-2 dictionary knows the roster's `source` (and a store login's `synced_at`)."""
    live = teacher_record()
    without = copy.deepcopy(live)
    del without["principal"]["roster"]["source"]
    stored = copy.deepcopy(live)
    stored["principal"]["roster"]["source"] = "store"
    stored["principal"]["roster"]["synced_at"] = "2026-11-23T06:12:48.903117Z"  # the day before
    before = len(_deflated(without, packing._ZDICT_1))
    assert len(packing.pack(live)) <= before + 2
    assert len(packing.pack(stored)) <= before + 20


def with_district(record: SessionRecord) -> SessionRecord:
    """`record` with the district directory's part, placed as the builder places it."""
    named = copy.deepcopy(record)
    principal = named["principal"]
    roster = principal.pop("roster")
    principal["district"] = {
        "id": named["district_id"],
        "name": "Sandbox Unified School District",
        "portal_url": "https://clever.com/in/sandbox-unified",
        "schools": {"6863cdc0dc5eb9eeed000001": "Lincoln Elementary School"},
    }
    principal["roster"] = roster
    return named


def test_naming_the_district_and_its_schools_costs_about_fifty_bytes() -> None:
    """The version-3 dictionary knows the district directory's part; a record without one
    costs nothing more."""
    plain, named = teacher_record(), with_district(teacher_record())
    assert packing.unpack(packing.pack(named)) == named
    assert len(packing.pack(plain)) <= len(_deflated(plain, packing._ZDICT_2))
    assert len(packing.pack(named)) <= len(packing.pack(plain)) + 60
    assert len(packing.pack(named)) < len(_deflated(named, packing._ZDICT_2)) - 30


async def test_a_teachers_session_with_its_names_stays_under_3_kb_in_redis(
    redis: Redis, key_prefix: str
) -> None:
    store = SessionStore(redis, KEYRING, idle_timeout=1800, absolute_timeout=8 * 3600, prefix=key_prefix)
    principal = with_district(teacher_record())["principal"]
    session = await store.create(
        user_id="u1", district_id="d1", login_method="clever_sso", principal=principal
    )
    used = await redis.memory_usage(store.session_key(session.ticket), samples=0)
    assert used is not None
    assert used <= 3 * 1024


def test_an_unknown_dictionary_is_refused() -> None:
    compressor = zlib.compressobj(9, zdict=b'"some other dictionary"')
    data = compressor.compress(orjson.dumps({"a": 1})) + compressor.flush()
    with pytest.raises(zlib.error, match="unknown dictionary"):
        packing.unpack(data)


@pytest.mark.parametrize("damage", ["truncated", "trailing"])
def test_a_stream_that_is_not_whole_is_refused(damage: str) -> None:
    packed = packing.pack(teacher_record())
    data = packed[:-5] if damage == "truncated" else packed + b"more"
    with pytest.raises(zlib.error):
        packing.unpack(data)


async def test_a_session_stored_by_the_previous_version_still_loads(
    recording: RecordingRedis, redis: Redis, key_prefix: str
) -> None:
    """Sessions live across an upgrade: one whose record an earlier version deflated without the
    dictionary is found and read."""
    store = SessionStore(
        recording,
        KEYRING,
        idle_timeout=1800,
        absolute_timeout=8 * 3600,
        prefix=key_prefix,
        clock=Clock(now=1_800_000_000.0),
    )
    principal = teacher_record(sections=2, resources=2)["principal"]
    assert isinstance(principal, dict)
    session = await store.create(
        user_id="u1", district_id="d1", login_method="clever_sso", principal=principal
    )
    key = store.session_key(session.ticket)
    current = await redis.get(key)
    assert isinstance(current, bytes)
    record = packing.unpack(unseal(session.ticket.key, current, key.encode()))
    earlier = seal(session.ticket.key, zlib.compress(orjson.dumps(record), 1), key.encode())
    await redis.set(key, earlier, keepttl=True)

    loaded = await store.load(store.encode(session.ticket))

    assert loaded is not None
    assert loaded.principal == principal
