from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.login.pending import Done, Gone, PendingLogins, Taken
from app.login.transaction import LoginTransaction
from tests.support.redis import RecordingRedis

KEYRING = Keyring.from_secret("q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a")


def _pending(redis: Redis, prefix: str, **options: float) -> PendingLogins:
    return PendingLogins(redis, KEYRING, prefix=prefix, **options)  # type: ignore[arg-type]


def _transaction() -> LoginTransaction:
    return LoginTransaction.new(return_to="https://app.example.org/classes", login_method="clever_sso")


async def test_a_transaction_is_taken_once_by_its_own_browser(redis: Redis, key_prefix: str) -> None:
    pending = _pending(redis, key_prefix)
    browser, transaction = pending.new_browser(), _transaction()
    await pending.start(browser, transaction)
    assert await pending.take(browser, transaction.state) == Taken(transaction)
    await pending.fail(browser, transaction.state)
    assert await pending.take(browser, transaction.state) == Gone("unknown")


async def test_another_browser_with_the_same_state_finds_nothing_and_spoils_nothing(
    redis: Redis, key_prefix: str
) -> None:
    pending = _pending(redis, key_prefix)
    victim, attacker, transaction = pending.new_browser(), pending.new_browser(), _transaction()
    await pending.start(victim, transaction)
    assert await pending.take(attacker, transaction.state) == Gone("unknown")
    assert await pending.take(victim, transaction.state) == Taken(transaction)


async def test_a_repeated_callback_lands_on_the_session_the_first_made(redis: Redis, key_prefix: str) -> None:
    pending = _pending(redis, key_prefix)
    browser, transaction = pending.new_browser(), _transaction()
    await pending.start(browser, transaction)
    assert isinstance(await pending.take(browser, transaction.state), Taken)
    await pending.complete(
        browser, transaction.state, session_token="v1.tok", return_to=transaction.return_to
    )
    assert await pending.take(browser, transaction.state) == Done("v1.tok", transaction.return_to)
    assert await pending.take(pending.new_browser(), transaction.state) == Gone("unknown")


async def test_parallel_callbacks_exchange_once_and_all_land_on_the_session(
    redis: Redis, key_prefix: str
) -> None:
    pending = _pending(redis, key_prefix, poll_interval=0.01)
    browser, transaction = pending.new_browser(), _transaction()
    await pending.start(browser, transaction)

    async def first_finisher() -> None:
        # Stands for the callback that took it: it completes the login a little later.
        await asyncio.sleep(0.05)
        await pending.complete(browser, transaction.state, session_token="v1.s", return_to="/r")

    outcomes, _ = await asyncio.gather(
        asyncio.gather(*(pending.take(browser, transaction.state) for _ in range(10))), first_finisher()
    )
    taken = [outcome for outcome in outcomes if isinstance(outcome, Taken)]
    assert len(taken) == 1
    assert [outcome for outcome in outcomes if not isinstance(outcome, Taken)] == [Done("v1.s", "/r")] * 9


async def test_a_callback_still_in_flight_past_the_wait_is_reported(redis: Redis, key_prefix: str) -> None:
    pending = _pending(redis, key_prefix, in_flight_wait=0.05, poll_interval=0.01)
    browser, transaction = pending.new_browser(), _transaction()
    await pending.start(browser, transaction)
    assert isinstance(await pending.take(browser, transaction.state), Taken)
    assert await pending.take(browser, transaction.state) == Gone("in_flight")


async def test_taking_is_one_redis_command(redis_url: str, key_prefix: str) -> None:
    client = RecordingRedis.from_url(redis_url)
    assert isinstance(client, RecordingRedis)
    try:
        pending = _pending(client, key_prefix)
        browser, transaction = pending.new_browser(), _transaction()
        await pending.start(browser, transaction)
        client.commands.clear()
        await pending.take(browser, transaction.state)
        assert client.commands in (
            ["EVALSHA"],
            ["EVALSHA", "EVAL"],
        )  # EVAL only when the script cache is cold
    finally:
        await client.aclose()


async def test_redis_holds_only_sealed_values_with_a_ttl(redis: Redis, key_prefix: str) -> None:
    pending = _pending(redis, key_prefix)
    browser, transaction = pending.new_browser(), _transaction()
    await pending.start(browser, transaction)
    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}*")]
    assert len(keys) == 1
    assert 0 < await redis.ttl(keys[0]) <= 600
    raw = await redis.get(keys[0])
    assert isinstance(raw, bytes)
    for clear in (transaction.state, transaction.nonce, transaction.code_verifier, "app.example.org"):
        assert clear.encode() not in raw
        assert clear.encode() not in keys[0]


def test_the_browser_cookie_round_trips_and_is_not_a_session_ticket(redis: Redis) -> None:
    pending = _pending(redis, "x:")
    browser = pending.new_browser()
    text = pending.encode_browser(browser)
    assert pending.decode_browser(text) == browser
    assert pending.decode_browser(browser.encode(KEYRING.ticket_signing, "session")) is None
    assert pending.decode_browser(None) is None
    assert pending.decode_browser("junk") is None
