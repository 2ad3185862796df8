"""Turn Clever's payloads into the Principal: who the person is, every role they hold, their
sections and resources. Pure functions over parsed models.

`Principal` is the one definition of its shape: the builder returns it, sessions store it as
JSON (app.sessions.packing), the session API answers it and `/openapi.json` describes it from
these types (app.web.openapi). A field's `Annotated` dict adds JSON Schema words the type alone
cannot say (a format, a description, the role names).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired, TypedDict, get_args

from app.clever.models import ROLE_ORDER, AuthorizedBy, Resource, Section, User
from app.roster.fieldpolicy import apply_student_fields, keeps_identity

# ISO 8601 in UTC, e.g. "2026-01-31T08:00:00.000000Z".
Timestamp = Annotated[str, {"format": "date-time"}]


class PersonName(TypedDict):
    first: str
    middle: str
    last: str


class PrincipalUser(TypedDict):
    id: str
    district: Annotated[str | None, {"description": "null for a Clever Library login: no district."}]
    name: PersonName
    email: str | None
    roles: Annotated[list[str], {"items": {"enum": list(ROLE_ORDER)}}]  # in ROLE_ORDER
    primary_role: str | None
    legacy_ids: dict[str, str]
    authorized_by: NotRequired[
        Annotated[
            AuthorizedBy,
            {
                "description": "How the person came to use the app: `district` (their district "
                "connected it), or `teacher` (a Clever Library login: a teacher installed it, and "
                "the person has no district). Absent from sessions made before this field "
                "existed, which were all district logins."
            },
        ]
    ]


class PrincipalSection(TypedDict):
    id: str
    name: str
    subject: str
    grade: str
    period: str
    school: str
    course: str | None
    term_id: str | None
    role: Literal["teacher", "student"] | None  # the person's role in this section


class PrincipalDistrict(TypedDict):
    id: str
    name: str
    portal_url: Annotated[
        str | None,
        {
            "format": "uri",
            "description": "The district's Clever Portal, where a person can go back to after "
            "logging out of the app (null when Clever names none).",
        },
    ]
    schools: Annotated[
        dict[str, str],
        {
            "description": "School id to name, for the school ids this Principal names (its "
            "sections' `school`, the `schools` and `school` of its roles)."
        },
    ]


@dataclass(frozen=True, slots=True)
class Directory:
    """What a district and its schools are called, and its Clever Portal (app.roster.directory)."""

    district_id: str
    name: str
    portal_url: str | None
    schools: Mapping[str, str]


class PrincipalResource(TypedDict):
    id: str
    resource_id: str
    title: str
    roles: list[str]


# Where a roster came from: the district's copy (app.roster.store) or Clever's Data API.
RosterSource = Literal["store", "live"]

# The parts of a roster a login does without when Clever cannot give them (app.roster.fetch):
# only the user record is required. `students` are a contact's linked students.
RosterPart = Literal["sections", "resources", "students"]
ROSTER_PARTS: tuple[RosterPart, ...] = get_args(RosterPart)


class RosterVersion(TypedDict):
    fetched_at: Timestamp
    event_id: str | None
    source: NotRequired[RosterSource]
    synced_at: NotRequired[Timestamp]
    # Present only when a part is missing, so a whole roster's record does not grow.
    unavailable: NotRequired[Annotated[list[RosterPart], {"items": {"enum": list(ROSTER_PARTS)}}]]


class Principal(TypedDict):
    user: PrincipalUser
    roles: Annotated[
        dict[str, dict[str, Any]],
        {
            "description": "One entry per role held; the student entry holds only the fields "
            "STUDENT_FIELDS allows, as Clever sent them. For a person holding the student role, "
            "`user.email` is null and `user.name.last` empty when STUDENT_IDENTITY_FIELDS "
            "withholds them."
        },
    ]
    sections: list[PrincipalSection]
    resources: list[PrincipalResource]
    district: NotRequired[
        Annotated[
            PrincipalDistrict,
            {
                "description": "The person's district by name, its Clever Portal and the names "
                "of the schools this Principal names, from the district directory. Absent for a "
                "Clever Library login (no district), when the directory could not be had at "
                "login, and from sessions made before this field existed: show the ids then."
            },
        ]
    ]
    roster: NotRequired[
        Annotated[
            RosterVersion,
            {
                "description": "Which roster this Principal reflects: as of when it was Clever's "
                "(`fetched_at`), the Events API event that caused the fetch (null for a login or "
                "a refresh), and where it came from: `source` is `live` for Clever's Data API at "
                "`fetched_at`, or `store` for the district's synced copy, whose full sync began "
                "at `synced_at` and which holds every change up to `fetched_at`. `unavailable` "
                "names the parts Clever could not give at `fetched_at` (`sections`, `resources`, "
                "a contact's `students`): those lists are the ones the session last read (empty "
                "at a login) for want of fresh data, not because the person has none; a refresh "
                "or an event fills them in. Absent when every part came. Absent from sessions "
                "made before this field existed, and `source` from sessions made before it did."
            },
        ]
    ]


class PrincipalUpdate(TypedDict):
    """A whole fresh Principal for the sessions of one user (see `apply_roster_update`)."""

    kind: Literal["principal"]
    principal: Principal


class DropResources(TypedDict):
    kind: Literal["drop_resources"]
    ids: list[str]


# What the events worker leaves beside a session for its next read to apply.
RosterUpdate = PrincipalUpdate | DropResources

# id_token / userinfo `user_type` spellings seen or documented, to the Data API role names. A
# school admin is what v3's `staff` role was called before v3 (README, "user_type spellings").
_USER_TYPES = {
    "student": "student",
    "teacher": "teacher",
    "staff": "staff",
    "school_admin": "staff",
    "school admin": "staff",
    "district_admin": "district_admin",
    "district admin": "district_admin",
    "districtadmin": "district_admin",
    "contact": "contact",
}


def normalise_user_type(user_type: str | None) -> str | None:
    return _USER_TYPES.get((user_type or "").strip().lower())


def primary_role(roles: Sequence[str], login_user_type: str | None) -> str | None:
    """The role of this login when Clever says it and the person holds it, else the first held."""
    said = normalise_user_type(login_user_type)
    if said in roles:
        return said
    return roles[0] if roles else None


def build_principal(
    user: User,
    sections: Sequence[Section],
    resources: Sequence[Resource],
    *,
    login_user_type: str | None,
    student_fields: frozenset[str],
    students: Sequence[User] = (),
    roster: RosterVersion | None = None,
    authorized_by: AuthorizedBy = "district",
    directory: Directory | None = None,
) -> Principal:
    """`students` are a contact's linked students (see `app.roster.fetch`), summarised under
    `roles.contact.students`, or a Library teacher's students, under `roles.teacher.students`;
    they are ignored for anyone else. `roster`, when given (see `roster_version`), says which
    roster this Principal reflects. A Library login (`authorized_by` "teacher") has no district,
    whatever district the record names: the app is not connected to it. `directory`, when it is
    the person's district's, gives `district`: its name, Portal and the names of the schools
    the Principal names."""
    held = user.roles.names
    library = authorized_by == "teacher"
    student = user.roles.student is not None
    principal: Principal = {
        "user": {
            "id": user.id,
            "district": None if library else user.district,
            "name": {
                "first": user.name.first or "",
                "middle": user.name.middle or "",
                "last": _last_name(user, student_fields),
            },
            "email": (user.email or None) if not student or keeps_identity("email", student_fields) else None,
            "roles": held,
            "primary_role": primary_role(held, login_user_type),
            "legacy_ids": _legacy_ids(user),
            "authorized_by": authorized_by,
        },
        "roles": _roles(user, student_fields, students, library=library),
        "sections": [_section(section, user.id) for section in sections],
        "resources": [_resource(resource) for resource in resources],
    }
    if directory is not None and not library and directory.district_id == user.district:
        principal["district"] = _district(directory, principal)
    if roster is not None:
        principal["roster"] = {**roster}
    return principal


def _district(directory: Directory, principal: Principal) -> PrincipalDistrict:
    """The directory's names of the schools `principal` names, and no others: a session stays
    small however many schools the district has."""
    named: list[str] = [section["school"] for section in principal["sections"]]
    for role in principal["roles"].values():
        if isinstance(schools := role.get("schools"), list):
            named.extend(school for school in schools if isinstance(school, str))
        if isinstance(school := role.get("school"), str):
            named.append(school)
    schools = {
        school: directory.schools[school] for school in sorted(set(named)) if school in directory.schools
    }
    return {
        "id": directory.district_id,
        "name": directory.name,
        "portal_url": directory.portal_url,
        "schools": schools,
    }


def roster_version(
    fetched_at: float,
    event_id: str | None = None,
    *,
    source: RosterSource = "live",
    synced_at: float | None = None,
    unavailable: Collection[RosterPart] = (),
) -> RosterVersion:
    """`{"fetched_at": <ISO 8601, UTC>, "event_id": <the event that caused the fetch, or null>,
    "source": "store" | "live"}`, `synced_at` (ISO 8601) for a roster from the store, and
    `unavailable` (in `ROSTER_PARTS` order) when parts are missing.

    The timestamps have a fixed width, so two versions compare as strings.
    """
    version: RosterVersion = {"fetched_at": _timestamp(fetched_at), "event_id": event_id, "source": source}
    if synced_at is not None:
        version["synced_at"] = _timestamp(synced_at)
    if unavailable:
        version["unavailable"] = [part for part in ROSTER_PARTS if part in unavailable]
    return version


def unavailable_parts(principal: Principal) -> list[RosterPart]:
    """The parts Clever could not give when this Principal was built (none for older sessions)."""
    roster = principal.get("roster")
    return list(roster.get("unavailable", [])) if roster is not None else []


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def apply_roster_update(principal: Principal, update: Mapping[str, Any]) -> Principal:
    """The Principal after an update left by the events worker; `principal` itself when the
    update changes nothing (older than what the Principal reflects, or not about it).

    - `{"kind": "principal", "principal": {...}}` replaces it when its roster version is newer,
      keeping this login's primary role while the person still holds it, and its `district`
      when the new one has none;
    - `{"kind": "drop_resources", "ids": [...]}` removes those resources.

    `update` is read back from Redis: its shape is checked here before it is trusted.
    """
    kind = update.get("kind")
    if kind == "principal":
        fresh = _as_principal(update.get("principal"))
        if fresh is None or fresh["user"]["id"] != principal["user"]["id"]:
            return principal
        if _fetched_at(fresh) <= _fetched_at(principal):
            return principal
        said = principal["user"]["primary_role"]
        if said in fresh["user"]["roles"] and fresh["user"]["primary_role"] != said:
            fresh = {**fresh, "user": {**fresh["user"], "primary_role": said}}
        return keeping_last_good(fresh, principal)
    if kind == "drop_resources":
        ids = set(update.get("ids") or [])
        kept = [resource for resource in principal["resources"] if resource["id"] not in ids]
        if len(kept) == len(principal["resources"]):
            return principal
        return {**principal, "resources": kept}
    return principal


def keeping_last_good(fresh: Principal, before: Principal) -> Principal:
    """`fresh`, with what it could not say as `before` said it:

    - each part Clever could not give it (its `unavailable`), when `before` had that part: a
      refresh or an event that cannot read a person's sections leaves the session with the last
      ones it read, not with none (the part stays named unavailable, so a later refresh tries
      again);
    - the district's names (`district`) when it has none: the events worker builds Principals
      without the district directory, and a refresh may find the directory unreadable.
    """
    kept: Principal = {**fresh}
    named = before.get("district")
    if "district" not in fresh and named is not None and named["id"] == fresh["user"].get("district"):
        kept["district"] = named
    missing = set(unavailable_parts(fresh)) - set(unavailable_parts(before))
    if "sections" in missing:
        kept["sections"] = before["sections"]
    if "resources" in missing:
        kept["resources"] = before["resources"]
    if "students" in missing:
        contact, earlier = fresh["roles"].get("contact"), before["roles"].get("contact")
        if contact is not None and earlier is not None and "students" in earlier:
            kept["roles"] = {**fresh["roles"], "contact": {**contact, "students": earlier["students"]}}
    return kept


def _as_principal(value: object) -> Principal | None:
    """`value` when it has a Principal's user (its id, roles and primary role), else None."""
    if not isinstance(value, dict):
        return None
    user = value.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return None
    if not isinstance(user.get("roles"), list) or "primary_role" not in user:
        return None
    fresh: Principal = value  # type: ignore[assignment]  # checked as far as it is read
    return fresh


def _fetched_at(principal: Principal) -> str:
    roster = principal.get("roster")
    return roster["fetched_at"] if roster is not None else ""


def _legacy_ids(user: User) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in ROLE_ORDER:
        role = getattr(user.roles, name)
        if role is not None and role.legacy_id:
            ids[name] = role.legacy_id
    return ids


def _roles(
    user: User, student_fields: frozenset[str], students: Sequence[User], *, library: bool = False
) -> dict[str, Any]:
    roles: dict[str, Any] = {}
    if (admin := user.roles.district_admin) is not None:
        roles["district_admin"] = {"title": admin.title or ""}
    if (staff := user.roles.staff) is not None:
        roles["staff"] = {
            "schools": list(staff.schools),
            "roles": list(staff.roles),
            "title": staff.title or "",
            "department": staff.department or "",
        }
    if (teacher := user.roles.teacher) is not None:
        roles["teacher"] = {"schools": list(teacher.schools), "title": teacher.title or ""}
        if library:
            # What the teacher shared: the students of their sections (app.roster.fetch).
            roles["teacher"]["students"] = [_student_summary(student, student_fields) for student in students]
    if (student := user.roles.student) is not None:
        # As Clever sent them: only fields present in the payload, "" kept as "".
        sent = student.model_dump(mode="json", exclude_unset=True)
        roles["student"] = apply_student_fields(sent, student_fields)
    if (contact := user.roles.contact) is not None:
        roles["contact"] = {
            "student_relationships": [
                {"student": link.student, "relationship": link.relationship or "", "type": link.type or ""}
                for link in contact.student_relationships
            ],
            "students": [_student_summary(student, student_fields) for student in students],
        }
    return roles


def _student_summary(student: User, student_fields: frozenset[str]) -> dict[str, Any]:
    """Enough for a contact to pick a child; the grade only where STUDENT_FIELDS allows it."""
    role = student.roles.student
    grade = role.grade if role is not None and "grade" in student_fields else None
    return {
        "id": student.id,
        "name": {"first": student.name.first or "", "last": _last_name(student, student_fields)},
        "grade": grade,
    }


def _last_name(user: User, student_fields: frozenset[str]) -> str:
    """A person's last name, "" for a student under a policy that withholds it."""
    if user.roles.student is not None and not keeps_identity("last_name", student_fields):
        return ""
    return user.name.last or ""


def _section(section: Section, user_id: str) -> PrincipalSection:
    role: Literal["teacher", "student"] | None
    if user_id == section.teacher or user_id in section.teachers:
        role = "teacher"
    elif user_id in section.students:
        role = "student"
    else:
        role = None
    return {
        "id": section.id,
        "name": section.name or "",
        "subject": section.subject or "",
        "grade": section.grade or "",
        "period": section.period or "",
        "school": section.school or "",
        "course": section.course,
        "term_id": section.term_id,
        "role": role,
    }


def _resource(resource: Resource) -> PrincipalResource:
    return {
        "id": resource.id,
        "resource_id": resource.resource_id or "",
        "title": resource.title or "",
        "roles": list(resource.roles),
    }
