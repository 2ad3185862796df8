"""Two replicas of `clever-login events` over one Redis and one sandbox, keeping the district's
roster copy: each event reaches the copy exactly once, and a worker whose lock was taken from
it while it applied an event writes nothing (the apply script checks the lock)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.events.metrics import EventMetrics
from tests.clever.sandbox_control import add_fault, remaining
from tests.events.conftest import Rig, running, until
from tests.events.test_deltas import _as_fresh_sync, _caught_up, _district_users, _synced
from tests.support.demo import demo_user

SHARES = "/v3.1/resources/*/sections"


async def test_two_workers_apply_each_event_to_the_copy_exactly_once(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = next(s for s in rig.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 3)
    allowed = frozenset({district})
    (first, first_deltas), (second, second_deltas) = rig.counted_keeping(), rig.counted_keeping()
    one, two = EventMetrics(), EventMetrics()
    async with (
        running(rig.worker(one, roster=first, allowed_districts=allowed)),
        running(rig.worker(two, roster=second, allowed_districts=allowed)),
    ):
        await _synced(rig, district)
        await _caught_up(rig, district)
        # Changes arrive while both replicas poll: renames, a section's members, a newcomer
        # and a departure (which also takes the person out of their sections).
        for n in range(4):
            await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": f"Pair{n}"}})
            await asyncio.sleep(0.05)
        await rig.control(
            "PATCH", f"/sandbox/sections/{section['id']}", {"students": section["students"][1:]}
        )
        await rig.control(
            "POST",
            "/sandbox/users",
            {
                "district": district,
                "name": {"first": "New", "last": "Pupil"},
                "roles": {"student": {"school": section["school"], "grade": "5"}},
            },
        )
        await rig.control("DELETE", f"/sandbox/users/{section['students'][-1]}")
        await _caught_up(rig, district)
    events = [str(event["id"]) for event in rig.store.events()]
    assert len(events) >= 8
    outcomes = first_deltas.outcomes + second_deltas.outcomes
    applied = [event_id for event_id, how in outcomes if how == "applied"]
    assert sorted(applied) == sorted(events)  # each event written to the copy once, none left out
    assert [how for _, how in outcomes if how != "applied"] == []
    assert one.processed_count() + two.processed_count() == len(events)
    await _as_fresh_sync(
        rig, district, rig.roster(), [*_district_users(rig, district), section["students"][-1]]
    )


async def test_a_worker_whose_lock_is_taken_mid_apply_writes_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = rig.store.roster.sections_of_user(teacher)[0]
    store = rig.roster()
    await rig.sync(district, store)
    metrics = EventMetrics()
    worker = rig.worker(metrics, roster=rig.keeping(), allowed_districts=frozenset({district}))
    await worker.poll(district)  # first start: the cursor at the newest event
    cursor = await rig.cursor(district)
    assert cursor is not None
    before = await store.info(district)
    assert before is not None
    # A resource's event asks Clever whom it is shared with before its script runs: slowed,
    # that is where the worker is when its lock expires and another replica takes it.
    await add_fault(rig.sandbox.url, SHARES, method="GET", status=None, latency_ms=1500, count=1)
    resource = await rig.control(
        "POST", "/sandbox/resources", {"title": "Taken", "roles": ["teacher"], "sections": [section["id"]]}
    )
    lock = rig.cursors().lock(district, ttl=10)
    with caplog.at_level(logging.WARNING, logger="app.events"):
        polling = asyncio.create_task(worker.poll(district))

        async def asking_shares() -> bool:
            return await remaining(rig.sandbox.url, SHARES) == 0

        await until(asking_shares, what="the worker asking for the resource's shares")
        await rig.redis.delete(lock.key)  # expired while the worker waited...
        assert await lock.acquire()  # ...and another replica took it
        await polling
    assert 'clever_events_poll_errors_total{error="lock_lost"} 1.0' in metrics.render().decode()
    assert any(getattr(r, "event", None) == "events_lock_lost" for r in caplog.records)
    assert metrics.processed_count() == 0
    # Nothing written: not the resource, not the event, not the cursor; the other one's lock kept.
    assert await store.read_record(district, "resources", resource["id"]) is None
    assert await store.info(district) == before
    assert await rig.cursor(district) == cursor
    assert await rig.redis.get(lock.key) == lock.owner.encode()
    # The script itself refuses a writer that does not hold the lock, whatever it would write.
    taken = await store.apply_event(
        district,
        rig.newest_event_id(),
        lambda copy: copy.remove("users", teacher["id"]),
        lock_key=lock.key,
        lock_owner="a token the lock no longer holds",
    )
    assert taken == "lock_lost"
    assert await store.read_user(district, teacher["id"]) is not None
    assert await store.info(district) == before

    # While the other replica holds it the worker leaves the district alone; once it is free,
    # the event is applied, once.
    await worker.poll(district)
    assert await rig.cursor(district) == cursor
    await lock.release()
    await worker.poll(district)
    assert await store.read_record(district, "resources", resource["id"]) is not None
    assert metrics.processed_count() == 1
    after = await store.info(district)
    assert after is not None
    assert after.last_event == rig.newest_event_id()
