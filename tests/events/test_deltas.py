"""Events applied to the district's roster copy: the copy ends as a fresh full sync would leave
it, at no Clever cost (but a resource's shares), idempotently and in order; live sessions are
refreshed from it; the worker syncs at first sight, on request and when the stream is lost,
and events that arrive during a sync are not lost."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.clever.models import Event
from app.crypto.keyring import Keyring
from app.events.deltas import Deltas
from app.events.lock import DistrictLock
from app.events.metrics import EventMetrics
from app.roster.fieldpolicy import parse_student_fields
from app.roster.principal import Principal, build_principal
from app.roster.store import RosterStore
from app.roster.sync import SyncReport
from tests.clever.sandbox_control import add_fault
from tests.conftest import RunningSandbox
from tests.events.conftest import Rig, RigFactory, running, until
from tests.support.clever import count_requests, requests_seen
from tests.support.demo import demo_user

FIELDS = parse_student_fields(None)
SLOW_SYNC = 5.0


def _principal(roster: Any) -> Principal:
    return build_principal(
        roster.user,
        roster.sections,
        roster.resources,
        login_user_type=None,
        student_fields=FIELDS,
        students=roster.students,
    )


def _district_users(rig: Rig, district_id: str) -> list[str]:
    return [user["id"] for user in rig.store.all("users") if user["district"] == district_id]


async def _stored(store: RosterStore, district_id: str, user_id: str) -> Principal | None:
    stored = await store.read_user(district_id, user_id)
    return None if stored is None else _principal(stored.roster)


async def _as_fresh_sync(rig: Rig, district_id: str, store: RosterStore, user_ids: list[str]) -> None:
    """Every one of `user_ids` reads from `store` as from a full sync made now."""
    fresh = rig.roster(prefix=f"{rig.key_prefix}fresh:")
    await rig.sync(district_id, fresh)
    for user_id in user_ids:
        assert await _stored(store, district_id, user_id) == await _stored(fresh, district_id, user_id), (
            user_id
        )
    await fresh.purge(district_id)


async def _caught_up(rig: Rig, district_id: str) -> None:
    events = rig.store.events()
    newest = events[-1]["id"] if events else None

    async def there() -> bool:
        cursor = await rig.cursor(district_id)
        return cursor is not None and cursor["after"] == newest

    await until(there, what="the worker at the newest event")


async def _synced(rig: Rig, district_id: str, *, other_than: str | None = None) -> str:
    store = rig.roster()

    async def copy() -> bool:
        info = await store.info(district_id)
        return info is not None and info.generation != other_than

    await until(copy, what="a full sync of the district")
    info = await store.info(district_id)
    assert info is not None
    return info.generation


@contextlib.asynccontextmanager
async def _held(rig: Rig, district_id: str) -> AsyncIterator[DistrictLock]:
    lock = rig.cursors().lock(district_id, ttl=10)
    async with lock.hold() as held:
        assert held
        yield lock


async def _assert_no_copy(rig: Rig, store: RosterStore, district_id: str, keys: str) -> None:
    """No copy of the district, and no key under the test's prefix that matches `keys`."""
    assert await store.info(district_id) is None
    assert [key async for key in rig.redis.scan_iter(match=f"{rig.key_prefix}{keys}")] == []


def _event(rig: Rig, index: int = -1) -> Event:
    return Event.model_validate(rig.store.events()[index])


def _later_id(rig: Rig, by: int) -> str:
    """An id after the sandbox's newest event (its ids end in a hex serial)."""
    events = rig.store.events()
    if not events:
        return f"{by:024x}"
    newest = str(events[-1]["id"])
    return newest[:-6] + f"{int(newest[-6:], 16) + 1000 + by:06x}"


async def _copy(rig: Rig, store: RosterStore, district_id: str) -> dict[Any, Any]:
    info = await store.info(district_id)
    assert info is not None
    raw = await rig.redis.hgetall(store.generation_key(district_id, info.generation))
    return dict(raw)


async def test_each_kind_of_change_leaves_the_copy_as_a_fresh_sync_would(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    contact = demo_user(rig.store, "contact")
    district = teacher["district"]
    sections = rig.store.roster.sections_of_user(teacher)
    section = next(s for s in sections if len(s.get("students") or []) >= 3)
    other_teacher = next(
        u["id"]
        for u in rig.store.all("users")
        if u["district"] == district and "teacher" in u["roles"] and u["id"] != teacher["id"]
    )
    students = [
        u["id"] for u in rig.store.all("users") if u["district"] == district and "student" in u["roles"]
    ]
    outsider = next(s for s in students if s not in section["students"])
    resource = rig.store.all("resources")[0]
    store = rig.roster()
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        await _synced(rig, district)
        await _caught_up(rig, district)
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Renamed"}})
        kept = section["students"][1:]
        await rig.control(
            "PATCH",
            f"/sandbox/sections/{section['id']}",
            {"students": [*kept, outsider], "teachers": [teacher["id"], other_teacher], "name": "Moved"},
        )
        created = await rig.control(
            "POST",
            "/sandbox/sections",
            {"school": section["school"], "teacher": other_teacher, "students": students[:3]},
        )
        doomed = next(
            s
            for s in rig.store.all("sections")
            if s["district"] == district and s["id"] not in (section["id"], created["id"]) and s["students"]
        )
        await rig.control("DELETE", f"/sandbox/sections/{doomed['id']}")
        shared = await rig.control(
            "POST",
            "/sandbox/resources",
            {"title": "Atlas", "roles": ["student"], "sections": [created["id"]], "users": [teacher["id"]]},
        )
        await rig.control("PATCH", f"/sandbox/resources/{resource['id']}", {"title": "Retitled", "users": []})
        links = contact["roles"]["contact"]["student_relationships"]
        await rig.control(
            "PATCH",
            f"/sandbox/users/{contact['id']}",
            {"roles": {"contact": {"student_relationships": links[1:]}}},
        )
        newcomer = await rig.control(
            "POST",
            "/sandbox/users",
            {
                "district": district,
                "name": {"first": "New", "last": "Pupil"},
                "roles": {"student": {"school": section["school"], "grade": "5"}},
            },
        )
        await rig.control("PATCH", f"/sandbox/sections/{created['id']}", {"students": [newcomer["id"]]})
        await rig.control("DELETE", f"/sandbox/users/{students[-1]}")
        await _caught_up(rig, district)
    assert shared["id"]
    await _as_fresh_sync(rig, district, store, [*_district_users(rig, district), students[-1]])
    renamed = await _stored(store, district, teacher["id"])
    assert renamed is not None
    assert renamed["user"]["name"]["first"] == "Renamed"
    assert await _stored(store, district, students[-1]) is None  # deleted


async def test_an_event_applied_twice_or_after_a_newer_one_changes_nothing(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    store = rig.roster()
    await rig.sync(district, store)
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "First"}})
    first = _event(rig)
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Second"}})
    second = _event(rig)
    deltas = Deltas(store=store, clever=rig.clever, tokens=rig.tokens())
    async with _held(rig, district) as lock:
        assert (await deltas.apply(district, first, lock)).applied == "applied"
        once = await _copy(rig, store, district)
        assert (await deltas.apply(district, first, lock)).applied == "already"
        assert await _copy(rig, store, district) == once
        assert (await deltas.apply(district, second, lock)).applied == "applied"
        after = await _copy(rig, store, district)
        assert (await deltas.apply(district, first, lock)).applied == "already"
        assert await _copy(rig, store, district) == after
    stored = await _stored(store, district, teacher["id"])
    assert stored is not None
    assert stored["user"]["name"]["first"] == "Second"
    info = await store.info(district)
    assert info is not None
    assert info.last_event == second.id


async def test_a_contact_linked_to_a_student_the_copy_has_not_seen_yet_finds_them_once_created(
    rig: Rig,
) -> None:
    contact = demo_user(rig.store, "contact")
    district = contact["district"]
    school = rig.store.all("schools")[0]["id"]
    store = rig.roster()
    await rig.sync(district, store)
    pupil = await rig.control(
        "POST",
        "/sandbox/users",
        {
            "district": district,
            "name": {"first": "Late", "last": "Pupil"},
            "roles": {"student": {"school": school}},
        },
    )
    links = contact["roles"]["contact"]["student_relationships"]
    link = {"student": pupil["id"], "relationship": "Parent", "type": "Family"}
    await rig.control(
        "PATCH",
        f"/sandbox/users/{contact['id']}",
        {"roles": {"contact": {"student_relationships": [*links, link]}}},
    )
    created, linked = rig.store.events()[-2:]
    assert (created["type"], linked["type"]) == ("users.created", "users.updated")
    # The stream in the other order: the contact's new link before the student exists in the copy.
    first = Event.model_validate({**linked, "id": created["id"], "created": created["created"]})
    then = Event.model_validate({**created, "id": linked["id"], "created": linked["created"]})
    deltas = Deltas(store=store, clever=rig.clever, tokens=rig.tokens())
    async with _held(rig, district) as lock:
        for event in (first, then):
            assert (await deltas.apply(district, event, lock)).applied == "applied"
    stored = await _stored(store, district, contact["id"])
    assert stored is not None
    assert pupil["id"] in {student["id"] for student in stored["roles"]["contact"]["students"]}
    await _as_fresh_sync(rig, district, store, [contact["id"], pupil["id"]])


async def test_previous_attributes_are_read_beside_data_and_inside_it(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = next(s for s in rig.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 2)
    beside, inside = rig.roster(f"{rig.key_prefix}beside:"), rig.roster(f"{rig.key_prefix}inside:")
    for store in (beside, inside):
        await rig.sync(district, store)
    leaving = section["students"][0]
    await rig.control("PATCH", f"/sandbox/sections/{section['id']}", {"students": section["students"][1:]})
    raw = dict(rig.store.events()[-1])
    assert "previous_attributes" in raw["data"]  # the shared sandbox puts it inside `data`
    moved = {
        **raw,
        "data": {key: value for key, value in raw["data"].items() if key != "previous_attributes"},
        "previous_attributes": raw["data"]["previous_attributes"],
    }
    for store, event in ((beside, moved), (inside, raw)):
        deltas = Deltas(store=store, clever=rig.clever, tokens=rig.tokens())
        async with _held(rig, district) as lock:
            assert (await deltas.apply(district, Event.model_validate(event), lock)).applied == "applied"
        stored = await _stored(store, district, leaving)
        assert stored is not None
        assert section["id"] not in {s["id"] for s in stored["sections"]}
        await _as_fresh_sync(rig, district, store, [leaving, teacher["id"], *section["students"]])


async def test_schools_courses_terms_and_the_district_change_from_their_events(rig: Rig) -> None:
    district = demo_user(rig.store, "teacher")["district"]
    store = rig.roster()
    await rig.sync(district, store)
    school, course, term = (rig.store.all(kind)[0] for kind in ("schools", "courses", "terms"))
    record = rig.store.district(district)
    assert record is not None
    events = [
        ("schools.updated", {**school, "name": "Renamed School"}),
        ("courses.updated", {**course, "name": "Renamed Course"}),
        ("terms.deleted", term),
        ("districts.updated", {**record, "name": "Renamed District"}),
    ]
    deltas = Deltas(store=store, clever=rig.clever, tokens=rig.tokens())
    async with _held(rig, district) as lock:
        for n, (kind, obj) in enumerate(events, start=1):
            event = Event.model_validate({"id": _later_id(rig, n), "type": kind, "data": {"object": obj}})
            assert (await deltas.apply(district, event, lock)).applied == "applied"
    assert (await store.read_record(district, "schools", school["id"]) or {})["name"] == "Renamed School"
    assert (await store.read_record(district, "courses", course["id"]) or {})["name"] == "Renamed Course"
    assert await store.read_record(district, "terms", term["id"]) is None
    assert (await store.read_record(district, "districts", district) or {})["name"] == "Renamed District"


async def test_deleted_user_and_deleted_district_leave_the_copy(rig: Rig) -> None:
    student = demo_user(rig.store, "student")
    district = student["district"]
    store = rig.roster()
    await rig.sync(district, store)
    assert await store.read_user(district, student["id"]) is not None
    await rig.control("DELETE", f"/sandbox/users/{student['id']}")
    deleted = next(
        Event.model_validate(e)
        for e in rig.store.events()
        if e["type"] == "users.deleted" and e["data"]["object"]["id"] == student["id"]
    )
    deltas = Deltas(store=store, clever=rig.clever, tokens=rig.tokens())
    async with _held(rig, district) as lock:
        assert (await deltas.apply(district, deleted, lock)).applied == "applied"
        assert await store.read_user(district, student["id"]) is None
        await rig.control("DELETE", f"/sandbox/districts/{district}")
        assert (await deltas.apply(district, _event(rig), lock)).applied == "applied"
    await _assert_no_copy(rig, store, district, f"ro:{{{district}}}*")


async def test_an_event_for_a_district_without_a_copy_leaves_the_store_alone(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    store = rig.roster()
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Nobody"}})
    deltas = Deltas(store=store, clever=rig.clever, tokens=rig.tokens())
    async with _held(rig, district) as lock:
        assert (await deltas.apply(district, _event(rig), lock)).applied == "no_copy"
    await _assert_no_copy(rig, store, district, "ro:*")


@pytest.mark.parametrize(
    "sandbox_in_mode",
    [{"previous_attributes": "inside"}, {"previous_attributes": "beside"}],
    indirect=True,
    ids=["inside", "beside"],
)
@pytest.mark.parametrize("copy", [True, False], ids=["roster-copy", "no-copy"])
async def test_who_left_an_updated_section_is_found_wherever_the_feed_puts_previous_attributes(
    make_rig: RigFactory, sandbox_in_mode: RunningSandbox, copy: bool
) -> None:
    """A student and a co-teacher leave a section: only the event's `previous_attributes` names
    them, inside `data` (Clever's Events API page) or beside it (its definitions). Their
    sessions, and with a roster copy their records in it, lose the section."""
    async with make_rig(on=sandbox_in_mode) as rig:
        teacher = demo_user(rig.store, "teacher")
        district = teacher["district"]
        section = next(
            s for s in rig.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 2
        )
        other_teacher = next(
            u["id"]
            for u in rig.store.all("users")
            if "teacher" in u["roles"] and u["district"] == district and u["id"] != teacher["id"]
        )
        await rig.control(
            "PATCH", f"/sandbox/sections/{section['id']}", {"teachers": [teacher["id"], other_teacher]}
        )
        leaving = section["students"][0]
        student, co_teacher = await rig.log_in(leaving), await rig.log_in(other_teacher)
        for person in (student, co_teacher):
            assert section["id"] in {x["id"] for x in (await person.principal())["sections"]}
        roster = rig.keeping() if copy else None
        async with running(rig.worker(roster=roster, allowed_districts=frozenset({district}))):
            if copy:
                await _synced(rig, district)
            await _caught_up(rig, district)
            await rig.control(
                "PATCH",
                f"/sandbox/sections/{section['id']}",
                {"students": section["students"][1:], "teachers": [teacher["id"]]},
            )
            event = rig.store.events()[-1]
            placed = event["data"] if sandbox_in_mode.config.previous_attributes == "inside" else event
            assert set(placed["previous_attributes"]) >= {"students", "teachers"}

            async def left() -> bool:
                sections = [
                    {x["id"] for x in (await p.principal())["sections"]} for p in (student, co_teacher)
                ]
                return all(section["id"] not in mine for mine in sections)

            await until(left, what="both sessions without the section")
        if copy:
            for user_id in (leaving, other_teacher):
                stored = await _stored(rig.roster(), district, user_id)
                assert stored is not None
                assert section["id"] not in {x["id"] for x in stored["sections"]}
            await _as_fresh_sync(rig, district, rig.roster(), [leaving, other_teacher, teacher["id"]])


async def test_live_sessions_are_refreshed_from_the_copy_without_a_data_api_call(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = next(s for s in rig.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 2)
    t = await rig.log_in(teacher["id"])
    s = await rig.log_in(section["students"][0])
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        await _synced(rig, district)
        await _caught_up(rig, district)
        for path in ("/v3.1/users/*", "/v3.1/sections*", "/v3.1/resources*", "/v3.1/users"):
            await count_requests(rig.sandbox.url, path)
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "FromStore"}})
        await rig.control(
            "PATCH", f"/sandbox/sections/{section['id']}", {"students": section["students"][1:]}
        )

        async def refreshed() -> bool:
            named = (await t.principal())["user"]["name"]["first"] == "FromStore"
            left = section["id"] not in {x["id"] for x in (await s.principal())["sections"]}
            return named and left

        await until(refreshed, what="both sessions refreshed")
        for path in ("/v3.1/users/*", "/v3.1/sections*", "/v3.1/resources*", "/v3.1/users"):
            assert await requests_seen(rig.sandbox.url, path) == 0, path


async def test_the_worker_syncs_at_first_sight_and_on_request(rig: Rig) -> None:
    district = demo_user(rig.store, "teacher")["district"]
    store = rig.roster()
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        first = await _synced(rig, district)
        info = await store.info(district)
        assert info is not None
        assert info.counts["users"] == len(_district_users(rig, district))
        assert await store.request_sync(district)
        second = await _synced(rig, district, other_than=first)
    assert second != first
    assert not await store.take_sync_request(district)  # taken by the worker


async def test_a_lost_stream_brings_a_full_sync_and_sessions_from_it(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    t = await rig.log_in(teacher["id"])
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        first = await _synced(rig, district)
        await _caught_up(rig, district)
    # The worker stopped for 31 days (its cursor says so), while the roster changed.
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Meanwhile"}})
    old = {"after": rig.store.events()[0]["id"], "seen_until": time.time() - 31 * 86400}
    await rig.redis.set(rig.cursors().key(district), json.dumps(old))
    await count_requests(rig.sandbox.url, "/v3.1/users/*")
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        await _synced(rig, district, other_than=first)
        await _caught_up(rig, district)

        async def refreshed() -> bool:
            return bool((await t.principal())["user"]["name"]["first"] == "Meanwhile")

        await until(refreshed, what="the session resynchronised")
        # From the new copy: the users list is asked for (who is gone), no one's roster.
        assert await requests_seen(rig.sandbox.url, "/v3.1/users/*") == 0
    stored = await _stored(rig.roster(), district, teacher["id"])
    assert stored is not None
    assert stored["user"]["name"]["first"] == "Meanwhile"


async def test_events_during_a_sync_reach_the_new_copy(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = next(s for s in rig.store.roster.sections_of_user(teacher) if len(s.get("students") or []) >= 2)
    leaving = section["students"][0]
    # The sync lists users last, after the sections: a change made while it waits on that list
    # is not in what it read.
    await count_requests(rig.sandbox.url, "/v3.1/users", latency_ms=SLOW_SYNC * 1000 / 5)
    store = rig.roster()
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):

        async def listing_users() -> bool:
            return await requests_seen(rig.sandbox.url, "/v3.1/users") >= 1

        await until(listing_users, what="the sync listing users")
        await rig.control(
            "PATCH", f"/sandbox/sections/{section['id']}", {"students": section["students"][1:]}
        )
        await _synced(rig, district)
        await _caught_up(rig, district)

        async def applied() -> bool:
            stored = await _stored(store, district, leaving)
            return stored is not None and section["id"] not in {s["id"] for s in stored["sections"]}

        await until(applied, what="the change made during the sync in the copy")
    await _as_fresh_sync(rig, district, store, _district_users(rig, district))


async def test_a_cursor_past_the_syncs_start_is_set_back_so_no_event_is_lost(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    keeping = rig.keeping()

    async def sync_then_cursor_moves(district_id: str) -> SyncReport:
        report = await keeping.sync(district_id)
        # After the sync began, an event came and the cursor moved past it (as a poll would),
        # but the new copy never saw it.
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Unseen"}})
        moved = {"after": rig.newest_event_id(), "seen_until": time.time()}
        await rig.redis.set(rig.cursors().key(district_id), json.dumps(moved))
        return report

    worker = rig.worker(
        roster=dataclasses.replace(keeping, sync=sync_then_cursor_moves),
        allowed_districts=frozenset({district}),
    )
    async with running(worker):
        await _synced(rig, district)

        async def seen() -> bool:
            stored = await _stored(rig.roster(), district, teacher["id"])
            return stored is not None and stored["user"]["name"]["first"] == "Unseen"

        await until(seen, what="the event after the sync's start in the new copy")


async def test_clever_no_longer_knowing_the_cursors_event_brings_a_full_sync(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        first = await _synced(rig, district)
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Before"}})
        await _caught_up(rig, district)
    await add_fault(rig.sandbox.url, "/v3.1/events", status=404, count=1)
    metrics = EventMetrics()
    async with running(rig.worker(metrics, roster=rig.keeping(), allowed_districts=frozenset({district}))):
        await _synced(rig, district, other_than=first)
    assert 'clever_events_resyncs_total{reason="gone"} 1.0' in metrics.render().decode()


async def test_a_person_missing_from_the_copy_is_refreshed_live(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    section = rig.store.roster.sections_of_user(teacher)[0]
    t = await rig.log_in(teacher["id"])
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        await _synced(rig, district)
        await _caught_up(rig, district)
        await count_requests(rig.sandbox.url, "/v3.1/users/*")
        await rig.roster().delete_user(district, teacher["id"])
        await rig.control("PATCH", f"/sandbox/sections/{section['id']}", {"name": "Renamed Live"})

        async def refreshed() -> bool:
            names = {x["id"]: x["name"] for x in (await t.principal())["sections"]}
            return names.get(section["id"]) == "Renamed Live"

        await until(refreshed, what="the session refreshed")
        assert await requests_seen(rig.sandbox.url, "/v3.1/users/*") > 0


async def test_a_slow_sync_leaves_the_other_districts_polled(rig: Rig) -> None:
    districts = rig.store.district_ids()[:2]
    store = rig.roster()
    # Every users list waits: the first sync holds on to it while the other district is polled.
    await count_requests(rig.sandbox.url, "/v3.1/users", latency_ms=SLOW_SYNC * 1000)
    worker = rig.worker(roster=rig.keeping())
    async with running(worker):

        async def one_syncing() -> bool:
            return worker.syncing is not None and await requests_seen(rig.sandbox.url, "/v3.1/users") >= 1

        await until(one_syncing, what="a sync under way")
        # The district being synced is the one with a generation being written.
        busy = [d for d in districts if await rig.redis.exists(store.generations_key(d))]
        assert len(busy) == 1
        other = next(d for d in districts if d not in busy)
        someone = next(u for u in rig.store.all("users") if u["district"] == other)
        await rig.control("PATCH", f"/sandbox/users/{someone['id']}", {"name": {"first": "Polled"}})
        newest = rig.newest_event_id()

        async def polled() -> bool:
            cursor = await rig.cursor(other)
            return cursor is not None and cursor["after"] == newest

        await until(polled, what="the other district's event read during the sync")
        assert worker.syncing is not None  # still under way


async def test_a_copy_sealed_under_a_secret_no_longer_held_is_synced_again_at_once(rig: Rig) -> None:
    district = demo_user(rig.store, "teacher")["district"]
    teacher = demo_user(rig.store, "teacher")
    # As after SESSION_SECRET was replaced without keeping the old one (every `clever-login dev`
    # start does): a copy there, that this worker's keys cannot read.
    gone = RosterStore(
        rig.redis,
        Keyring.from_secret("a secret this worker does not hold, long enough"),
        prefix=rig.key_prefix,
    )
    await rig.sync(district, gone)
    old = await rig.roster().info(district)
    assert old is not None
    assert not rig.roster().can_unseal(old)
    async with running(rig.worker(roster=rig.keeping(), allowed_districts=frozenset({district}))):
        await _synced(rig, district, other_than=old.generation)
    info = await rig.roster().info(district)
    assert info is not None
    assert rig.roster().can_unseal(info)
    assert await rig.roster().read_user(district, teacher["id"]) is not None
