"""Where a login's roster comes from (app.roster.source): a fresh copy, else Clever; on the
sandbox over loopback HTTP and the real Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from app.crypto.keyring import Keyring
from app.roster.fetch import Roster
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, STUDENT_FIELDS
from app.roster.principal import Principal, apply_roster_update, roster_version
from app.roster.source import LiveReason, from_store, person_roster
from app.roster.store import DAY, RosterStore, StoreMiss
from app.roster.sync import sync_district
from clever_sandbox.district import DemoLogin
from tests.clever.sandbox_control import add_fault
from tests.conftest import RunningSandbox
from tests.roster.test_store import Rig, logins, make_rig
from tests.support.clever import count_requests, requests_seen
from tests.support.redis import RecordingRedis
from tests.support.roster_copy import mark_events_read

LAG = 120.0


@pytest.fixture
async def rig(sandbox: RunningSandbox, redis: Redis, key_prefix: str) -> AsyncIterator[Rig]:
    async with make_rig(sandbox, redis, key_prefix) as made:
        yield made


async def fresh(
    rig: Rig,
    district_id: str,
    *,
    student_fields: frozenset[str] = DEFAULT_STUDENT_FIELDS,
    clock: Callable[[], float] = time.time,
) -> float:
    """Synced (at `clock`'s time), and the district's event stream read to its end just now:
    answers that moment."""
    await sync_district(
        rig.clever, rig.tokens, rig.store, district_id, student_fields=student_fields, clock=clock
    )
    return await mark_events_read(rig.redis, rig.prefix, district_id)


async def roster_of(
    rig: Rig,
    login: DemoLogin,
    *,
    store: RosterStore | None = None,
    student_fields: frozenset[str] = DEFAULT_STUDENT_FIELDS,
    now: float | None = None,
) -> tuple[Roster, LiveReason | None]:
    """The login's roster through `person_roster`, and why it went live (None: the copy)."""
    said: list[LiveReason | None] = []
    roster = await person_roster(
        rig.clever,
        rig.tokens,
        store or rig.store,
        user_id=login.user_id,
        district_id=login.district_id,
        login_user_type=login.user_type,
        student_fields=student_fields,
        max_events_lag=LAG,
        decided=said.append,
        clock=time.time if now is None else lambda: now,
    )
    assert len(said) == 1
    return roster, said[0]


def principal(roster: Roster, login: DemoLogin, fields: frozenset[str] = DEFAULT_STUDENT_FIELDS) -> Principal:
    return roster.principal(login_user_type=login.user_type, student_fields=fields)


def without_version(principal: Principal) -> dict[str, Any]:
    return {name: value for name, value in principal.items() if name != "roster"}


async def live_principal(
    rig: Rig, login: DemoLogin, fields: frozenset[str] = DEFAULT_STUDENT_FIELDS
) -> Principal:
    return principal(await rig.live_roster(login), login, fields)


def person(rig: Rig, user_type: str) -> DemoLogin:
    return next(p for p in logins(rig.sandbox) if p.user_type == user_type)


# -- from a fresh copy -------------------------------------------------------------------------


async def test_a_fresh_copy_costs_one_round_trip_and_no_data_api_call(
    sandbox: RunningSandbox, redis_url: str, key_prefix: str
) -> None:
    recording = RecordingRedis.from_url(redis_url)
    assert isinstance(recording, RecordingRedis)
    try:
        async with make_rig(sandbox, recording, key_prefix) as rig:
            people = [person(rig, user_type) for user_type in ("contact", "teacher", "student")]
            for district_id in {login.district_id for login in people}:
                await fresh(rig, district_id)
            await count_requests(sandbox.url, "/v3.1/*")
            for login in people:
                recording.commands.clear()

                roster, live_reason = await roster_of(rig, login)

                assert live_reason is None
                assert roster.source == "store"
                assert recording.commands == ["EVALSHA"], login.label
                if login.user_type == "contact":
                    assert roster.students  # followed from the copy, not asked of Clever
            assert await requests_seen(sandbox.url, "/v3.1/*") == 0
    finally:
        await recording.aclose()


async def test_every_demo_person_gets_the_live_principal_but_for_where_it_came_from(rig: Rig) -> None:
    people = logins(rig.sandbox)
    assert {p.user_type for p in people} >= {"student", "teacher", "staff", "district_admin", "contact"}
    read_at = {district_id: await fresh(rig, district_id) for district_id in {p.district_id for p in people}}
    for login in people:
        info = await rig.store.info(login.district_id)
        assert info is not None
        roster, live_reason = await roster_of(rig, login)
        assert live_reason is None, login.label
        stored, live = principal(roster, login), await live_principal(rig, login)

        assert without_version(stored) == without_version(live), login.label
        assert stored["roster"] == roster_version(
            read_at[login.district_id], source="store", synced_at=info.synced_at
        )
        assert live["roster"]["source"] == "live"
        assert "synced_at" not in live["roster"]


async def test_a_roster_from_the_copy_is_as_new_as_the_last_read_of_the_stream(rig: Rig) -> None:
    """Its version is when the stream was last read to its end (every change before it is in
    the copy), not the sync's start: an update fetched live before that moment is older."""
    login = person(rig, "teacher")
    synced_at = time.time() - 3600
    await fresh(rig, login.district_id, clock=lambda: synced_at)
    read_at = await mark_events_read(rig.redis, rig.prefix, login.district_id)
    roster, _ = await roster_of(rig, login)
    stored = principal(roster, login)
    assert roster.synced_at == synced_at
    assert roster.fetched_at == read_at

    live = await live_principal(rig, login)
    renamed = {**live, "user": {**live["user"], "name": {**live["user"]["name"], "first": "Older"}}}
    older = {**renamed, "roster": roster_version(read_at - 1)}
    newer = {**renamed, "roster": roster_version(read_at + 1)}
    assert apply_roster_update(stored, {"kind": "principal", "principal": older}) is stored
    assert apply_roster_update(stored, {"kind": "principal", "principal": newer}) == newer


async def test_the_events_lag_bound_is_the_setting_not_a_guess(rig: Rig) -> None:
    login = person(rig, "teacher")
    await rig.sync(login.district_id)
    now = time.time()
    await mark_events_read(rig.redis, rig.prefix, login.district_id, at=now - LAG + 1)
    assert (await roster_of(rig, login, now=now))[1] is None
    await mark_events_read(rig.redis, rig.prefix, login.district_id, at=now - LAG - 1)
    assert (await roster_of(rig, login, now=now))[1] == "stale"


# -- else live, and why -------------------------------------------------------------------------


async def _no_sync(rig: Rig, login: DemoLogin) -> DemoLogin:
    return login


async def _events_behind(rig: Rig, login: DemoLogin) -> DemoLogin:
    await rig.sync(login.district_id)
    await mark_events_read(rig.redis, rig.prefix, login.district_id, at=time.time() - LAG - 30)
    return login


async def _events_never_read(rig: Rig, login: DemoLogin) -> DemoLogin:
    await rig.sync(login.district_id)
    return login


async def _cursor_unreadable(rig: Rig, login: DemoLogin) -> DemoLogin:
    await rig.sync(login.district_id)
    await rig.redis.set(rig.store.cursor_key(login.district_id), b"{not json", ex=60)
    return login


async def _synced_a_day_ago(rig: Rig, login: DemoLogin) -> DemoLogin:
    await fresh(rig, login.district_id, clock=lambda: time.time() - DAY - 60)
    return login


async def _other_student_fields(rig: Rig, login: DemoLogin) -> DemoLogin:
    await fresh(rig, login.district_id, student_fields=STUDENT_FIELDS)
    return login


async def _created_since_the_sync(rig: Rig, login: DemoLogin) -> DemoLogin:
    await fresh(rig, login.district_id)
    created = rig.sandbox.sandbox.store.create_user(
        {
            "district": login.district_id,
            "name": {"first": "New", "last": "Student"},
            "roles": {"student": {"grade": "3", "school": "", "schools": []}},
        }
    )
    return DemoLogin(created["id"], "new", login.district_id, "student")


async def _record_corrupted(rig: Rig, login: DemoLogin) -> DemoLogin:
    await fresh(rig, login.district_id)
    info = await rig.store.info(login.district_id)
    assert info is not None
    key = rig.store.generation_key(login.district_id, info.generation)
    fields: dict[bytes, bytes] = await rig.redis.hgetall(key)  # type: ignore[assignment]
    for name, value in fields.items():
        if name.startswith(b"u"):
            await rig.redis.hset(key, name, value[:-1] + bytes([value[-1] ^ 1]))
    return login


async def _meta_corrupted(rig: Rig, login: DemoLogin) -> DemoLogin:
    await fresh(rig, login.district_id)
    info = await rig.store.info(login.district_id)
    assert info is not None
    await rig.redis.hset(rig.store.generation_key(login.district_id, info.generation), "meta", b"{")
    return login


async def _sealed_under_another_secret(rig: Rig, login: DemoLogin) -> DemoLogin:
    secret = Keyring.from_secret("a secret this reader does not hold, long enough")
    other = RosterStore(rig.redis, secret, prefix=rig.prefix)
    await sync_district(
        rig.clever, rig.tokens, other, login.district_id, student_fields=DEFAULT_STUDENT_FIELDS
    )
    await mark_events_read(rig.redis, rig.prefix, login.district_id)
    return login


Setup = Callable[[Rig, DemoLogin], Awaitable[DemoLogin]]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (_no_sync, "no_copy"),
        (_events_behind, "stale"),
        (_events_never_read, "stale"),
        (_cursor_unreadable, "stale"),
        (_synced_a_day_ago, "stale"),
        (_other_student_fields, "stale"),
        (_created_since_the_sync, "not_in_copy"),
        (_record_corrupted, "unreadable"),
        (_meta_corrupted, "unreadable"),
        (_sealed_under_another_secret, "unreadable"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else value,
)
async def test_otherwise_the_roster_is_fetched_live_and_says_why(rig: Rig, setup: Setup, reason: str) -> None:
    login = await setup(rig, person(rig, "student"))
    await count_requests(rig.sandbox.url, "/v3.1/*")

    roster, live_reason = await roster_of(rig, login)

    assert live_reason == reason
    assert roster.source == "live"
    assert roster.synced_at is None
    assert await requests_seen(rig.sandbox.url, "/v3.1/*") == 3
    assert without_version(principal(roster, login)) == without_version(await live_principal(rig, login))


@pytest.mark.parametrize(
    ("setup", "event"),
    [(_record_corrupted, "roster_unsealable"), (_meta_corrupted, "roster_meta_unreadable")],
)
async def test_a_broken_copy_met_by_every_login_logs_a_burst_then_little(
    rig: Rig, setup: Setup, event: str, caplog: pytest.LogCaptureFixture
) -> None:
    login = await setup(rig, person(rig, "student"))
    caplog.set_level(logging.WARNING, logger="app")
    for _ in range(100):
        found = await rig.store.read(login.district_id, login.user_id)
        assert isinstance(found, StoreMiss)
        assert found.reason == "unreadable"
    lines = [record for record in caplog.records if getattr(record, "event", None) == event]
    assert 1 <= len(lines) <= 21  # the burst, and perhaps one more as a second passes


# -- while a sync writes -----------------------------------------------------------------------


async def test_logins_during_a_sync_see_the_old_copy_or_the_new_one_never_a_mix(rig: Rig) -> None:
    teacher = person(rig, "teacher")
    await fresh(rig, teacher.district_id)
    sandbox = rig.sandbox.sandbox.store

    async def stored() -> Principal:
        found = await from_store(
            rig.store,
            user_id=teacher.user_id,
            district_id=teacher.district_id,
            student_fields=DEFAULT_STUDENT_FIELDS,
            max_events_lag=LAG,
            now=time.time(),
        )
        assert isinstance(found, Roster)  # fresh all along: the copy in use is always whole
        return principal(found, teacher)

    def version(seen: Principal) -> tuple[str, tuple[str, ...]]:
        return seen["user"]["name"]["first"], tuple(s["name"] for s in seen["sections"])

    old = await stored()
    assert old["sections"]
    sandbox.update_user(teacher.user_id, {"name": {"first": "Newname"}})
    for section in old["sections"]:
        sandbox.update_section(section["id"], {"name": f"new {section['name']}"})
    # Slow lists, so that many logins fall while the new generation is being written.
    await add_fault(rig.sandbox.url, "/v3.1/*", latency_ms=40, count=None)
    before = version(old)
    after = ("Newname", tuple(f"new {name}" for name in before[1]))

    syncing = asyncio.create_task(rig.sync(teacher.district_id))
    seen: list[tuple[str, tuple[str, ...]]] = []
    while not syncing.done():
        seen.append(version(await stored()))
        await asyncio.sleep(0.005)
    await syncing
    seen.append(version(await stored()))

    assert set(seen) <= {before, after}
    assert seen[0] == before
    assert seen[-1] == after
    assert seen.count(before) > 5
