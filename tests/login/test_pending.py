from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.login.pending import Done, Gone, PendingLogins, Taken
from app.login.transaction import LoginTransaction
from tests.support.clock import Clock
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


async def test_completing_a_login_that_failed_or_expired_meanwhile_does_not_revive_it(
    redis: Redis, key_prefix: str
) -> None:
    pending = _pending(redis, key_prefix)
    browser, failed, kept = pending.new_browser(), _transaction(), _transaction()
    for transaction in (failed, kept):
        await pending.start(browser, transaction)
        assert isinstance(await pending.take(browser, transaction.state), Taken)
    await pending.fail(browser, failed.state)
    ttl_before = await redis.pttl(pending.key(browser, kept.state))

    for transaction in (failed, kept):
        await pending.complete(browser, transaction.state, session_token="v1.s", return_to="/r")

    assert not await redis.exists(pending.key(browser, failed.state))
    assert await pending.take(browser, failed.state) == Gone("unknown")
    assert 0 < await redis.pttl(pending.key(browser, kept.state)) <= ttl_before  # its TTL kept, not renewed
    assert await pending.take(browser, kept.state) == Done("v1.s", "/r")


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
    await pending.start(browser, transaction)  # a browser's second login: counted as well
    keys = sorted([key async for key in redis.scan_iter(match=f"{key_prefix}*")])
    assert [key.decode() for key in keys] == sorted(
        [pending.key(browser, transaction.state), pending.browser_key(browser)]
    )
    raw = await redis.get(pending.key(browser, transaction.state))
    assert isinstance(raw, bytes)
    counted = await redis.zrange(pending.browser_key(browser), 0, -1)
    for key in keys:
        assert 0 < await redis.ttl(key) <= 600
    for clear in (transaction.state, transaction.nonce, transaction.code_verifier, "app.example.org"):
        assert clear.encode() not in raw
        assert all(clear.encode() not in key for key in keys)
        assert all(clear.encode() not in member for member in counted)
    assert browser.session_id.hex().encode() not in pending.browser_key(browser).encode()


async def test_a_new_browsers_first_login_is_one_key(redis: Redis, key_prefix: str) -> None:
    pending = _pending(redis, key_prefix)
    browser, transaction = pending.new_browser(), _transaction()
    assert await pending.start(browser, transaction, first=True) == 0
    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}*")]
    assert [key.decode() for key in keys] == [pending.key(browser, transaction.state)]


async def test_a_browser_starts_at_most_its_share_of_logins(redis: Redis, key_prefix: str) -> None:
    wall = Clock(1_000_000.0)
    pending = PendingLogins(redis, KEYRING, prefix=key_prefix, per_browser=3, wall_clock=wall)
    browser, other = pending.new_browser(), pending.new_browser()
    assert await pending.start(browser, _transaction(), first=True) == 0
    wall.now += 100
    assert [await pending.start(browser, _transaction()) for _ in range(2)] == [0, 0]
    before = sorted([key async for key in redis.scan_iter(match=f"{key_prefix}*")])
    refused = _transaction()
    assert await pending.start(browser, refused) == 600  # until its oldest counted one expires
    after = sorted([key async for key in redis.scan_iter(match=f"{key_prefix}*")])
    assert before == after  # nothing stored for the refused one
    assert await pending.take(browser, refused.state) == Gone("unknown")
    assert await pending.start(other, _transaction()) == 0  # other browsers are not held up
    wall.now += 599
    assert await pending.start(browser, _transaction()) == 1
    wall.now += 1
    assert await pending.start(browser, _transaction()) == 0  # the counted ones have expired


async def test_a_process_starts_at_most_its_total_of_logins(redis: Redis, key_prefix: str) -> None:
    clock = Clock()
    pending = PendingLogins(redis, KEYRING, prefix=key_prefix, total=3, clock=clock)
    for _ in range(3):
        assert await pending.start(pending.new_browser(), _transaction(), first=True) == 0
        clock.now += 10
    before = sorted([key async for key in redis.scan_iter(match=f"{key_prefix}*")])
    assert await pending.start(pending.new_browser(), _transaction(), first=True) == 570
    assert sorted([key async for key in redis.scan_iter(match=f"{key_prefix}*")]) == before
    clock.now += 570
    assert await pending.start(pending.new_browser(), _transaction(), first=True) == 0
    assert await pending.start(pending.new_browser(), _transaction(), first=True) == 10


def test_the_browser_cookie_round_trips_and_is_not_a_session_ticket(redis: Redis) -> None:
    pending = _pending(redis, "x:")
    browser = pending.new_browser()
    text = pending.encode_browser(browser)
    assert pending.decode_browser(text) == browser
    assert pending.decode_browser(browser.encode(KEYRING.ticket_signing, "session")) is None
    assert pending.decode_browser(None) is None
    assert pending.decode_browser("junk") is None
