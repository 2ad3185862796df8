"""Crashes, competing replicas and a struggling Clever: no event is skipped or applied twice."""

from __future__ import annotations

import asyncio

import pytest

from app.clever import CleverClient
from app.clever.models import Event
from app.events.cursor import Cursor
from app.events.effects import Effects
from app.events.lock import LockLost
from app.events.metrics import EventMetrics
from tests.clever.sandbox_control import add_fault
from tests.events.conftest import Person, Rig, running, until
from tests.support.demo import demo_user

SLOW_ROSTER = "/v3.1/users/*"


async def _people(rig: Rig, count: int) -> list[Person]:
    teacher = demo_user(rig.store, "teacher")
    section = next(s for s in rig.store.roster.sections_of_user(teacher) if len(s["students"]) >= count - 1)
    return [await rig.log_in(user_id) for user_id in [teacher["id"], *section["students"][: count - 1]]]


async def _rename_each(rig: Rig, people: list[Person], prefix: str) -> dict[str, str]:
    """One users.updated per person; answers the event id that renamed each."""
    caused: dict[str, str] = {}
    for index, person in enumerate(people):
        await rig.control(
            "PATCH", f"/sandbox/users/{person.user_id}", {"name": {"first": f"{prefix}{index}"}}
        )
        caused[person.user_id] = rig.newest_event_id()
    return caused


async def _all_renamed(people: list[Person], caused: dict[str, str], prefix: str) -> bool:
    for index, person in enumerate(people):
        body = await person.principal()
        if body["user"]["name"]["first"] != f"{prefix}{index}":
            return False
        assert body["roster"]["event_id"] == caused[person.user_id]
    return True


async def test_a_worker_killed_mid_batch_resumes_without_skipping_or_repeating(rig: Rig) -> None:
    people = await _people(rig, 4)
    district = demo_user(rig.store, "teacher")["district"]
    first = EventMetrics()
    crashed = rig.worker(first)
    task = asyncio.create_task(crashed.run())
    try:
        await until(lambda: _has_cursor(rig, district), what="the first cursor")
        # Each roster fetch now takes a while, so the batch is still going when the worker dies.
        await add_fault(rig.sandbox.url, SLOW_ROSTER, method="GET", status=None, latency_ms=150, count=None)
        caused = await _rename_each(rig, people, "Crash")

        async def some_applied() -> bool:
            return first.processed_count() >= 1

        await until(some_applied, what="the first event of the batch")
    finally:
        task.cancel()  # no goodbye: as if the process were killed
        await asyncio.wait([task], timeout=10)
        assert task.done(), "the cancelled worker ran on"
    done_before = first.processed_count()
    cursor = await rig.cursor(district)
    assert cursor is not None
    ids = list(caused.values())
    assert 1 <= done_before < len(ids), "the worker was not stopped mid-batch"
    assert cursor["after"] == ids[int(done_before) - 1]  # exactly the events it finished

    await rig.control("DELETE", "/sandbox/faults")
    second = EventMetrics()
    async with running(rig.worker(second)):
        await until(lambda: _all_renamed(people, caused, "Crash"), what="every rename")
    assert done_before + second.processed_count() == len(ids)
    assert await rig.keys_without_ttl() == []
    cursor = await rig.cursor(district)
    assert cursor is not None
    assert cursor["after"] == ids[-1]


async def test_two_workers_never_work_on_one_district_at_once(rig: Rig) -> None:
    people = await _people(rig, 4)
    district = demo_user(rig.store, "teacher")["district"]
    busy: dict[str, int] = {}
    most = 0
    applied: list[str] = []

    class Watched(Effects):
        async def apply(self, district_id: str, event: Event, *, holders: list[str] | None = None) -> None:
            nonlocal most
            busy[district_id] = busy.get(district_id, 0) + 1
            most = max(most, busy[district_id])
            try:
                await super().apply(district_id, event, holders=holders)
                await asyncio.sleep(0.02)  # widen the window a second worker would need
            finally:
                busy[district_id] -= 1
            applied.append(event.id)

    one, two = EventMetrics(), EventMetrics()
    async with running(rig.worker(one, effects=Watched)), running(rig.worker(two, effects=Watched)):
        await until(lambda: _has_cursor(rig, district), what="the first cursor")
        caused = await _rename_each(rig, people, "Pair")
        await until(lambda: _all_renamed(people, caused, "Pair"), what="every rename")
    assert most == 1
    assert sorted(applied) == sorted(caused.values())
    assert one.processed_count() + two.processed_count() == len(caused)


async def test_a_district_locked_by_another_worker_is_left_alone(rig: Rig) -> None:
    district = demo_user(rig.store, "teacher")["district"]
    other = rig.cursors().lock(district, ttl=5)
    assert await other.acquire()
    worker = rig.worker()
    await worker.poll(district)
    assert await rig.cursor(district) is None
    await other.release()
    await worker.poll(district)
    assert await rig.cursor(district) is not None


async def test_a_worker_that_lost_its_lock_cannot_move_the_cursor(rig: Rig) -> None:
    district = demo_user(rig.store, "teacher")["district"]
    cursors = rig.cursors()
    mine = cursors.lock(district, ttl=5)
    assert await mine.acquire()
    await cursors.write(district, Cursor(after="a", seen_until=1.0), mine)
    await rig.redis.delete(mine.key)  # expired while we were busy...
    theirs = cursors.lock(district, ttl=5)
    assert await theirs.acquire()  # ...and another worker took over
    with pytest.raises(LockLost):
        await cursors.write(district, Cursor(after="b", seen_until=2.0), mine)
    assert not await mine.extend()
    await mine.release()  # not ours any more: leaves theirs in place
    assert await rig.redis.get(theirs.key) == theirs.owner.encode()
    cursor = await rig.cursor(district)
    assert cursor == {"after": "a", "seen_until": 1.0}


@pytest.mark.parametrize(("status", "error"), [(429, "rate_limited"), (503, "clever_unavailable")])
async def test_a_struggling_clever_is_backed_off_and_the_event_applied_once(
    rig: Rig, no_retry_clever: CleverClient, status: int, error: str
) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    person = await rig.log_in(teacher["id"])
    metrics = EventMetrics()
    worker = rig.worker(metrics, clever=no_retry_clever)
    await worker.poll(district)  # first start
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Patient"}})
    await add_fault(rig.sandbox.url, "/v3.1/events", method="GET", status=status, count=1)
    await worker.poll(district)
    assert f'clever_events_poll_errors_total{{error="{error}"}} 1.0' in metrics.render().decode()
    assert metrics.processed_count() == 0
    async with running(worker):

        async def applied() -> bool:
            return bool((await person.principal())["user"]["name"]["first"] == "Patient")

        await until(applied, what="the event after the backoff")
    assert metrics.processed_count() == 1


async def _has_cursor(rig: Rig, district_id: str) -> bool:
    return await rig.cursor(district_id) is not None
