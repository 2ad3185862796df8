from __future__ import annotations

from typing import cast

import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket
from app.login.pending import Done, PendingLogins, Taken
from app.login.transaction import LoginTransaction
from app.roster.principal import Principal
from app.sessions.store import SessionStore
from tests.support.clock import Clock
from tests.support.redis import RecordingRedis

KEYRING = Keyring.from_secret("q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a")
# Only what these tests look at: the store keeps a Principal as it was given.
PRINCIPAL = cast(
    Principal, {"user": {"id": "u1", "name": {"first": "Ada", "last": "Lovelace"}}, "roles": {"teacher": {}}}
)


@pytest.fixture
def clock() -> Clock:
    return Clock(now=1_800_000_000.0)


@pytest.fixture
def store(recording: RecordingRedis, key_prefix: str, clock: Clock) -> SessionStore:
    return SessionStore(
        recording, KEYRING, idle_timeout=1800, absolute_timeout=8 * 3600, prefix=key_prefix, clock=clock
    )


async def _create(store: SessionStore, user_id: str = "u1", district_id: str = "d1") -> str:
    session = await store.create(
        user_id=user_id, district_id=district_id, login_method="clever_sso", principal=PRINCIPAL
    )
    return store.encode(session.ticket)


async def test_a_created_session_loads_with_one_getex(store: SessionStore, recording: RecordingRedis) -> None:
    token = await _create(store)
    recording.commands.clear()
    session = await store.load(token)
    assert session is not None
    assert session.principal == PRINCIPAL
    assert (session.user_id, session.district_id, session.login_method) == ("u1", "d1", "clever_sso")
    assert recording.commands == ["GETEX"]


async def test_a_login_writes_its_session_and_its_completion_in_one_round_trip(
    store: SessionStore, recording: RecordingRedis, key_prefix: str
) -> None:
    pending = PendingLogins(recording, KEYRING, prefix=key_prefix)
    browser = pending.new_browser()
    transaction = LoginTransaction.new(return_to="/classes", login_method="clever_sso")
    await pending.start(browser, transaction)
    assert isinstance(await pending.take(browser, transaction.state), Taken)
    ticket = store.new_ticket()
    token = store.encode(ticket)
    recording.commands.clear()

    await store.create(
        user_id="u1",
        district_id="d1",
        login_method="clever_sso",
        principal=PRINCIPAL,
        ticket=ticket,
        alongside=[pending.completion(browser, transaction.state, session_token=token, return_to="/classes")],
    )

    assert recording.commands == ["PIPELINE"]
    loaded = await store.load(token)
    assert loaded is not None
    assert loaded.ticket == ticket
    assert await pending.take(browser, transaction.state) == Done(token, "/classes")


FOREIGN = Keyring.from_secret("Yz0123456789abcdefghijklmnopqrstuv")


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "v1.a.b.c", Ticket.new().encode(FOREIGN.ticket_signing, "session")],
)
async def test_bad_tickets_cost_no_round_trip(
    store: SessionStore, recording: RecordingRedis, token: str
) -> None:
    recording.commands.clear()
    assert await store.load(token) is None
    assert recording.commands == []


async def test_a_well_signed_unknown_ticket_costs_one_round_trip_and_writes_nothing(
    store: SessionStore, recording: RecordingRedis, redis: Redis, key_prefix: str
) -> None:
    recording.commands.clear()
    assert await store.load(store.encode(Ticket.new())) is None
    assert recording.commands == ["GETEX"]
    assert [key async for key in redis.scan_iter(match=f"{key_prefix}*")] == []


async def test_redis_holds_ciphertext_and_every_key_has_a_ttl(
    store: SessionStore, redis: Redis, key_prefix: str
) -> None:
    await _create(store)
    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}*")]
    assert len(keys) == 3  # the session, the user's index, the district's index
    for key in keys:
        assert 0 < await redis.ttl(key) <= 8 * 3600
        if b":s:" in key:
            raw = await redis.get(key)
            assert raw is not None
            for clear in (b"Ada", b"Lovelace", b"u1", b"teacher", b"principal"):
                assert clear not in raw
            assert await redis.ttl(key) <= 1800


async def test_the_session_key_name_does_not_reveal_the_ticket(
    store: SessionStore, redis: Redis, key_prefix: str
) -> None:
    token = await _create(store)
    ticket = store.decode(token)
    assert ticket is not None
    async for key in redis.scan_iter(match=f"{key_prefix}*"):
        assert ticket.session_id.hex().encode() not in key
        assert token.split(".")[1].encode() not in key


async def test_a_flipped_byte_in_redis_ends_the_session(store: SessionStore, redis: Redis) -> None:
    token = await _create(store)
    ticket = store.decode(token)
    assert ticket is not None
    key = store.session_key(ticket)
    stored = await redis.get(key)
    assert isinstance(stored, bytes)
    raw = bytearray(stored)
    raw[-1] ^= 0x01
    await redis.set(key, bytes(raw), ex=60)
    assert await store.load(token) is None
    assert await redis.exists(key) == 0


async def test_a_value_moved_under_another_session_name_is_refused(store: SessionStore, redis: Redis) -> None:
    victim, attacker = await _create(store, "victim"), await _create(store, "attacker")
    victim_ticket, attacker_ticket = store.decode(victim), store.decode(attacker)
    assert victim_ticket is not None
    assert attacker_ticket is not None
    await redis.copy(store.session_key(victim_ticket), store.session_key(attacker_ticket), replace=True)
    assert await store.load(attacker) is None


async def test_loading_slides_the_idle_timeout(store: SessionStore, redis: Redis) -> None:
    token = await _create(store)
    ticket = store.decode(token)
    assert ticket is not None
    await redis.expire(store.session_key(ticket), 5)
    assert await store.load(token) is not None
    assert await redis.ttl(store.session_key(ticket)) > 1700


async def test_idle_expiry_is_redis_expiry(store: SessionStore, redis: Redis) -> None:
    token = await _create(store)
    ticket = store.decode(token)
    assert ticket is not None
    await redis.pexpire(store.session_key(ticket), 1)
    await redis.delete(store.session_key(ticket))  # what the TTL does, without sleeping
    assert await store.load(token) is None


async def test_absolute_expiry_ends_the_session_even_when_active(
    store: SessionStore, clock: Clock, redis: Redis
) -> None:
    token = await _create(store)
    clock.now += 8 * 3600 - 1
    session = await store.load(token)
    assert session is not None
    assert session.idle_expires_at == session.expires_at  # never slides past the absolute limit
    clock.now += 1
    assert await store.load(token) is None
    ticket = store.decode(token)
    assert ticket is not None
    assert await redis.exists(store.session_key(ticket)) == 0


async def test_delete_and_delete_ticket(store: SessionStore) -> None:
    first, second = await _create(store), await _create(store)
    session = await store.load(first)
    assert session is not None
    await store.delete(session)
    assert await store.load(first) is None
    assert await store.delete_ticket(second) is True
    assert await store.load(second) is None
    assert await store.delete_ticket(second) is False
    assert await store.delete_ticket("garbage") is False


async def test_every_session_of_a_user_or_a_district_can_be_ended(
    store: SessionStore, redis: Redis, key_prefix: str
) -> None:
    alice = [await _create(store, "alice", "d1") for _ in range(3)]
    bob = await _create(store, "bob", "d1")
    carol = await _create(store, "carol", "d2")
    assert await store.delete_user("alice") == 3
    for token in alice:
        assert await store.load(token) is None
    assert await store.load(bob) is not None
    assert await store.delete_district("d1") == 1
    assert await store.load(bob) is None
    assert await store.load(carol) is not None
    assert await store.delete_user("nobody") == 0
    for key in [key async for key in redis.scan_iter(match=f"{key_prefix}*")]:
        assert await redis.ttl(key) > 0


async def test_a_refreshed_principal_replaces_the_old_without_reviving_ended_sessions(
    store: SessionStore,
) -> None:
    token = await _create(store)
    session = await store.load(token)
    assert session is not None
    refreshed = await store.replace_principal(
        session, cast(Principal, {"user": {"id": "u1"}, "sections": []})
    )
    loaded = await store.load(token)
    assert loaded is not None
    assert loaded.principal == refreshed.principal == cast(Principal, {"user": {"id": "u1"}, "sections": []})
    assert loaded.expires_at == session.expires_at
    await store.delete(session)
    await store.replace_principal(session, PRINCIPAL)
    assert await store.load(token) is None
