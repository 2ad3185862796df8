"""What separates a v3.0 answer from a v3.1 one.

Records are stored v3.1-shaped. v3.1 only added fields, so a v3.0 answer is the same record
without them; the lists below are the difference between Clever's v3.0 and v3.1 definitions.
The v3.0 event feed likewise leaves out changes that touch only v3.1 fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Version = Literal["v3.0", "v3.1"]
VERSIONS: tuple[Version, ...] = ("v3.0", "v3.1")

Record = Mapping[str, Any]

# Top-level fields per record kind that exist only in v3.1.
V31_ONLY_FIELDS: dict[str, frozenset[str]] = {
    "districts": frozenset({"last_attendance_sync", "lms_state", "lms_type"}),
    "sections": frozenset({"lms_status"}),
    "users": frozenset({"lms_status"}),
}
# Fields of a user's `roles.student` that exist only in v3.1.
V31_ONLY_STUDENT_FIELDS = frozenset(
    {
        "disability",
        "frl_status",
        "gifted_status",
        "home_language",
        "home_language_code",
        "iep_status",
        "preferred_name",
        "section_504_status",
    }
)


def for_version(kind: str, record: Record, version: Version, hidden: frozenset[str] = frozenset()) -> Record:
    """`record` as the given API version shows it, without the student fields in `hidden`
    (those the app's scopes do not reach). Never changes `record`; may return it."""
    drop = V31_ONLY_FIELDS.get(kind, frozenset()) if version == "v3.0" else frozenset()
    student_drop = _student_drop(version, hidden)
    if not drop and not (kind == "users" and student_drop):
        return record
    shown = {key: value for key, value in record.items() if key not in drop}
    if kind == "users":
        roles = shown.get("roles")
        if student_drop and isinstance(roles, dict) and isinstance(roles.get("student"), dict):
            student = {k: v for k, v in roles["student"].items() if k not in student_drop}
            shown["roles"] = {**roles, "student": student}
    return shown


def _student_drop(version: Version, hidden: frozenset[str]) -> frozenset[str]:
    return (V31_ONLY_STUDENT_FIELDS if version == "v3.0" else frozenset()) | hidden


def changes_for_version(
    kind: str, previous: Record, version: Version, hidden: frozenset[str] = frozenset()
) -> Record:
    """An update's `previous_attributes` without the v3.1-only fields, for `version`, and
    without the student fields in `hidden`.

    Parts left empty by the removal are removed too, so a change to v3.1 fields alone comes out
    as `{}`: no change at all in v3.0.
    """
    student_drop = _student_drop(version, hidden)
    if version == "v3.1" and not student_drop:
        return previous
    drop = V31_ONLY_FIELDS.get(kind, frozenset()) if version == "v3.0" else frozenset()
    shown = {key: value for key, value in previous.items() if key not in drop}
    if kind == "users":
        roles = shown.get("roles")
        if isinstance(roles, dict) and isinstance(roles.get("student"), dict):
            student = {k: v for k, v in roles["student"].items() if k not in student_drop}
            roles = {**roles, "student": student}
            if not student:
                del roles["student"]
            shown["roles"] = roles
            if not roles:
                del shown["roles"]
    return shown


def event_for_version(event: Record, version: Version, hidden: frozenset[str] = frozenset()) -> Record | None:
    """The event as `version`'s feed shows it (without the student fields in `hidden`), or None
    when it changes nothing that version, so shown, has."""
    if version == "v3.1" and not hidden:
        return event
    kind = str(event["type"]).partition(".")[0]
    data = {**event["data"], "object": for_version(kind, event["data"]["object"], version, hidden)}
    shown = {**event, "data": data}
    # previous_attributes sits beside `data` or inside it (SandboxConfig.previous_attributes).
    for holder in (shown, data):
        if "previous_attributes" in holder:
            previous = changes_for_version(kind, holder["previous_attributes"], version, hidden)
            if not previous:
                return None
            holder["previous_attributes"] = previous
    return shown
