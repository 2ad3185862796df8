"""The backend on real Redis Sentinel (a master, a replica, three sentinels), through
`REDIS_URL=redis+sentinel://...`, including a failover while people log in."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.redis_client import MASTER_CHECK_SECONDS
from app.sessions.store import SessionStore
from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.support.backend import SESSION_SECRET, backend_on
from tests.support.demo import demo_user
from tests.support.login_attempts import Outcomes, attempt_login, session_status
from tests.support.redis_servers import HOST, SentinelGroup, sentinel_group, wait_until
from tests.support.session_flow import assert_ready, whole_session_life

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)

log = logging.getLogger(__name__)

PREFIX = "sentinel-test:"
# Short socket timeouts so that a connection to the old master is given up on quickly.
TIMEOUTS = "?socket_timeout=0.5&socket_connect_timeout=0.5"
KEYRING = Keyring.from_secret(SESSION_SECRET)
LOST_IN_SWITCH = frozenset({"login_expired", "session_lost"})
SWITCH_BOUND = 15.0  # seconds from the failover command to logins working again, at most


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    with sentinel_group() as started:
        yield started


@pytest.fixture
def sentinel_backend(sandbox: RunningSandbox, group: SentinelGroup) -> Iterator[str]:
    with backend_on(sandbox, redis_url=group.url + TIMEOUTS, key_prefix=PREFIX) as url:
        yield url


def replicated(group: SentinelGroup) -> bool:
    """The replica acknowledged everything the master has written (a write of ours, then WAIT:
    replication is one ordered stream, so every earlier write is acknowledged too)."""
    with group.data_node(group.master_port()).client() as master:
        master.set(f"{PREFIX}replication-mark", "1", ex=60)
        return int(master.execute_command("WAIT", 1, 1000)) >= 1


async def test_a_whole_session_life_works_through_sentinel(
    sandbox: RunningSandbox, group: SentinelGroup, sentinel_backend: str
) -> None:
    await assert_ready(sentinel_backend)
    await whole_session_life(sentinel_backend, demo_user(sandbox.sandbox.store, "teacher")["id"])
    with group.data_node(group.master_port()).client() as master:
        assert any(True for _ in master.scan_iter(match=f"{PREFIX}*"))  # the master holds our keys


# `command`: SENTINEL FAILOVER (a planned switch); `kill`: the master dies (SIGKILL) and the
# sentinels agree it is down, then promote the replica. Either way the old master ends as a
# replica of the new one, so the tests may run in any order.
@pytest.mark.parametrize("how", ["command", "kill"])
async def test_a_failover_during_logins_keeps_sessions_and_logins_resume(
    how: str, sandbox: RunningSandbox, group: SentinelGroup, sentinel_backend: str
) -> None:
    user_id = demo_user(sandbox.sandbox.store, "student")["id"]
    before = []
    for _ in range(4):
        outcome, token = await attempt_login(sentinel_backend, user_id)
        assert outcome == "ok"
        assert token
        before.append(token)
    await asyncio.to_thread(wait_until, lambda: replicated(group), 10.0, "the replica catches up")
    if how == "kill":
        await asyncio.to_thread(group.wait_ready)  # the sentinels must know each other to agree

    old_master = group.master_port()
    outcomes = Outcomes()
    switched_at: list[float] = []
    first_ok_after: list[float] = []
    made_after: list[str] = []  # sessions of logins begun once the switch was known for a while
    stop = asyncio.Event()

    async def keep_logging_in() -> None:
        while not stop.is_set():
            begun = time.monotonic()
            outcome, token = await attempt_login(sentinel_backend, user_id)
            # Replication is asynchronous, and the old master takes writes until Sentinel demotes
            # it: a login begun before this process knew the new master may lose its pending
            # transaction (`login_expired`) or its new session (`session_lost`). It logs in again.
            outcomes.note(outcome, tolerated=LOST_IN_SWITCH if in_switch(begun) else frozenset())
            if outcome == "ok" and switched_at and not first_ok_after:
                first_ok_after.append(time.monotonic())
            if token and outcome == "ok" and switched_at and begun > switched_at[0] + MASTER_CHECK_SECONDS:
                made_after.append(token)
            await asyncio.sleep(0.02)

    def in_switch(begun: float) -> bool:
        return not switched_at or begun <= switched_at[0] + MASTER_CHECK_SECONDS + 0.5

    loops = [asyncio.create_task(keep_logging_in()) for _ in range(2)]
    try:
        await asyncio.sleep(0.3)  # logins are under way
        started = time.monotonic()
        if how == "command":
            await asyncio.to_thread(group.failover)
        else:
            await asyncio.to_thread(group.data_node(old_master).kill)
        await asyncio.to_thread(
            wait_until,
            lambda: group.all_name_a_master_but(old_master),
            SWITCH_BOUND,
            "the sentinels name a new master",
        )
        switched_at.append(time.monotonic())
        # Logins work again on the new master within the bound.
        await asyncio.to_thread(
            wait_until, lambda: bool(first_ok_after), SWITCH_BOUND, "a login after the failover"
        )
        await asyncio.to_thread(wait_until, lambda: len(made_after) >= 4, 10.0, "logins on the new master")
    finally:
        stop.set()
        await asyncio.gather(*loops)
        if group.master_port() != old_master:
            # What Sentinel does to the old master some seconds later (once it is back), done
            # now: whatever runs next starts from a master with a replica.
            old = group.data_node(old_master)
            if not old.running:
                old.start()
            with old.client() as demoted:
                demoted.execute_command("REPLICAOF", HOST, group.master_port())

    log.info("failover (%s): %s; logins again %.2f s after it began", how, dict(outcomes.counts),
             first_ok_after[0] - started)  # fmt: skip
    assert not outcomes.unexpected, outcomes.unexpected
    # Sessions made (and replicated) before the failover are still valid on the new master.
    for token in before:
        assert await session_status(sentinel_backend, token) == 200
    # Sessions made after it are on the new master, not on an old one about to be demoted and
    # wiped: read them there directly.
    assert made_after
    new_master = group.master_port()
    async with Redis(host=HOST, port=new_master) as direct:
        store = SessionStore(direct, KEYRING, idle_timeout=1800, absolute_timeout=28800, prefix=PREFIX)
        for token in made_after:
            assert await store.load(token) is not None
