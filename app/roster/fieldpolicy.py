"""Which student fields a Principal may hold (STUDENT_FIELDS, STUDENT_IDENTITY_FIELDS).

A student's role record carries demographics and program data that FERPA and COPPA treat as
sensitive. The Principal keeps only the fields a deployment allows; the rest is dropped when the
Principal is built, so Redis never holds it. A partner serving children under 13 may need
neither a student's email nor their last name: STUDENT_IDENTITY_FIELDS keeps only the ones it
names, for anyone holding the student role (their own Principal, and the summaries of a
contact's children).

Both settings make one policy, the frozenset every builder and the roster copy take: the
allowed role fields, plus a marker (`WITHHELD_PREFIX` + name) for each identity field left out.
Markers appear only when something is withheld, so the default policy is STUDENT_FIELDS alone,
and a roster copy written under another policy is not fresh for this one (app.roster.store).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Every field of Clever's v3.1 Student role (v3.0 has a subset).
STUDENT_FIELDS: frozenset[str] = frozenset(
    {
        "created", "credentials", "disability", "dob", "ell_status", "enrollments", "ext",
        "frl_status", "gender", "gifted_status", "grade", "graduation_year", "hispanic_ethnicity",
        "home_language", "home_language_code", "iep_status", "last_modified", "legacy_id",
        "location", "preferred_name", "race", "school", "schools", "section_504_status", "sis_id",
        "state_id", "student_number",
    }
)  # fmt: skip

# What a Principal holds when STUDENT_FIELDS is not set: what an app needs to place a student,
# nothing about who they are beyond the name it already has.
DEFAULT_STUDENT_FIELDS: frozenset[str] = frozenset({"grade", "graduation_year", "school", "schools"})

SENSITIVE_STUDENT_FIELDS: frozenset[str] = STUDENT_FIELDS - DEFAULT_STUDENT_FIELDS


def parse_student_fields(value: str | None) -> frozenset[str]:
    """STUDENT_FIELDS: unset means the default set, `*` all fields, else a comma list of names."""
    if value is None or not value.strip():
        return DEFAULT_STUDENT_FIELDS
    if value.strip() == "*":
        return STUDENT_FIELDS
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    if unknown := sorted(names - STUDENT_FIELDS):
        raise ValueError(f"unknown student field(s): {', '.join(unknown)}")
    return names


def apply_student_fields(student: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in student.items() if name in allowed}


# What STUDENT_IDENTITY_FIELDS can name; unset keeps both.
STUDENT_IDENTITY_FIELDS: tuple[str, ...] = ("email", "last_name")
WITHHELD_PREFIX = "-"


def parse_student_identity_fields(value: str | None) -> frozenset[str]:
    """STUDENT_IDENTITY_FIELDS: unset means both, `none` (or empty) neither, else a comma list;
    answers the markers of the fields withheld, to join to STUDENT_FIELDS' set."""
    if value is None:
        return frozenset()
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    if names == {"none"}:
        names = frozenset()
    if unknown := sorted(names - set(STUDENT_IDENTITY_FIELDS)):
        raise ValueError(
            f"unknown student identity field(s): {', '.join(unknown)}; expected email, last_name or none"
        )
    return frozenset(WITHHELD_PREFIX + name for name in STUDENT_IDENTITY_FIELDS if name not in names)


def keeps_identity(name: str, policy: frozenset[str]) -> bool:
    """Whether a student's `name` (one of STUDENT_IDENTITY_FIELDS) may be held under `policy`."""
    return WITHHELD_PREFIX + name not in policy
