"""A full sync of one district's roster into the store (app.roster.store), with its district-app
token: every list in pages of `page_size` (Clever's largest, 10,000: per Clever's paging
docs, a larger `limit` is refused with 413), each resource's sections and users, then one switch.

Nothing the sync learns is visible until the end: a sync that fails (Clever, Redis, a
cancellation) discards its generation and leaves the previous copy in use. Clever's pages of
10,000 users run to several MB: the sync reads with `SYNC_BODY_LIMIT` (the client given keeps its
own limit for every other call, such as a login's).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from app.clever import CleverClient, CleverRejected, CleverUnauthorized, in_background
from app.clever.models import Resource, Section, User
from app.roster.district_tokens import DistrictTokens
from app.roster.store import ENROLLED, RESOURCE, STUDENT, TEACHES, CopyInfo, RosterStore

logger = logging.getLogger("app.roster.sync")

MAX_PAGE_SIZE = 10_000
# Bytes a sync accepts in one answer. A sandbox page of 10,000 users is 12.8 MB (1.3 KB a user);
# Clever's records may carry more fields: room for five times that. Logins keep the client's
# default (app.clever.http.DEFAULT_BODY_LIMIT).
SYNC_BODY_LIMIT = 64 * 1024 * 1024
# Resources whose shares are asked for at once: a district has tens, each costs two calls.
_RESOURCE_CONCURRENCY = 4

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SyncReport:
    district_id: str
    info: CopyInfo

    @property
    def calls(self) -> int:
        return self.info.calls


class _Calls:
    """Requests a sync makes, counted from what came back: a list of n items in pages of
    `size` takes n // size + 1 requests (the last one short or empty). Retries not counted."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = 0

    def one(self) -> None:
        self.count += 1

    def listed(self, items: Sequence[object]) -> None:
        self.count += len(items) // self.size + 1


@in_background  # a sync's calls leave the district token's window to logins first
async def sync_district(
    clever: CleverClient,
    tokens: DistrictTokens,
    store: RosterStore,
    district_id: str,
    *,
    student_fields: frozenset[str],
    page_size: int = MAX_PAGE_SIZE,
    body_limit: int = SYNC_BODY_LIMIT,
    clock: Callable[[], float] = time.time,
) -> SyncReport:
    """Sync the district and switch readers to the new copy, reading answers of up to
    `body_limit` bytes with `clever` (its rate budget and breakers, shared with logins). A 401
    drops the cached token and the sync starts once more with a fresh one; every other failure
    propagates (the client's `CleverError`, `DistrictNotConnected`, `DistrictPurged`, a Redis
    error)."""
    clever = clever.with_body_limit(body_limit)
    return await tokens.call(
        district_id,
        lambda token: _sync(clever, token, store, district_id, student_fields, page_size, clock),
    )


async def _sync(
    clever: CleverClient,
    token: str,
    store: RosterStore,
    district_id: str,
    student_fields: frozenset[str],
    size: int,
    clock: Callable[[], float],
) -> SyncReport:
    started, began = clock(), time.perf_counter()
    calls = _Calls(size)
    # The newest event before the first list: the copy reflects at least everything up to it,
    # and the events worker applies what comes after.
    events_after = await _newest_event(clever, token, calls)
    generation = await store.new_generation(district_id, student_fields=student_fields)
    try:
        calls.one()
        await generation.put("districts", [await clever.district(token, district_id)])
        for kind, listing in (
            ("schools", clever.schools),
            ("courses", clever.courses),
            ("terms", clever.terms),
        ):
            records = await listing(token, limit=size)
            calls.listed(records)
            await generation.put(kind, records)
        sections = await clever.sections(token, limit=size)
        calls.listed(sections)
        await generation.put("sections", sections)
        resources = await clever.resources(token, limit=size)
        calls.listed(resources)

        async def shares(resource_id: str) -> tuple[list[Section], list[User]]:
            shared = await clever.resource_sections(token, resource_id, limit=size)
            holders = await clever.resource_users(token, resource_id, limit=size)
            calls.listed(shared)
            calls.listed(holders)
            return shared, holders

        shared = await _bounded([shares(resource.id) for resource in resources], _RESOURCE_CONCURRENCY)
        await generation.put_resource_shares(
            resources,
            {
                resource.id: [s.id for s in found]
                for resource, (found, _) in zip(resources, shared, strict=True)
            },
            {
                resource.id: direct_holders(resource, found, holders)
                for resource, (found, holders) in zip(resources, shared, strict=True)
            },
        )
        users = await clever.users(token, limit=size)
        calls.listed(users)
        links = _links(
            users, sections, {r.id: holders for r, (_, holders) in zip(resources, shared, strict=True)}
        )
        await generation.put_users(users, links)
        info = await generation.commit(
            synced_at=started,
            seconds=time.perf_counter() - began,
            calls=calls.count,
            events_after=events_after,
        )
    except BaseException:
        await asyncio.shield(generation.discard())
        raise
    logger.info(
        "district roster synced",
        extra={
            "event": "roster_synced",
            "district": district_id,
            "calls": info.calls,
            "seconds": round(info.seconds, 3),
            "users": info.counts.get("users", 0),
        },
    )
    return SyncReport(district_id, info)


async def newest_event_id(
    clever: CleverClient,
    token: str,
    *,
    walk_on: Callable[[CleverRejected], bool],
    before_call: Callable[[], None] = lambda: None,
) -> str | None:
    """The newest event's id: one call (`ending_before=last`), or, should Clever refuse that
    form (it documents none: README, "Sandbox modes") and `walk_on` the refusal say so, a walk
    to the end of the stream (30 days of events at most, 10000 a page). A refusal not walked
    on is raised, as is a 401."""
    before_call()
    try:
        page = await clever.events(token, ending_before="last", limit=1)
        return page.cursor  # the newest event's id, parsed or not (None: no events)
    except CleverRejected as exc:
        if isinstance(exc, CleverUnauthorized) or not walk_on(exc):
            raise
    after: str | None = None
    while True:
        before_call()
        page = await clever.events(token, starting_after=after, limit=MAX_PAGE_SIZE)
        after = page.cursor
        if page.read < MAX_PAGE_SIZE:
            return after


def _walk_on_bad_request(exc: CleverRejected) -> bool:
    """A 400 refuses the `last` form itself; any other refusal says the district's events are not
    enabled, and walking would be refused too."""
    if exc.status != 400:
        return False
    logger.warning(
        "ending_before=last refused; walking to the newest event",
        extra={"event": "roster_sync_newest_walk", "status": exc.status},
    )
    return True


async def _newest_event(clever: CleverClient, token: str, calls: _Calls) -> str | None:
    try:
        return await newest_event_id(clever, token, walk_on=_walk_on_bad_request, before_call=calls.one)
    except CleverUnauthorized:
        raise
    except CleverRejected:
        return None  # events not enabled for the district: nothing to resume from


async def _bounded(calls: Sequence[Awaitable[T]], limit: int) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(call)) for call in calls]
    return [task.result() for task in tasks]


def section_members(section: Section) -> tuple[list[str], list[str]]:
    """A section's teachers (the primary one among them) and its students who do not also
    teach it: as the T and E links name them."""
    teachers = list(dict.fromkeys([*section.teachers, *([section.teacher] if section.teacher else [])]))
    return teachers, [student for student in dict.fromkeys(section.students) if student not in teachers]


def direct_holders(resource: Resource, sections: Sequence[Section], holders: Sequence[User]) -> list[str]:
    """Who holds the resource other than through its sections (where Clever gives it to each
    section member whose part is in the resource's `roles`): the users events keep it for
    when they leave a section."""
    through: set[str] = set()
    for section in sections:
        teachers, students = section_members(section)
        if "teacher" in resource.roles:
            through.update(teachers)
        if "student" in resource.roles:
            through.update(students)
    return [user.id for user in holders if user.id not in through]


def _links(
    users: Sequence[User], sections: Sequence[Section], holders: dict[str, list[User]]
) -> dict[str, list[tuple[bytes, str]]]:
    """Each person's links (app.roster.store): the sections they teach or are enrolled in (as
    `/users/{id}/sections` answers), the resources they get (as `/resources/{id}/users` names
    them), and for a contact the linked students of the district."""
    links: defaultdict[str, list[tuple[bytes, str]]] = defaultdict(list)
    for section in sections:
        teaching, enrolled = section_members(section)
        for teacher in teaching:
            links[teacher].append((TEACHES, section.id))
        for student in enrolled:
            links[student].append((ENROLLED, section.id))
    for resource_id, people in holders.items():
        for person in dict.fromkeys(user.id for user in people):
            links[person].append((RESOURCE, resource_id))
    # A contact links every student its relationships name, in the copy or not (yet): a student
    # created after the contact is then found at the contact's next login, and a sync and the
    # events leave the same links (a link to no record is skipped when read).
    for user in users:
        if user.roles.contact is not None:
            linked = dict.fromkeys(link.student for link in user.roles.contact.student_relationships)
            links[user.id] += [(STUDENT, student) for student in linked if student]
    return dict(links)
