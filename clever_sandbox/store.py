"""The sandbox's data: every record of the seeded districts, their changes, and the event log.

Records are plain v3.1-shaped dicts, never changed in place: an update stores a new dict, so
an event can keep the object it describes. Each change made through the control API appends
the matching `users.*` / `sections.*` / `resources.*` / `districts.deleted` event, as Clever's
Events API reports roster changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from clever_sandbox.config import PreviousAttributes
from clever_sandbox.district import (
    SEED_EPOCH,
    DemoLogin,
    IdMaker,
    IdSequence,
    build_districts,
    iso_timestamp,
)
from clever_sandbox.patches import merge_patch, previous_attributes
from clever_sandbox.roster import ROLE_NAMES, Roster, role_school_ids, section_teacher_ids
from clever_sandbox.strictness import sparse_user

Record = dict[str, Any]

KINDS = ("districts", "schools", "terms", "courses", "sections", "resources", "users")
# The role a login takes when nothing says which, for people holding several.
_LOGIN_ROLE_ORDER = ("teacher", "student", "staff", "district_admin", "contact")
_NOT_CHANGES = frozenset({"last_modified", "updated"})
# Not part of a resource record: who it is shared with (the control API's extra fields).
_SHARES = ("sections", "users")


class RecordNotFound(LookupError):
    """No record of that kind has that id."""


class RecordError(ValueError):
    """A record the control API cannot accept; the message says why."""


def _now() -> datetime:
    return datetime.now(UTC)


class SandboxStore:
    """The records of every kind, the links between them, and the event log.

    `SandboxStore(seed, students)` holds the districts `build_districts(seed, students)` makes;
    `reset()` goes back to them and empties the event log. Event ids keep growing across
    resets, so a client's event cursor never points past events made after a reset.
    """

    def __init__(
        self,
        seed: int,
        students: int,
        *,
        clock: Callable[[], datetime] = _now,
        sparse_students: bool = False,
        previous_placement: PreviousAttributes = "inside",
    ) -> None:
        self.seed = seed
        self.students = students
        # Students seeded with only what Clever guarantees (SandboxConfig.sparse_students).
        self.sparse_students = sparse_students
        self.previous_placement = previous_placement
        self._clock = clock
        self._event_ids = IdSequence(IdMaker.for_seed(seed, SEED_EPOCH, "events"))
        self.reset()

    def reset(self) -> None:
        data = build_districts(self.seed, self.students)
        if self.sparse_students:
            data.users = [sparse_user(user) for user in data.users]
        self._records: dict[str, dict[str, Record]] = {
            kind: {record["id"]: record for record in getattr(data, kind)} for kind in KINDS
        }
        self._resource_sections = {key: list(value) for key, value in data.resource_sections.items()}
        self._resource_users = {key: list(value) for key, value in data.resource_users.items()}
        self._demo_logins = tuple(data.demo_logins)
        self._library_teachers = frozenset(data.library_teachers)
        self._ids = IdSequence(IdMaker.for_seed(self.seed, SEED_EPOCH, "records"), data.next_serial)
        self._events: list[Record] = []
        self._roster: Roster | None = None

    # --- reading -------------------------------------------------------------------------

    def get(self, kind: str, record_id: str) -> Record | None:
        return self._records[kind].get(record_id)

    def all(self, kind: str) -> Sequence[Record]:
        """Every record of `kind`, in id order."""
        return self.roster.ordered[kind]

    def user(self, user_id: str) -> Record | None:
        """The v3.1 user object, or None."""
        return self._records["users"].get(user_id)

    def district(self, district_id: str) -> Record | None:
        return self._records["districts"].get(district_id)

    def district_ids(self) -> list[str]:
        """Every district's id, the main demo district first."""
        return list(self._records["districts"])

    def demo_logins(self) -> list[DemoLogin]:
        """The sign-in page's choices in order: one of each kind of user, then the second district's."""
        return [login for login in self._demo_logins if login.user_id in self._records["users"]]

    def login_role(self, user_id: str) -> str | None:
        """The role a login of this user takes when none is chosen (e.g. `login_hint`), or None."""
        for login in self._demo_logins:
            if login.user_id == user_id:
                return login.user_type
        user = self.user(user_id)
        if user is None:
            return None
        return next((role for role in _LOGIN_ROLE_ORDER if role in user["roles"]), None)

    def authorized_by(self, user_id: str) -> Literal["district", "teacher"] | None:
        """Who lets this person use the app: their district, when it is connected (a district
        connection takes precedence over a teacher's); else a teacher who installed the app from
        the Library (the teacher, or a student of one of their sections); else no one."""
        user = self.user(user_id)
        if user is None:
            return None
        if user.get("district") in self._records["districts"]:
            return "district"
        return "teacher" if self.library_sections(user_id) or user_id in self._library_teachers else None

    def library_sections(self, user_id: str) -> list[Record]:
        """The sections of a Library login: the person's sections that a teacher of theirs, who
        installed the app from the Library, shared with it. In id order."""
        return [
            section
            for section in self.roster.sections_of_user({"id": user_id})
            if set(section_teacher_ids(section)) & self._library_teachers
        ]

    def shared_sections(self, resource_id: str) -> list[str]:
        """The ids of the sections a resource is shared with."""
        return list(self._resource_sections.get(resource_id, []))

    def shared_users(self, resource_id: str) -> list[str]:
        """The ids of the users a resource is shared with directly."""
        return list(self._resource_users.get(resource_id, []))

    @property
    def roster(self) -> Roster:
        roster = self._roster
        if roster is None:
            roster = self._roster = Roster(self._records, self._resource_sections, self._resource_users)
        return roster

    def events(self) -> Sequence[Record]:
        """The event log, oldest first (ids ascending)."""
        return self._events

    def event(self, event_id: str) -> Record | None:
        return next((event for event in self._events if event["id"] == event_id), None)

    # --- users ---------------------------------------------------------------------------

    def create_user(self, fields: Mapping[str, Any]) -> Record:
        """Add a user from a v3.1 user object without `id`; `district` defaults to the first one."""
        if "id" in fields:
            raise RecordError("id: assigned by the sandbox; leave it out")
        stamp = self._stamp()
        user: Record = {
            "id": self._ids.next(),
            "district": fields.get("district") or self.district_ids()[0],
            "email": None,
            "name": {"first": "", "middle": None, "last": ""},
            "created": stamp,
            "last_modified": stamp,
            "lms_status": {"synced_in_lms": False},
            **copy.deepcopy(dict(fields)),
        }
        user["district"] = user["district"] or self.district_ids()[0]
        return self._create("users", user, self._fill_roles, self._check_user)

    def update_user(self, user_id: str, patch: Mapping[str, Any]) -> Record:
        """Merge `patch` into the user (null removes a key); emits users.updated if anything changed."""
        return self._patch("users", user_id, patch, self._fill_roles, self._check_user)

    def delete_user(self, user_id: str) -> Record:
        """Remove the user, and the user from sections, contacts' links and resource shares."""
        user = self._delete("users", user_id, self._resource_users)
        for section in list(self._records["sections"].values()):
            if user_id in section_teacher_ids(section) or user_id in (section.get("students") or []):
                teachers = [t for t in section.get("teachers") or [] if t != user_id]
                changed = {
                    **section,
                    "teachers": teachers,
                    "students": [s for s in section.get("students") or [] if s != user_id],
                    "teacher": section.get("teacher") if section.get("teacher") != user_id else None,
                }
                if changed["teacher"] is None and teachers:
                    changed["teacher"] = teachers[0]
                self._update("sections", section, changed)
        for other in list(self._records["users"].values()):
            contact = other["roles"].get("contact")
            links = (contact or {}).get("student_relationships") or []
            if any(link.get("student") == user_id for link in links):
                kept = [link for link in links if link.get("student") != user_id]
                changed = merge_patch(other, {"roles": {"contact": {"student_relationships": kept}}})
                self._update("users", other, changed)
        return user

    # --- sections ------------------------------------------------------------------------

    def create_section(self, fields: Mapping[str, Any]) -> Record:
        """Add a section from a v3.1 section object without `id`; its district is its school's."""
        if "id" in fields:
            raise RecordError("id: assigned by the sandbox; leave it out")
        school = self._records["schools"].get(str(fields.get("school")))
        if school is None:
            raise RecordError("school: the id of an existing school is required")
        stamp = self._stamp()
        serial = f"{self._ids.serial:06d}"
        section: Record = {
            "id": self._ids.next(),
            "district": school["district"],
            "school": school["id"],
            "course": None,
            "term_id": None,
            "name": f"Section {serial}",
            "period": "",
            "section_number": serial,
            "sis_id": f"SEC{serial}",
            "subject": "",
            "grade": "",
            "teacher": None,
            "teachers": [],
            "students": [],
            "created": stamp,
            "last_modified": stamp,
            "ext": {},
            "lms_status": {"synced_in_lms": False},
            **copy.deepcopy(dict(fields)),
        }
        return self._create("sections", section, self._fill_section, self._check_section)

    def update_section(self, section_id: str, patch: Mapping[str, Any]) -> Record:
        return self._patch("sections", section_id, patch, self._fill_section, self._check_section)

    def delete_section(self, section_id: str) -> Record:
        return self._delete("sections", section_id, self._resource_sections)

    # --- resources -----------------------------------------------------------------------

    def create_resource(self, fields: Mapping[str, Any]) -> Record:
        """Add a resource from a v3.1 resource object without `id`, plus `sections` and `users`:
        the ids it is shared with. Its district is the first one unless given."""
        if "id" in fields:
            raise RecordError("id: assigned by the sandbox; leave it out")
        record = {key: value for key, value in fields.items() if key not in _SHARES}
        stamp = self._stamp()
        resource: Record = {
            "id": self._ids.next(),
            "district": record.get("district") or self.district_ids()[0],
            "resource_id": f"resource-{self._ids.serial:06d}",
            "title": "",
            "roles": [],
            "created": stamp,
            "updated": stamp,
            **copy.deepcopy(record),
        }
        self._check_resource(resource)
        sections, users = self._check_shares(resource, fields)
        self._store("resources", resource)
        self._resource_sections[resource["id"]] = sections or []
        self._resource_users[resource["id"]] = users or []
        self._emit("resources.created", resource)
        return resource

    def update_resource(self, resource_id: str, patch: Mapping[str, Any]) -> Record:
        """Merge `patch` into the resource; `sections` / `users` replace whom it is shared with.
        Emits resources.updated when the record or its shares changed."""
        old = self._existing("resources", resource_id)
        record_patch = {key: value for key, value in patch.items() if key not in _SHARES}
        self._check_patch(old, record_patch)
        new = merge_patch(old, record_patch)
        self._check_resource(new)
        sections, users = self._check_shares(new, patch)
        shares_changed = False
        for shares, wanted in ((self._resource_sections, sections), (self._resource_users, users)):
            if wanted is not None and sorted(shares.get(resource_id, [])) != sorted(wanted):
                shares[resource_id] = wanted
                shares_changed = True
        changes = previous_attributes(old, new, _NOT_CHANGES)
        if not changes and not shares_changed:
            return old
        new["updated"] = self._stamp()
        self._store("resources", new)
        self._emit("resources.updated", new, changes)
        return new

    def delete_resource(self, resource_id: str) -> Record:
        resource = self._delete("resources", resource_id)
        self._resource_sections.pop(resource_id, None)
        self._resource_users.pop(resource_id, None)
        return resource

    # --- districts -----------------------------------------------------------------------

    def delete_district(self, district_id: str) -> Record:
        """The district disconnects the app: its record goes (with it, its token listing) and
        `districts.deleted` is emitted. Its other records stay, unreachable without a token."""
        return self._delete("districts", district_id)

    # --- internals -----------------------------------------------------------------------

    def _stamp(self) -> str:
        return iso_timestamp(self._clock())

    def _existing(self, kind: str, record_id: str) -> Record:
        record = self._records[kind].get(record_id)
        if record is None:
            raise RecordNotFound(f"no {kind[:-1]} with id {record_id}")
        return record

    def _store(self, kind: str, record: Record) -> None:
        self._records[kind][record["id"]] = record
        self._roster = None

    def _create(
        self, kind: str, record: Record, fill: Callable[[Record], None], check: Callable[[Record], None]
    ) -> Record:
        """Store a new record once `fill` has completed it and `check` accepted it."""
        fill(record)
        check(record)
        self._store(kind, record)
        self._emit(f"{kind}.created", record)
        return record

    def _patch(
        self,
        kind: str,
        record_id: str,
        patch: Mapping[str, Any],
        fill: Callable[[Record], None],
        check: Callable[[Record], None],
    ) -> Record:
        """Merge `patch` into the record, completed by `fill` and accepted by `check`."""
        old = self._existing(kind, record_id)
        self._check_patch(old, patch)
        new = merge_patch(old, patch)
        fill(new)
        check(new)
        return self._update(kind, old, new)

    def _delete(self, kind: str, record_id: str, shares: Mapping[str, list[str]] | None = None) -> Record:
        """Remove the record, and its id from the resource shares in `shares`."""
        record = self._existing(kind, record_id)
        del self._records[kind][record_id]
        for shared_with in (shares or {}).values():
            if record_id in shared_with:
                shared_with.remove(record_id)
        self._roster = None
        self._emit(f"{kind}.deleted", record)
        return record

    def _update(self, kind: str, old: Record, new: Record) -> Record:
        changes = previous_attributes(old, new, _NOT_CHANGES)
        if not changes:
            return old
        new["last_modified"] = self._stamp()
        self._store(kind, new)
        self._emit(f"{kind}.updated", new, changes)
        return new

    def emit_unchecked(self, event_type: str, record: Record) -> None:
        """An event of any type about any record, held or not: what Clever may send that the
        control API, which changes only records the sandbox holds, cannot make (for tests of a
        client's handling of odd events)."""
        self._emit(event_type, record)

    def _emit(self, event_type: str, record: Record, previous: Record | None = None) -> None:
        event: Record = {
            "id": self._event_ids.next(),
            "type": event_type,
            "created": self._stamp(),
            "data": {"object": copy.deepcopy(record)},
        }
        # Inside `data` as Clever's Events API page shows it, or beside it as the definitions
        # have it (SandboxConfig.previous_attributes).
        if previous is not None:
            if self.previous_placement == "inside":
                event["data"]["previous_attributes"] = previous
            else:
                event["previous_attributes"] = previous
        self._events.append(event)

    @staticmethod
    def _check_patch(old: Record, patch: Mapping[str, Any]) -> None:
        for key in ("id", "district"):
            if key in patch and patch[key] != old[key]:
                raise RecordError(f"{key}: cannot be changed")

    def _fill_roles(self, user: Record) -> None:
        """Give each role a legacy id (Clever keeps one per role) and a teacher its district."""
        roles = user.get("roles")
        if not isinstance(roles, dict):
            return
        for name, role in roles.items():
            if isinstance(role, dict):
                role.setdefault("legacy_id", self._ids.next())
                if name == "teacher":
                    role.setdefault("district", user.get("district"))

    @staticmethod
    def _fill_section(section: Record) -> None:
        teachers = section.get("teachers")
        if isinstance(teachers, list):
            if not section.get("teacher") and teachers:
                section["teacher"] = teachers[0]
            elif section.get("teacher") and section["teacher"] not in teachers:
                section["teachers"] = [section["teacher"], *teachers]

    def _in_district(self, kind: str, record_id: object, district_id: str) -> bool:
        record = self._records[kind].get(record_id) if isinstance(record_id, str) else None
        return record is not None and record.get("district") == district_id

    def _user_with_role(self, user_id: object, role: str, district_id: str) -> bool:
        user = self._records["users"].get(user_id) if isinstance(user_id, str) else None
        return user is not None and user["district"] == district_id and role in user["roles"]

    def _check_user(self, user: Record) -> None:
        district_id = user.get("district")
        if not isinstance(district_id, str) or district_id not in self._records["districts"]:
            raise RecordError("district: not a district of this sandbox")
        if not isinstance(user.get("name"), dict):
            raise RecordError("name: an object is required")
        if user.get("email") is not None and not isinstance(user["email"], str):
            raise RecordError("email: a string or null")
        roles = user.get("roles")
        if not isinstance(roles, dict) or not roles:
            raise RecordError("roles: an object with at least one role is required")
        unknown = sorted(set(roles) - set(ROLE_NAMES))
        if unknown:
            raise RecordError(f"roles: unknown role(s) {', '.join(unknown)}")
        for name, role in roles.items():
            if not isinstance(role, dict):
                raise RecordError(f"roles.{name}: an object is required")
            for school in role_school_ids(role, primary=False):
                if not self._in_district("schools", school, district_id):
                    raise RecordError(f"roles.{name}: school {school} is not in the user's district")
        for alone in ("student", "contact"):
            if alone in roles and len(roles) > 1:
                raise RecordError(f"roles: a {alone} holds no other role")
        for link in (roles.get("contact") or {}).get("student_relationships") or []:
            if not isinstance(link, dict) or not self._user_with_role(
                link.get("student"), "student", district_id
            ):
                raise RecordError("roles.contact.student_relationships: each links a student of the district")

    def _check_resource(self, resource: Record) -> None:
        if resource.get("district") not in self._records["districts"]:
            raise RecordError("district: not a district of this sandbox")
        if not isinstance(resource.get("title"), str):
            raise RecordError("title: a string is required")
        roles = resource.get("roles")
        if not isinstance(roles, list) or not all(role in ("teacher", "student") for role in roles):
            raise RecordError("roles: a list of 'teacher' and 'student' is required")

    def _check_shares(
        self, resource: Record, fields: Mapping[str, Any]
    ) -> tuple[list[str] | None, list[str] | None]:
        """The `sections` and `users` a resource is to be shared with (None: not given)."""
        district_id = resource["district"]
        shares: list[list[str] | None] = []
        for key in _SHARES:
            ids = fields.get(key)
            if ids is None:
                shares.append(None)
                continue
            if not isinstance(ids, list) or not all(self._in_district(key, i, district_id) for i in ids):
                raise RecordError(f"{key}: a list of ids of {key} of the resource's district is required")
            shares.append([str(i) for i in ids])
        return shares[0], shares[1]

    def _check_section(self, section: Record) -> None:
        district_id = section["district"]
        if not self._in_district("schools", section.get("school"), district_id):
            raise RecordError("school: the id of a school of the section's district is required")
        for key, kind in (("course", "courses"), ("term_id", "terms")):
            if section.get(key) is not None and not self._in_district(kind, section[key], district_id):
                raise RecordError(f"{key}: not a {kind[:-1]} of the section's district")
        if not isinstance(section.get("name"), str):
            raise RecordError("name: a string is required")
        for key, role in (("teachers", "teacher"), ("students", "student")):
            ids = section.get(key)
            if not isinstance(ids, list):
                raise RecordError(f"{key}: a list of user ids is required")
            for user_id in ids:
                if not self._user_with_role(user_id, role, district_id):
                    raise RecordError(f"{key}: {user_id} is not a {role} of the section's district")
