"""The roster store on a real Redis Cluster (three masters): its scripts and multi-key commands
stay within one district's slot."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from app.clever.models import Event
from app.crypto.keyring import Keyring
from app.events.cursor import Cursors
from app.events.deltas import Deltas
from app.redis_client import RedisClient
from app.roster.district_tokens import DistrictTokens
from app.roster.fetch import Roster, fetch_roster
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from app.roster.source import from_store
from app.roster.store import RosterStore
from app.roster.sync import sync_district
from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.roster.test_store import SECRET, big_page_clever, principal_of
from tests.support.demo import demo_user
from tests.support.redis_servers import RedisClusterGroup
from tests.support.roster_copy import mark_events_read, store_on

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)

PREFIX = "roster-cluster-test:"


@pytest.fixture
async def cluster_store(cluster: RedisClusterGroup) -> AsyncIterator[tuple[RedisClient, RosterStore]]:
    async with store_on(cluster.url, Keyring.from_secret(SECRET), PREFIX) as made:
        yield made


async def test_sync_read_delete_and_purge_work_on_a_cluster(
    sandbox: RunningSandbox, cluster_store: tuple[RedisClient, RosterStore]
) -> None:
    client, store = cluster_store
    keyring = Keyring.from_secret(SECRET)
    people = [login for login in sandbox.sandbox.store.demo_logins() if login.district_id]
    async with big_page_clever(sandbox.url, sandbox.config) as clever:
        tokens = DistrictTokens(
            client,
            clever,
            sealing_key=keyring.district_token_sealing,
            prefix=PREFIX,
        )
        districts = sorted({login.district_id for login in people})
        for district_id in districts:
            await sync_district(clever, tokens, store, district_id, student_fields=DEFAULT_STUDENT_FIELDS)
            await mark_events_read(client, PREFIX, district_id)
        for login in people:
            live = await fetch_roster(
                clever,
                tokens,
                user_id=login.user_id,
                district_id=login.district_id,
                login_user_type=login.user_type,
            )
            stored = await store.read_user(login.district_id, login.user_id)
            assert stored is not None, login.label
            expected = principal_of(live, login, DEFAULT_STUDENT_FIELDS)
            assert principal_of(stored.roster, login, DEFAULT_STUDENT_FIELDS) == expected, login.label
            # The events cursor is read in the same script: its key shares the district's slot.
            assert stored.events_seen_until is not None
            fresh = await from_store(
                store,
                user_id=login.user_id,
                district_id=login.district_id,
                student_fields=DEFAULT_STUDENT_FIELDS,
                max_events_lag=120,
                now=time.time(),
            )
            assert isinstance(fresh, Roster), login.label
        # A second sync replaces the first on the cluster as well.
        await sync_district(clever, tokens, store, districts[0], student_fields=DEFAULT_STUDENT_FIELDS)

    student = next(p for p in people if p.user_type == "student")
    assert await store.delete_user(student.district_id, student.user_id)
    assert await store.read_user(student.district_id, student.user_id) is None
    for district_id in districts:
        assert await store.purge(district_id) >= 3
        assert await store.info(district_id) is None


async def test_an_event_is_applied_to_the_copy_on_a_cluster(
    sandbox: RunningSandbox, cluster_store: tuple[RedisClient, RosterStore]
) -> None:
    client, store = cluster_store
    keyring = Keyring.from_secret(SECRET)
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    district_id = teacher["district"]
    section = next(
        s for s in sandbox.sandbox.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 2
    )
    async with big_page_clever(sandbox.url, sandbox.config) as clever:
        tokens = DistrictTokens(client, clever, sealing_key=keyring.district_token_sealing, prefix=PREFIX)
        await sync_district(clever, tokens, store, district_id, student_fields=DEFAULT_STUDENT_FIELDS)
        sandbox.sandbox.store.update_section(section["id"], {"students": section["students"][1:]})
        event = Event.model_validate(sandbox.sandbox.store.events()[-1])
        deltas = Deltas(store=store, clever=clever, tokens=tokens)
        # The script checks the events lock: its key shares the district's slot too.
        lock = Cursors(client, prefix=PREFIX).lock(district_id, ttl=10)
        async with lock.hold() as held:
            assert held
            assert (await deltas.apply(district_id, event, lock)).applied == "applied"
    stored = await store.read_user(district_id, section["students"][0])
    assert stored is not None
    assert section["id"] not in {s.id for s in stored.roster.sections}
    await store.purge(district_id)
