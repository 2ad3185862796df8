"""Bad input on the roster's way in: a Data API page a sync cannot use, events about records the
copy does not hold or of kinds the worker does not know. Each is logged as a structured event
(and counted where the worker has a metric), leaves nothing half-written in the store, and
logins carry on from the copy."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.clever import CleverClient
from app.events.metrics import EventMetrics
from app.events.worker import RosterKeeping
from app.roster.fieldpolicy import parse_student_fields
from app.roster.sync import SyncReport, sync_district
from clever_sandbox.faults import HUGE_BODY_BYTES
from tests.clever.sandbox_control import add_fault, remaining
from tests.events.conftest import Person, Rig, running, until
from tests.events.test_deltas import _as_fresh_sync, _caught_up, _district_users
from tests.support.clever import sandbox_clever
from tests.support.demo import demo_user
from tests.support.servers import serve_in_thread

USERS = "/v3.1/users"
# A sync reading with a quarter of the sandbox's huge body as its limit: the district's own
# pages fit in it many times over, the huge one does not.
SMALL_SYNC_LIMIT = HUGE_BODY_BYTES // 4


class RecordWithoutId:
    """In front of the sandbox: every request goes through, but the first answer listing users
    comes back with its first record's `id` removed (as a broken Clever or proxy might send)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.fired = False
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST"])])

    async def forward(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with httpx.AsyncClient(base_url=self.upstream) as http:
            answer = await http.request(
                request.method,
                request.url.path,
                params=request.url.query,
                headers=headers,
                content=await request.body(),
            )
        content = answer.content
        if request.url.path == USERS and answer.status_code == 200 and not self.fired:
            self.fired = True
            page = orjson.loads(content)
            del page["data"][0]["data"]["id"]
            content = orjson.dumps(page)
        kept = {k: v for k, v in answer.headers.items() if k.lower().startswith("x-ratelimit")}
        return Response(content, answer.status_code, kept, media_type=answer.headers.get("content-type"))


@contextlib.contextmanager
def without_an_id(rig: Rig) -> Iterator[tuple[str, RecordWithoutId]]:
    proxy = RecordWithoutId(rig.sandbox.url)
    with serve_in_thread(proxy.app) as url:
        yield url, proxy


@contextlib.asynccontextmanager
async def syncing_with(rig: Rig, how: str) -> AsyncIterator[tuple[CleverClient, RosterKeeping]]:
    """The client and roster upkeep of a worker whose next sync meets a users page it cannot use
    (`how`); the page is armed here."""
    if how == "record_without_id":
        with without_an_id(rig) as (url, proxy):
            async with sandbox_clever(url, rig.sandbox.config) as clever:
                yield clever, rig.keeping(clever)
            assert proxy.fired
        return
    keeping = rig.keeping()
    if how == "over_the_size_limit":
        await add_fault(rig.sandbox.url, USERS, method="GET", status=200, body="huge", count=1)
        tokens, store = rig.tokens(), keeping.store

        async def small_sync(district_id: str) -> SyncReport:
            return await sync_district(
                rig.clever,
                tokens,
                store,
                district_id,
                student_fields=parse_student_fields(None),
                body_limit=SMALL_SYNC_LIMIT,
            )

        keeping = dataclasses.replace(keeping, sync=small_sync)
    else:
        body = {"not_json": "html", "truncated": "malformed"}[how]
        await add_fault(rig.sandbox.url, USERS, method="GET", status=200, body=body, count=1)
    yield rig.clever, keeping
    assert await remaining(rig.sandbox.url, USERS) == 0  # the bad page was the one the sync read


def _records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == event]


async def _logs_in_from_the_copy(rig: Rig, user_id: str) -> Person:
    person = await rig.log_in(user_id)
    body = await person.principal()
    assert body["roster"]["source"] == "store", body["roster"]
    return person


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("not_json", "answer is not JSON"),
        ("truncated", "json_invalid"),
        ("record_without_id", "data.0.data.id: missing"),
        ("over_the_size_limit", f"answer is over {SMALL_SYNC_LIMIT} bytes"),
    ],
)
async def test_a_sync_meeting_a_page_it_cannot_use_keeps_the_previous_copy(
    rig: Rig, how: str, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    store = rig.roster()
    first = await rig.sync(district, store)
    before = await store.read_user(district, teacher["id"])
    assert before is not None
    # Changed since the copy: a copy made from this sync would show it.
    await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Unsynced"}})
    metrics = EventMetrics()
    async with syncing_with(rig, how) as (clever, keeping):
        worker = rig.worker(metrics, clever=clever, roster=keeping, allowed_districts=frozenset({district}))
        with caplog.at_level(logging.INFO, logger="app.events"):
            async with running(worker):
                await _caught_up(rig, district)
                assert await store.request_sync(district)

                async def failed() -> bool:
                    return bool(_records(caplog, "roster_sync_failed"))

                await until(failed, what="the sync to fail")
                # Logins meanwhile come from the copy the sync did not replace.
                person = await _logs_in_from_the_copy(rig, teacher["id"])
    (line,) = _records(caplog, "roster_sync_failed")
    assert line.__dict__["error"] == "CleverMalformed"
    assert line.__dict__["operation"] == "users"
    assert says in line.__dict__["detail"]
    assert line.__dict__["district"] == district
    assert 'clever_events_poll_errors_total{error="sync_failed"} 1.0' in metrics.render().decode()
    # The previous copy, whole and alone: the generation being written is gone.
    assert await store.info(district) == first.info
    generations = [key async for key in rig.redis.scan_iter(match=f"{store.pointer_key(district)}:g:*")]
    assert generations == [store.generation_key(district, first.info.generation).encode()]
    assert await rig.redis.smembers(store.generations_key(district)) == {first.info.generation.encode()}
    after = await store.read_user(district, teacher["id"])
    assert after is not None
    assert after.roster.user == before.roster.user
    assert (await person.principal())["user"]["name"]["first"] != "Unsynced"


def _ghost_id(rig: Rig, n: int) -> str:
    """An id no record of the sandbox (or the copy) has."""
    ghost = f"{'f' * 18}{n:06x}"
    assert all(rig.store.get(kind, ghost) is None for kind in ("users", "sections"))
    return ghost


async def test_events_about_records_the_copy_lacks_or_of_unknown_kinds_are_passed_over(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = demo_user(rig.store, "teacher")
    student = demo_user(rig.store, "student")
    district = teacher["district"]
    section = rig.store.roster.sections_of_user(teacher)[0]
    keeping, deltas = rig.counted_keeping()
    metrics = EventMetrics()
    worker = rig.worker(metrics, roster=keeping, allowed_districts=frozenset({district}))
    store = rig.roster()
    await rig.sync(district, store)
    ghost_section: dict[str, Any] = {
        **section,
        "id": _ghost_id(rig, 1),
        "name": "Ghost",
        "teacher": None,
        "teachers": [],
        "students": [],
    }
    assert student["district"] == district
    ghost_user = {**student, "id": _ghost_id(rig, 2)}
    # The control API makes events only of records the sandbox holds; these are the ones Clever
    # may send of records the copy never had, or of kinds this worker does not know.
    odd = [
        ("sections.updated", ghost_section, "applied"),  # a section update carries the whole record
        ("users.deleted", ghost_user, "applied"),  # nobody to remove: the event is recorded
        ("widgets.updated", {"id": _ghost_id(rig, 3), "district": district}, None),
        ("users.archived", student, None),
    ]
    with caplog.at_level(logging.INFO, logger="app.events"):
        async with running(worker):
            await _caught_up(rig, district)
            info = await store.info(district)
            assert info is not None
            s = await _logs_in_from_the_copy(rig, student["id"])
            for event_type, obj, _ in odd:
                rig.store.emit_unchecked(event_type, obj)
            # The stream carries on past them.
            await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "After"}})
            await _caught_up(rig, district)
    events = [str(event["id"]) for event in rig.store.events()]
    assert deltas.outcomes == [
        *((event_id, how) for event_id, (_, _, how) in zip(events, odd, strict=False)),
        (events[-1], "applied"),
    ]
    assert metrics.processed_count() == len(events)
    assert metrics.processed_count("other") == 2  # the unknown kinds, under one label
    said = [line.__dict__["applied"] for line in _records(caplog, "events_applied")]
    assert sum(applied.get("widgets.updated", 0) for applied in said) == 1
    assert sum(applied.get("users.archived", 0) for applied in said) == 1
    for failure in ("events_cycle_failed", "events_poll_failed", "events_backoff", "roster_sync_failed"):
        assert _records(caplog, failure) == [], failure
    # No sync was needed, and the copy is a fresh sync's for everyone of the district.
    after = await store.info(district)
    assert after is not None
    assert after.generation == info.generation
    assert after.last_event == events[-1]
    assert await store.read_user(district, ghost_user["id"]) is None
    await _as_fresh_sync(rig, district, store, _district_users(rig, district))
    assert not await s.logged_out()
    assert (await _logs_in_from_the_copy(rig, student["id"])).user_id == student["id"]


async def test_an_event_that_does_not_parse_is_passed_over_and_the_stream_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = demo_user(rig.store, "teacher")
    district = teacher["district"]
    keeping, deltas = rig.counted_keeping()
    metrics = EventMetrics()
    worker = rig.worker(metrics, roster=keeping, allowed_districts=frozenset({district}))
    store = rig.roster()
    await rig.sync(district, store)
    with caplog.at_level(logging.INFO, logger="app"):
        async with running(worker):
            await _caught_up(rig, district)
            # A user record without its id: no model of it parses.
            rig.store.emit_unchecked("users.updated", {"district": district, "name": {"first": "Nobody"}})
            await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "After"}})
            await _caught_up(rig, district)
    events = [str(event["id"]) for event in rig.store.events()]
    assert deltas.outcomes == [(events[-1], "applied")]
    assert rig.store.events()[-2]["data"]["object"].get("id") is None
    cursor = await rig.cursor(district)
    assert cursor is not None
    assert cursor["after"] == events[-1]
    assert metrics.render().count(b"clever_events_unreadable_total 1.0") == 1
    [line] = _records(caplog, "clever_event_unreadable")
    assert line.__dict__["type"] == "users.updated"
    assert "Nobody" not in line.getMessage() + str(line.__dict__["problem"])
    for failure in ("events_cycle_failed", "events_poll_failed", "events_backoff"):
        assert _records(caplog, failure) == [], failure
    stored = await store.read_user(district, teacher["id"])
    assert stored is not None
    assert stored.roster.user.name.first == "After"
