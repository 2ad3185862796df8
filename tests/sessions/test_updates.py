"""Roster updates left beside a session by the events worker, applied when the session is next read."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.roster.principal import Principal, PrincipalSection, RosterUpdate, roster_version
from app.sessions.store import SessionStore
from app.sessions.updates import (
    MAX_VALUE_BYTES,
    UPDATE_MARK,
    SessionUpdates,
    frame_update,
    split_updates,
)
from tests.support.redis import RecordingRedis

KEYRING = Keyring.from_secret("q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a")
NOW = 1_800_000_000.0


def principal(*, first: str = "Ada", roles: list[str] | None = None, fetched: float = NOW) -> Principal:
    """A Principal with only what updates read (and a name to tell them apart)."""
    held = roles or ["teacher", "staff"]
    body: dict[str, Any] = {
        "user": {"id": "u1", "name": {"first": first}, "roles": held, "primary_role": held[0]},
        "roles": {},
        "sections": [],
        "resources": [{"id": "r1"}, {"id": "r2"}],
        "roster": roster_version(fetched),
    }
    return cast(Principal, body)


@pytest.fixture
def store(recording: RecordingRedis, key_prefix: str) -> SessionStore:
    return SessionStore(
        recording, KEYRING, idle_timeout=1800, absolute_timeout=8 * 3600, prefix=key_prefix, clock=lambda: NOW
    )


async def _login(store: SessionStore, **fields: Any) -> str:
    session = await store.create(
        user_id="u1", district_id="d1", login_method="clever_sso", principal=principal(**fields)
    )
    return store.encode(session.ticket)


async def _value(redis: Redis, key: str) -> bytes:
    value = await redis.get(key)
    assert isinstance(value, bytes)
    return value


async def _update(store: SessionStore, update: RosterUpdate) -> int:
    return await store.push_update(await store.user_storage_ids("u1"), update)


async def test_a_newer_principal_is_applied_once_and_keeps_the_login_primary_role(
    store: SessionStore, recording: RecordingRedis, redis: Redis
) -> None:
    token = await _login(store, roles=["staff", "teacher"])  # this login: as staff
    fresh = principal(first="Ada L.", roles=["teacher", "staff"], fetched=NOW + 5)
    assert fresh["user"]["primary_role"] == "teacher"
    assert await _update(store, {"kind": "principal", "principal": fresh}) == 1
    key = store.session_key(store.decode(token))  # type: ignore[arg-type]
    ttl_before = await redis.ttl(key)

    recording.commands.clear()
    session = await store.load(token)
    assert session is not None
    assert session.principal["user"]["name"] == {"first": "Ada L."}
    assert session.principal["user"]["primary_role"] == "staff"  # still held: kept
    # The update is folded into the record: one script (loaded into Redis on first use).
    assert recording.commands[0] == "GETEX"
    assert recording.commands[1:].count("EVALSHA") >= 1
    assert set(recording.commands[1:]) <= {"EVALSHA", "SCRIPT LOAD"}
    _, waiting = split_updates(await _value(redis, key))
    assert waiting == []
    assert 0 < await redis.ttl(key) <= ttl_before

    recording.commands.clear()
    again = await store.load(token)
    assert again is not None
    assert again.principal == session.principal
    assert recording.commands == ["GETEX"]  # the common case stays one command


async def test_a_lost_primary_role_falls_back_to_the_first_held(store: SessionStore) -> None:
    token = await _login(store, roles=["staff", "teacher"])
    await _update(store, {"kind": "principal", "principal": principal(roles=["teacher"], fetched=NOW + 1)})
    session = await store.load(token)
    assert session is not None
    assert (session.principal["user"]["roles"], session.principal["user"]["primary_role"]) == (
        ["teacher"],
        "teacher",
    )


async def test_an_update_older_than_the_record_is_dropped_unapplied(
    store: SessionStore, redis: Redis
) -> None:
    token = await _login(store, first="Newer", fetched=NOW + 10)
    await _update(store, {"kind": "principal", "principal": principal(first="Older", fetched=NOW + 5)})
    session = await store.load(token)
    assert session is not None
    assert session.principal["user"]["name"] == {"first": "Newer"}
    key = store.session_key(store.decode(token))  # type: ignore[arg-type]
    assert split_updates(await _value(redis, key))[1] == []


async def test_updates_apply_in_order(store: SessionStore) -> None:
    token = await _login(store)
    await _update(store, {"kind": "drop_resources", "ids": ["r1"]})
    await _update(store, {"kind": "principal", "principal": principal(first="B", fetched=NOW + 2)})
    await _update(store, {"kind": "drop_resources", "ids": ["r2", "r9"]})
    session = await store.load(token)
    assert session is not None
    assert session.principal["user"]["name"] == {"first": "B"}
    assert [dict(resource) for resource in session.principal["resources"]] == [{"id": "r1"}]


async def test_an_update_for_another_user_or_under_another_name_is_ignored(
    store: SessionStore, redis: Redis
) -> None:
    token = await _login(store)
    someone_else = principal(first="Mallory", fetched=NOW + 3)
    someone_else["user"]["id"] = "u2"
    await _update(store, {"kind": "principal", "principal": someone_else})
    session = await store.load(token)
    assert session is not None
    assert session.principal["user"]["name"] == {"first": "Ada"}

    # An update sealed for another session, moved under this one, does not unseal here.
    key = store.session_key(store.decode(token))  # type: ignore[arg-type]
    other = await _login(store)
    other_key = store.session_key(store.decode(other))  # type: ignore[arg-type]
    storage_id = other_key.rsplit("{", 1)[1].rstrip("}")
    assert await store.push_update([storage_id], {"kind": "drop_resources", "ids": ["r1"]}) == 1
    _, moved = split_updates(await _value(redis, other_key))
    framed = moved[0] + len(moved[0]).to_bytes(4, "big") + UPDATE_MARK
    await redis.append(key, framed)
    session = await store.load(token)
    assert session is not None
    assert [r["id"] for r in session.principal["resources"]] == ["r1", "r2"]
    moved_back = await store.load(other)
    assert moved_back is not None
    assert [r["id"] for r in moved_back.principal["resources"]] == ["r2"]


async def test_no_update_revives_an_ended_session_or_makes_a_key_without_ttl(
    store: SessionStore, redis: Redis, key_prefix: str
) -> None:
    token = await _login(store)
    storage_ids = await store.user_storage_ids("u1")
    assert await store.delete_ticket(token)
    assert await store.push_update(storage_ids, {"kind": "drop_resources", "ids": ["r1"]}) == 0
    assert [key async for key in redis.scan_iter(match=f"{key_prefix}s:*")] == []


async def test_an_update_appended_while_one_is_folded_is_kept(store: SessionStore, redis: Redis) -> None:
    token = await _login(store)
    key = store.session_key(store.decode(token))  # type: ignore[arg-type]
    await _update(store, {"kind": "drop_resources", "ids": ["r1"]})
    read = await _value(redis, key)  # what a concurrent validation read
    record, _ = split_updates(read)
    await _update(store, {"kind": "drop_resources", "ids": ["r2"]})  # appended after that read
    # That validation now folds what it read: only those bytes are replaced.
    digest = hashlib.sha1(read, usedforsecurity=False).hexdigest()
    updates = SessionUpdates(redis, KEYRING)
    assert await updates._fold(keys=[key], args=[len(read), digest, record]) == 1
    session = await store.load(token)
    assert session is not None
    assert [dict(resource) for resource in session.principal["resources"]] == [
        {"id": "r1"}
    ]  # the first folded away, the second applied
    # A fold of a value that changed in the meantime is refused.
    assert await updates._fold(keys=[key], args=[len(read), digest, record]) == 0


async def test_a_newer_principal_replaces_the_updates_still_waiting(
    store: SessionStore, redis: Redis
) -> None:
    token = await _login(store)
    key = store.session_key(store.decode(token))  # type: ignore[arg-type]
    await _update(store, {"kind": "drop_resources", "ids": ["r1"]})
    for n in range(1, 6):
        await _update(store, {"kind": "principal", "principal": principal(first=f"P{n}", fetched=NOW + n)})
    await _update(store, {"kind": "drop_resources", "ids": ["r2"]})
    _, waiting = split_updates(await _value(redis, key))
    assert len(waiting) == 2  # the last Principal, and the change that came after it
    session = await store.load(token)
    assert session is not None
    assert session.principal["user"]["name"] == {"first": "P5"}
    assert [dict(resource) for resource in session.principal["resources"]] == [{"id": "r1"}]


async def test_a_session_whose_updates_would_grow_too_large_ends(store: SessionStore) -> None:
    big = principal(fetched=NOW)
    # Names that do not compress: about 0.6 of the cap each, so record and update overflow it.
    big["sections"] = [
        cast(PrincipalSection, {"id": f"s{i}", "name": secrets.token_urlsafe(300)})
        for i in range(MAX_VALUE_BYTES // 500)
    ]
    session = await store.create(user_id="u1", district_id="d1", login_method="clever_sso", principal=big)
    token = store.encode(session.ticket)
    assert await _update(store, {"kind": "drop_resources", "ids": ["r1"]}) == 1
    assert (
        await _update(store, {"kind": "principal", "principal": {**big, "roster": roster_version(NOW + 1)}})
        == 0
    )
    assert await store.load(token) is None


@pytest.mark.parametrize(
    ("value", "record", "updates"),
    [
        (b"record", b"record", []),
        (b"record" + frame_update(b"one"), b"record", [b"one"]),
        (b"record" + frame_update(b"one") + frame_update(b"two"), b"record", [b"one", b"two"]),
        # A length that points before the start, or a zero length, is not a frame: all record.
        (b"ab" + (99).to_bytes(4, "big") + UPDATE_MARK, b"ab" + (99).to_bytes(4, "big") + UPDATE_MARK, []),
        (b"ab" + (0).to_bytes(4, "big") + UPDATE_MARK, b"ab" + (0).to_bytes(4, "big") + UPDATE_MARK, []),
        (UPDATE_MARK, UPDATE_MARK, []),
    ],
)
def test_updates_are_framed_from_the_end(value: bytes, record: bytes, updates: list[bytes]) -> None:
    assert split_updates(value) == (record, updates)
