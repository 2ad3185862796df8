"""What an Events API event changes in the district's roster copy (app.roster.store), from the
event's own object and `previous_attributes`.

- `users.created` / `users.updated`: the person's record (STUDENT_FIELDS applied before it is
  sealed); a contact's student links follow its `student_relationships`. `users.deleted`: the
  person goes, from every generation of the copy (one being written by a sync too).
- `sections.*`: the record, and the T/E links of everyone who teaches or attends it now or did
  before the change (`previous_attributes`: its `teacher`, `teachers`, `students`); for those
  people, the resources shared with the section (R links) as Clever derives them: held
  directly, or through a section where their part is in the resource's `roles`.
- `schools.*`, `courses.*`, `terms.*`, `districts.updated`: the record. `districts.deleted`:
  the district's copy is purged.
- `resources.*`: the record and who holds it. A resource event says nothing of whom the
  resource is shared with, so `created` / `updated` cost two Data API calls (its sections and
  its users, as a full sync asks them); a district has tens of resources, and these events are
  rare. Every other kind costs nothing at Clever.

Each event is one script (`RosterStore.apply_event`), so a reader sees the copy before the
event or after it, never half-way; re-applying it, or an older event after a newer one,
changes nothing. An event for a district with no copy leaves the store alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from app.clever import CleverClient, CleverNotFound
from app.clever.models import Course, District, Event, Resource, School, Section, Term, User
from app.events.lock import DistrictLock, LockLost
from app.roster.district_tokens import DistrictTokens
from app.roster.store import ENROLLED, TEACHES, Applied, CopyWriter, RosterStore
from app.roster.sync import direct_holders, section_members

logger = logging.getLogger("app.events")

T = TypeVar("T")

_RECORDS: dict[str, type[District | School | Course | Term]] = {
    "schools": School,
    "courses": Course,
    "terms": Term,
    "districts": District,
}


@dataclass(frozen=True, slots=True)
class Delta:
    """How the event went for the store; `holders`, for a resource created or updated, are the
    users who hold it now (asked of Clever once, for the store and the live sessions alike)."""

    applied: Applied | None
    holders: list[str] | None = None


class Deltas:
    def __init__(self, *, store: RosterStore, clever: CleverClient, tokens: DistrictTokens) -> None:
        self._store = store
        self._clever = clever
        self._tokens = tokens
        # district id -> (generation, its resource records), for section events
        self._resources: dict[str, tuple[str, list[dict[str, Any]]]] = {}

    async def apply(self, district_id: str, event: Event, lock: DistrictLock) -> Delta:
        """Apply `event` to the district's copy; raises LockLost when the lock is no longer
        ours (nothing was written then), and the client's errors for a resource's shares."""
        obj = event.data.object
        record, action = event.record_type, event.action
        previous = event.data.previous_attributes
        holders: list[str] | None = None
        write: Callable[[CopyWriter], None] | None = None
        if record == "users" and isinstance(obj, User) and obj.district in (None, district_id):
            user = obj
            if action == "deleted":
                write = _deleted_user(user.id)
            elif action in ("created", "updated"):
                write = _user(user)
        elif record == "sections" and isinstance(obj, Section):
            write = _section(obj, action, previous, await self._shared_with(district_id, obj.id))
        elif record == "resources" and isinstance(obj, Resource):
            if action == "deleted":
                write = _deleted_resource(obj.id)
            elif action in ("created", "updated"):
                if await self._store.info(district_id) is None:
                    return Delta("no_copy")
                shares = await self._shares(district_id, obj)
                if shares is None:
                    write = _deleted_resource(obj.id)  # gone again already
                else:
                    sections, holders, direct = shares
                    write = _resource(obj, sections, holders, direct)
        elif record == "districts" and action == "deleted":
            if _object_id(obj) == district_id:
                await self._store.purge(district_id)
                logger.warning(
                    "district roster purged",
                    extra={"event": "roster_purged", "district": district_id, "reason": "districts.deleted"},
                )
                return Delta("applied")
        elif record in _RECORDS and isinstance(obj, _RECORDS[record]):
            if record == "districts" and obj.id != district_id:
                return Delta(None)
            write = _record(record, obj, action)
        if write is None:
            return Delta(None, holders)
        applied = await self._store.apply_event(
            district_id, event.id, write, lock_key=lock.key, lock_owner=lock.owner
        )
        if applied == "lock_lost":
            raise LockLost(district_id)
        if record == "resources":
            self._resources.pop(district_id, None)
        if record == "users" and action == "deleted":
            # A sync writing a new generation meanwhile must not bring the person back.
            await self._store.delete_user(district_id, _object_id(obj) or "")
        return Delta(applied, holders)

    async def _shares(
        self, district_id: str, resource: Resource
    ) -> tuple[list[str], list[str], list[str]] | None:
        """The ids of the sections and of the users the resource is shared with, and of those
        users who hold it directly; None when it is gone."""
        try:
            sections = await self._tokens.call(
                district_id, lambda token: self._clever.resource_sections(token, resource.id)
            )
            users = await self._tokens.call(
                district_id, lambda token: self._clever.resource_users(token, resource.id)
            )
        except CleverNotFound:
            return None
        direct = direct_holders(resource, sections, users)
        return [section.id for section in sections], [user.id for user in users], direct

    async def _shared_with(self, district_id: str, section_id: str) -> list[dict[str, Any]]:
        """The copy's resource records shared with the section (read once per generation)."""
        info = await self._store.info(district_id)
        if info is None:
            return []
        cached = self._resources.get(district_id)
        if cached is None or cached[0] != info.generation:
            read = await self._store.resources(district_id)
            if read is None:
                return []
            cached = self._resources[district_id] = read
        return [r for r in cached[1] if section_id in (r.get("shared_sections") or [])]


def _user(user: User) -> Callable[[CopyWriter], None]:
    def write(copy: CopyWriter) -> None:
        copy.put_user(user)

    return write


def _deleted_user(user_id: str) -> Callable[[CopyWriter], None]:
    def write(copy: CopyWriter) -> None:
        copy.remove("users", user_id)

    return write


def _section(
    section: Section, action: str, previous: Mapping[str, Any] | None, resources: list[dict[str, Any]]
) -> Callable[[CopyWriter], None]:
    teachers_now, students_now = section_members(section)
    before = previous or {}
    teacher_before = before.get("teacher", section.teacher)
    then = Section(
        id=section.id,
        teacher=teacher_before if isinstance(teacher_before, str) else None,
        teachers=_strings(before.get("teachers", section.teachers)),
        students=_strings(before.get("students", section.students)),
    )
    teachers_then, students_then = section_members(then)
    links = [(TEACHES, section.id), (ENROLLED, section.id)]
    people = list(dict.fromkeys([*teachers_now, *students_now, *teachers_then, *students_then]))

    def holdings(copy: CopyWriter) -> None:
        for resource in resources:
            roles = resource.get("roles") or []
            shared = [s for s in resource.get("shared_sections") or [] if isinstance(s, str)]
            via = [(TEACHES, s) for s in shared if "teacher" in roles]
            via += [(ENROLLED, s) for s in shared if "student" in roles]
            direct = [u for u in resource.get("direct_users") or [] if isinstance(u, str)]
            copy.holding(str(resource["id"]), people, direct=direct, via=via)

    def write(copy: CopyWriter) -> None:
        if action == "deleted":
            copy.remove("sections", section.id)
            for person in people:
                copy.relink(person, drop=links)
            holdings(copy)
            return
        copy.put("sections", section)
        for person in people:
            if person in teachers_now:
                copy.relink(person, drop=links, add=[(TEACHES, section.id)])
            elif person in students_now:
                copy.relink(person, drop=links, add=[(ENROLLED, section.id)])
            else:
                copy.relink(person, drop=links)
        holdings(copy)

    return write


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _resource(
    resource: Resource, sections: list[str], holders: list[str], direct: list[str]
) -> Callable[[CopyWriter], None]:
    def write(copy: CopyWriter) -> None:
        copy.put_resource(resource, sections, direct)
        copy.holders(resource.id, holders)

    return write


def _deleted_resource(resource_id: str) -> Callable[[CopyWriter], None]:
    def write(copy: CopyWriter) -> None:
        copy.remove("resources", resource_id)
        copy.holders(resource_id, [])

    return write


def _record(
    kind: str, record: District | School | Course | Term, action: str
) -> Callable[[CopyWriter], None]:
    def write(copy: CopyWriter) -> None:
        if action == "deleted":
            copy.remove(kind, record.id)
        else:
            copy.put(kind, record)

    return write


def _object_id(obj: object) -> str | None:
    value = obj.get("id") if isinstance(obj, dict) else getattr(obj, "id", None)
    return value if isinstance(value, str) and value else None
