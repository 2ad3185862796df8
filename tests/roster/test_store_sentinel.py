"""The roster store on real Redis Sentinel (a master, a replica, three sentinels), through
`REDIS_URL=redis+sentinel://...`: a sync, logins from the copy and an event applied, and a
failover in the middle of a sync, after which readers see the old copy or the new one, never
part of one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.exceptions import RedisError

from app.clever.models import Event
from app.crypto.keyring import Keyring
from app.events.cursor import Cursors
from app.events.deltas import Deltas
from app.redis_client import RedisClient
from app.roster.district_tokens import DistrictTokens
from app.roster.fetch import Roster
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from app.roster.principal import Principal
from app.roster.source import from_store
from app.roster.store import RosterStore
from app.roster.sync import SyncReport, sync_district
from clever_sandbox.district import DemoLogin
from tests.clever.sandbox_control import add_fault
from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.reliability.test_redis_sentinel import SWITCH_BOUND, TIMEOUTS
from tests.roster.test_store import big_page_clever, logins, principal_of
from tests.support.backend import SESSION_SECRET, backend_on
from tests.support.browser import Browser
from tests.support.redis_servers import HOST, SentinelGroup, sentinel_group, wait_until
from tests.support.roster_copy import mark_events_read, store_on

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)

PREFIX = "roster-sentinel-test:"
# The backend's own secret: a login through it reads the copy these tests write.
KEYRING = Keyring.from_secret(SESSION_SECRET)
# Each Data API answer of the sync waits this long, so that the failover falls inside it.
SLOW_MS = 250


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    with sentinel_group() as started:
        yield started


@pytest.fixture
async def sentinel_store(group: SentinelGroup) -> AsyncIterator[tuple[RedisClient, RosterStore]]:
    async with store_on(group.url + TIMEOUTS, KEYRING, PREFIX) as made:
        yield made


def _teacher(sandbox: RunningSandbox) -> DemoLogin:
    return next(login for login in logins(sandbox) if login.user_type == "teacher")


def _sections(sandbox: RunningSandbox, user_id: str) -> list[dict[str, Any]]:
    user = sandbox.sandbox.store.user(user_id)
    assert user is not None
    return list(sandbox.sandbox.store.roster.sections_of_user(user))


def _master_keys(group: SentinelGroup, pattern: str) -> list[bytes]:
    with group.data_node(group.master_port()).client() as master:
        return list(master.scan_iter(match=pattern))


async def test_a_sync_logins_and_an_event_work_through_sentinel(
    sandbox: RunningSandbox, group: SentinelGroup, sentinel_store: tuple[RedisClient, RosterStore]
) -> None:
    sentinel_redis, store = sentinel_store
    teacher = _teacher(sandbox)
    district_id = teacher.district_id
    section = next(s for s in _sections(sandbox, teacher.user_id) if len(s.get("students") or []) >= 2)
    async with big_page_clever(sandbox.url, sandbox.config) as clever:
        tokens = DistrictTokens(
            sentinel_redis, clever, sealing_key=KEYRING.district_token_sealing, prefix=PREFIX
        )
        report = await sync_district(
            clever, tokens, store, district_id, student_fields=DEFAULT_STUDENT_FIELDS
        )
        await mark_events_read(sentinel_redis, PREFIX, district_id)
        # The copy is on the server Sentinel names master.
        assert store.generation_key(district_id, report.info.generation).encode() in _master_keys(
            group, f"{PREFIX}ro:*"
        )
        for login in [p for p in logins(sandbox) if p.district_id == district_id]:
            fresh = await from_store(
                store,
                user_id=login.user_id,
                district_id=district_id,
                student_fields=DEFAULT_STUDENT_FIELDS,
                max_events_lag=120,
                now=time.time(),
            )
            assert isinstance(fresh, Roster), login.label
            assert fresh.source == "store"
        sandbox.sandbox.store.update_section(section["id"], {"students": section["students"][1:]})
        event = Event.model_validate(sandbox.sandbox.store.events()[-1])
        lock = Cursors(sentinel_redis, prefix=PREFIX).lock(district_id, ttl=10)
        async with lock.hold() as held:
            assert held
            deltas = Deltas(store=store, clever=clever, tokens=tokens)
            assert (await deltas.apply(district_id, event, lock)).applied == "applied"
    stored = await store.read_user(district_id, section["students"][0])
    assert stored is not None
    assert section["id"] not in {s.id for s in stored.roster.sections}
    # A login through a backend on the same Sentinel group gets its roster from the copy.
    with backend_on(sandbox, redis_url=group.url + TIMEOUTS, key_prefix=PREFIX) as backend:
        browser = Browser(backend)
        try:
            landed = await browser.login(section["students"][0])
            assert landed.response.status_code == 302, landed.response.text
            body = (await browser.session()).json()
        finally:
            await browser.http.aclose()
    assert body["roster"]["source"] == "store", body["roster"]
    assert section["id"] not in {s["id"] for s in body["sections"]}
    info = await store.info(district_id)
    assert info is not None
    assert info.last_event == event.id
    assert await store.purge(district_id) >= 3


Version = tuple[str, tuple[str, ...]]


def _version(principal: Principal | None) -> Version:
    assert principal is not None
    return principal["user"]["name"]["first"], tuple(sorted(s["name"] for s in principal["sections"]))


async def test_a_failover_during_a_sync_leaves_the_old_copy_or_the_new_one(
    sandbox: RunningSandbox, group: SentinelGroup, sentinel_store: tuple[RedisClient, RosterStore]
) -> None:
    sentinel_redis, store = sentinel_store
    roster, teacher = sandbox.sandbox.store, _teacher(sandbox)
    district_id = teacher.district_id

    async def read() -> Version | None:
        """The teacher's version in the copy; None while Redis is switching."""
        try:
            stored = await store.read_user(district_id, teacher.user_id)
        except RedisError:
            return None
        assert stored is not None, "the teacher is missing from the copy"
        return _version(principal_of(stored.roster, teacher, DEFAULT_STUDENT_FIELDS))

    async with big_page_clever(sandbox.url, sandbox.config) as clever:
        tokens = DistrictTokens(
            sentinel_redis, clever, sealing_key=KEYRING.district_token_sealing, prefix=PREFIX
        )

        async def sync() -> SyncReport:
            return await sync_district(
                clever, tokens, store, district_id, student_fields=DEFAULT_STUDENT_FIELDS
            )

        first = await sync()
        old = await read()
        assert old is not None
        assert old[1], "the teacher has no sections"
        roster.update_user(teacher.user_id, {"name": {"first": "Failedover"}})
        for section in _sections(sandbox, teacher.user_id):
            roster.update_section(section["id"], {"name": f"new {section['name']}"})
        new = ("Failedover", tuple(sorted(f"new {name}" for name in old[1])))
        await tokens.get(district_id)  # the token in hand: the slow answers are the sync's own
        await asyncio.to_thread(group.wait_ready)
        await add_fault(sandbox.url, "/v3.1/*", latency_ms=SLOW_MS, count=None)

        old_master = group.master_port()
        syncing = asyncio.create_task(sync())
        seen: list[Version] = []
        try:
            await asyncio.sleep(SLOW_MS * 4 / 1000)  # the sync has written part of its generation
            assert not syncing.done()
            await asyncio.to_thread(group.failover)
            while not syncing.done():
                if (version := await read()) is not None:
                    seen.append(version)
                await asyncio.sleep(0.01)
            await asyncio.to_thread(
                wait_until, lambda: group.all_name_a_master_but(old_master), SWITCH_BOUND, "a new master"
            )
        finally:
            await asyncio.wait([syncing])
            if group.master_port() != old_master:
                # What Sentinel does to the old master some seconds later, done now (see
                # tests/reliability/test_redis_sentinel.py).
                with group.data_node(old_master).client() as demoted:
                    demoted.execute_command("REPLICAOF", HOST, group.master_port())
        await asyncio.sleep(1.0)  # past the client's next look at who is master
        after: Version | None = None
        for _ in range(100):
            if (after := await read()) is not None:
                break
            await asyncio.sleep(0.1)
    assert after is not None
    seen.append(after)
    # Whatever became of the sync (finished on the new master, or failed with the switch),
    # every read saw one whole copy.
    assert set(seen) <= {old, new}, seen
    info = await store.info(district_id)
    assert info is not None
    if syncing.exception() is None:
        assert info.generation == syncing.result().info.generation
        assert after == new
    else:
        # Failed with the switch (a lost connection, or the check that the new copy holds all
        # the sync wrote: see app/roster/store.py): nothing of it is read.
        assert isinstance(syncing.exception(), RedisError)
        assert info.generation == first.info.generation
        assert after == old
    await store.purge(district_id)
