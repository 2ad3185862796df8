"""Effects one poll at a time: what each kind of event does, and what it leaves alone."""

from __future__ import annotations

from typing import Any, cast

import pytest

from app.clever import CleverClient
from app.clever.models import Event
from app.events.effects import Effects
from app.events.metrics import EventMetrics
from app.roster.fieldpolicy import parse_student_fields
from app.roster.principal import Principal
from tests.clever.sandbox_control import add_fault, remaining
from tests.conftest import RunningSandbox
from tests.events.conftest import Rig, RigFactory
from tests.support.clever import count_requests, requests_seen
from tests.support.demo import demo_user


def _sections(body: dict[str, Any]) -> set[str]:
    return {section["id"] for section in body["sections"]}


async def test_a_deleted_section_leaves_its_teacher_and_students(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    section = next(s for s in rig.store.roster.sections_of_user(teacher) if s["students"])
    t, s = await rig.log_in(teacher["id"]), await rig.log_in(section["students"][0])
    staff = await rig.log_in(demo_user(rig.store, "staff")["id"])
    before = await staff.principal()
    metrics = EventMetrics()
    worker = rig.worker(metrics)
    await worker.poll(teacher["district"])  # first start
    await rig.control("DELETE", f"/sandbox/sections/{section['id']}")
    await worker.poll(teacher["district"])
    for person in (t, s):
        assert section["id"] not in _sections(await person.principal())
    after = await staff.principal()
    assert after["roster"] == before["roster"]
    assert metrics.processed_count("sections.deleted") == 1

    # Applying the same events again (as after a crash) changes nothing more.
    cursor_before = await rig.cursor(teacher["district"])
    assert cursor_before is not None
    teacher_body = await t.principal()
    event = Event.model_validate(rig.store.events()[-1])
    await _effects(rig, metrics).apply(teacher["district"], event)
    again = await t.principal()
    assert {k: v for k, v in again.items() if k not in ("roster", "session")} == {
        k: v for k, v in teacher_body.items() if k not in ("roster", "session")
    }


async def test_a_districts_deleted_event_ends_the_district_and_nothing_else(rig: Rig) -> None:
    first, second = rig.store.district_ids()[:2]
    there = next(login.user_id for login in rig.store.demo_logins() if login.district_id == second)
    p_there, p_here = await rig.log_in(there), await rig.log_in(demo_user(rig.store, "teacher")["id"])
    deleted = Event.model_validate(
        {
            "id": "0" * 24,
            "type": "districts.deleted",
            "created": "2026-01-01T00:00:00.000Z",
            "data": {"object": {"id": second, "name": "Gone"}},
        }
    )
    metrics = EventMetrics()
    effects = _effects(rig, metrics)
    await effects.apply(first, deleted)  # about another district: not ours to end
    assert not await p_there.logged_out()
    await effects.apply(second, deleted)
    assert await p_there.logged_out()
    assert not await p_here.logged_out()


async def test_events_about_nobody_logged_in_cost_clever_nothing(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    metrics = EventMetrics()
    worker = rig.worker(metrics)
    await worker.poll(teacher["district"])
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Nobody"}})
    await count_requests(rig.sandbox.url, "/v3.1/users/*")
    await worker.poll(teacher["district"])
    assert metrics.processed_count("users.updated") == 1
    assert await requests_seen(rig.sandbox.url, "/v3.1/users/*") == 0  # no roster fetched
    # Once they are logged in, the same kind of event fetches their roster.
    await rig.log_in(teacher["id"])
    seen = await requests_seen(rig.sandbox.url, "/v3.1/users/*")
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Somebody"}})
    await worker.poll(teacher["district"])
    assert await requests_seen(rig.sandbox.url, "/v3.1/users/*") - seen == 3  # user, sections, resources


def _effects(rig: Rig, metrics: EventMetrics) -> Effects:
    return Effects(
        sessions=rig.sessions(),
        clever=rig.clever,
        tokens=rig.tokens(),
        metrics=metrics,
        student_fields=parse_student_fields(None),
    )


async def test_only_allowed_districts_are_followed(rig: Rig) -> None:
    first, second = rig.store.district_ids()[:2]
    worker = rig.worker(allowed_districts=frozenset({first}))
    await worker.cycle()
    assert await rig.cursor(first) is not None
    assert await rig.cursor(second) is None
    await rig.worker().cycle()
    assert await rig.cursor(second) is not None


async def test_a_refresh_by_the_user_outranks_an_older_worker_update(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    person = await rig.log_in(teacher["id"])
    login = await person.principal()
    refreshed = await person.browser.http.post(
        f"{rig.backend}/auth/session/refresh", headers={"X-Requested-With": "test"}
    )
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["roster"]["event_id"] is None
    assert body["roster"]["fetched_at"] > login["roster"]["fetched_at"]
    # A worker's update fetched before that refresh (slow, or delayed) arrives afterwards.
    stale = {**body, "user": {**body["user"], "name": {"first": "Stale"}}, "roster": login["roster"]}
    stale.pop("session")
    sessions = rig.sessions()
    assert (
        await sessions.push_update(
            await sessions.user_storage_ids(teacher["id"]),
            {"kind": "principal", "principal": cast(Principal, stale)},
        )
        == 1
    )
    assert (await person.principal())["user"]["name"] == body["user"]["name"]


async def test_a_first_start_finds_the_newest_event_even_without_ending_before_last(
    rig: Rig, no_retry_clever: CleverClient
) -> None:
    teacher = demo_user(rig.store, "teacher")
    for first in ("One", "Two", "Three"):
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": first}})
    await add_fault(rig.sandbox.url, "/v3.1/events", method="GET", status=400, count=1)
    await rig.worker(clever=no_retry_clever).poll(teacher["district"])
    cursor = await rig.cursor(teacher["district"])
    assert cursor is not None
    assert cursor["after"] == rig.newest_event_id()
    assert await remaining(rig.sandbox.url, "/v3.1/events") == 0  # the refusal did happen


@pytest.mark.parametrize(
    ("sandbox_in_mode", "calls"),
    [({"events_ending_before_last": "refused"}, 2), ({"events_ending_before_last": "answered"}, 1)],
    indirect=["sandbox_in_mode"],
    ids=["refused", "answered"],
)
async def test_a_first_start_finds_the_newest_event_whether_ending_before_last_is_refused_or_not(
    make_rig: RigFactory, sandbox_in_mode: RunningSandbox, calls: int
) -> None:
    """Clever documents no `ending_before=last` (README, "Sandbox modes"): refused, the worker
    walks the stream (one page here: fewer events than a page holds) after the refusal."""
    async with make_rig(on=sandbox_in_mode) as rig:
        teacher = demo_user(rig.store, "teacher")
        for first in ("One", "Two", "Three"):
            await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": first}})
        await count_requests(rig.sandbox.url, "/v3.1/events")
        await rig.worker().poll(teacher["district"])
        cursor = await rig.cursor(teacher["district"])
        assert cursor is not None
        assert cursor["after"] == rig.newest_event_id()
        assert await requests_seen(rig.sandbox.url, "/v3.1/events") == calls
