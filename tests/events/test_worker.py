"""The events worker against the sandbox: roster changes made through its control API reach
the live sessions they concern, within a poll or two, and no others."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest

from app.events.cursor import DAY
from app.events.metrics import EventMetrics
from tests.events.conftest import Person, Rig, running, until
from tests.support.demo import demo_user


def _section_with_students(rig: Rig, teacher: Mapping[str, Any]) -> dict[str, Any]:
    sections = [s for s in rig.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 2]
    assert sections, "the demo teacher has no section with students"
    section = sections[0]
    assert isinstance(section, dict)
    return section


async def _started(rig: Rig, district_id: str) -> None:
    async def has_cursor() -> bool:
        return await rig.cursor(district_id) is not None

    await until(has_cursor, what="the worker's first cursor")


async def _first_name(person: Person) -> str:
    name = (await person.principal())["user"]["name"]["first"]
    assert isinstance(name, str)
    return name


async def test_roster_changes_reach_the_sessions_they_concern_and_no_others(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = _section_with_students(rig, teacher)
    student_id, other_student_id = section["students"][:2]
    staff = demo_user(rig.store, "staff")
    t, s, s2, u = [
        await rig.log_in(user_id) for user_id in (teacher["id"], student_id, other_student_id, staff["id"])
    ]
    untouched = await u.principal()
    assert untouched["roster"]["event_id"] is None  # a login's own fetch

    metrics = EventMetrics()
    async with running(rig.worker(metrics)):
        await _started(rig, district)

        # users.updated: the new name reaches the teacher's session, tagged with the event.
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Renamed"}})
        renamed_by = rig.newest_event_id()

        async def renamed() -> bool:
            return await _first_name(t) == "Renamed"

        await until(renamed, what="the teacher's new name")
        body = await t.principal()
        assert body["roster"]["event_id"] == renamed_by
        assert body["user"]["primary_role"] == "teacher"
        assert body["session"]["login_method"] == "clever_sso"

        # sections.updated: a student taken out of the section loses it, the teacher keeps it.
        left = [sid for sid in section["students"] if sid != student_id]
        await rig.control("PATCH", f"/sandbox/sections/{section['id']}", {"students": left})

        async def out_of_section() -> bool:
            return section["id"] not in {x["id"] for x in (await s.principal())["sections"]}

        await until(out_of_section, what="the student leaving the section")
        assert section["id"] in {x["id"] for x in (await t.principal())["sections"]}
        assert section["id"] in {x["id"] for x in (await s2.principal())["sections"]}

        # users.deleted: every session of that user ends.
        await rig.control("DELETE", f"/sandbox/users/{other_student_id}")
        await until(s2.logged_out, what="the deleted student's session to end")
        # Deleting a user also takes them out of their sections: those events follow.
        newest = rig.newest_event_id()

        async def caught_up() -> bool:
            cursor = await rig.cursor(district)
            return cursor is not None and cursor["after"] == newest

        await until(caught_up, what="the worker to reach the newest event")

    after = await u.principal()
    assert {k: v for k, v in after.items() if k != "session"} == {
        k: v for k, v in untouched.items() if k != "session"
    }
    assert not await s.logged_out()
    assert await rig.keys_without_ttl() == []
    assert metrics.processed_count("users.updated") >= 1
    assert metrics.processed_count("sections.updated") >= 1
    assert metrics.processed_count("users.deleted") == 1


async def test_a_first_start_begins_at_the_newest_event(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    t = await rig.log_in(teacher["id"])
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Before"}})
    before = rig.newest_event_id()
    metrics = EventMetrics()
    async with running(rig.worker(metrics)):
        await _started(rig, teacher["district"])
        cursor = await rig.cursor(teacher["district"])
        assert cursor is not None
        assert cursor["after"] == before
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"last": "After"}})

        async def after() -> bool:
            return bool((await t.principal())["user"]["name"]["last"] == "After")

        await until(after, what="the change made after the start")
    body = await t.principal()
    # The change made before the first start was never applied as an event: the fresh fetch
    # for the later event shows it, as the roster now is.
    assert body["user"]["name"]["first"] == "Before"
    assert metrics.processed_count() == 1


async def test_resources_follow_the_sections_they_are_shared_with(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    section = _section_with_students(rig, teacher)
    staff = demo_user(rig.store, "staff")
    t, s, u = [await rig.log_in(uid) for uid in (teacher["id"], section["students"][0], staff["id"])]
    untouched = await u.principal()

    async def holds(person: Person, resource_id: str) -> bool:
        return resource_id in {r["id"] for r in (await person.principal())["resources"]}

    async with running(rig.worker()):
        await _started(rig, teacher["district"])
        resource = await rig.control(
            "POST",
            "/sandbox/resources",
            {"title": "Field Notes", "roles": ["teacher", "student"], "sections": [section["id"]]},
        )

        async def both_hold_it() -> bool:
            return await holds(t, resource["id"]) and await holds(s, resource["id"])

        await until(both_hold_it, what="the new resource")

        # Shared with teachers only now: the student loses it, the teacher keeps it.
        await rig.control("PATCH", f"/sandbox/resources/{resource['id']}", {"roles": ["teacher"]})

        async def student_lost_it() -> bool:
            return not await holds(s, resource["id"])

        await until(student_lost_it, what="the student losing the resource")
        assert await holds(t, resource["id"])

        await rig.control("DELETE", f"/sandbox/resources/{resource['id']}")

        async def teacher_lost_it() -> bool:
            return not await holds(t, resource["id"])

        await until(teacher_lost_it, what="the deleted resource leaving the teacher's session")
    assert (await u.principal())["resources"] == untouched["resources"]
    assert (await u.principal())["roster"] == untouched["roster"]


async def test_a_district_that_disconnects_loses_every_session(rig: Rig) -> None:
    first, *others = rig.store.district_ids()
    second = others[0]
    there = next(login.user_id for login in rig.store.demo_logins() if login.district_id == second)
    here = demo_user(rig.store, "teacher")
    p_there, p_here = await rig.log_in(there), await rig.log_in(here["id"])
    metrics = EventMetrics()
    async with running(rig.worker(metrics)):
        await _started(rig, first)
        await _started(rig, second)
        await rig.control("DELETE", f"/sandbox/districts/{second}")
        await until(p_there.logged_out, what="the disconnected district's session to end")
    assert not await p_here.logged_out()
    assert 'clever_events_sessions_changed_total{change="ended"} 1.0' in metrics.render().decode()


async def test_a_cursor_older_than_clever_keeps_events_resynchronises_loudly(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = demo_user(rig.store, "teacher")
    section = _section_with_students(rig, teacher)
    district = teacher["district"]
    t, s = await rig.log_in(teacher["id"]), await rig.log_in(section["students"][0])
    # Changes whose events the worker will never read: its cursor is past them, and 31 days old.
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Lost"}})
    await rig.control("DELETE", f"/sandbox/users/{section['students'][0]}")
    newest = rig.newest_event_id()
    stale = {"after": newest, "seen_until": time.time() - 31 * DAY}
    await rig.redis.set(rig.cursors().key(district), json.dumps(stale), ex=DAY)

    metrics = EventMetrics()
    worker = rig.worker(metrics)
    with caplog.at_level(logging.ERROR, logger="app.events"):
        await worker.poll(district)
    assert any("30 days" in record.getMessage() for record in caplog.records)
    assert await _first_name(t) == "Lost"
    assert (await t.principal())["roster"]["event_id"] is None
    assert await s.logged_out()
    assert metrics.processed_count() == 0
    cursor = await rig.cursor(district)
    assert cursor is not None
    assert cursor["after"] == newest
    assert cursor["seen_until"] > time.time() - 60
