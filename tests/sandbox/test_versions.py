from __future__ import annotations

from typing import Any

import pytest

from clever_sandbox.versions import (
    V31_ONLY_FIELDS,
    V31_ONLY_STUDENT_FIELDS,
    changes_for_version,
    event_for_version,
    for_version,
)
from tests.support import clever_spec

DEFINITION_OF = {"districts": "District", "sections": "Section", "users": "User"}


def _fields(filename: str, definition: str) -> set[str]:
    return set(clever_spec.load(filename).definition_schema(definition)["properties"])


@pytest.mark.skipif(clever_spec.spec_dir() is None, reason=clever_spec.missing_reason())
def test_the_v31_only_fields_are_the_difference_between_the_definitions() -> None:
    for definition in ("District", "Section", "User", "School", "Term", "Course", "Resource"):
        kind = next((k for k, d in DEFINITION_OF.items() if d == definition), None)
        extra = _fields("v3.1.yml", definition) - _fields("v3.0.yml", definition)
        assert extra == set(V31_ONLY_FIELDS.get(kind or "", ())), definition
    student = _fields("v3.1.yml", "Student") - _fields("v3.0.yml", "Student")
    assert student == set(V31_ONLY_STUDENT_FIELDS)


USER: dict[str, Any] = {
    "id": "u1",
    "lms_status": {"synced_in_lms": True},
    "roles": {"student": {"grade": "3", "gifted_status": "Y", "preferred_name": {"first": "Al"}}},
}


def test_v30_leaves_out_v31_fields_without_changing_the_record() -> None:
    shown = for_version("users", USER, "v3.0")
    assert shown == {"id": "u1", "roles": {"student": {"grade": "3"}}}
    assert USER["roles"]["student"]["gifted_status"] == "Y"
    assert for_version("users", USER, "v3.1") is USER


@pytest.mark.parametrize(
    ("previous", "shown"),
    [
        ({"roles": {"student": {"gifted_status": "N"}}}, {}),
        ({"lms_status": {"synced_in_lms": False}}, {}),
        (
            {"roles": {"student": {"gifted_status": "N", "grade": "2"}}},
            {"roles": {"student": {"grade": "2"}}},
        ),
        ({"roles": {"student": None}}, {"roles": {"student": None}}),
        ({"name": {"first": "B"}, "lms_status": None}, {"name": {"first": "B"}}),
    ],
)
def test_v30_changes(previous: dict[str, Any], shown: dict[str, Any]) -> None:
    assert changes_for_version("users", previous, "v3.0") == shown


@pytest.mark.parametrize("inside", [False, True])
def test_v30_feed_drops_events_that_change_only_v31_fields(inside: bool) -> None:
    previous = {"roles": {"student": {"gifted_status": "N"}}}
    event: dict[str, Any] = {"id": "e1", "type": "users.updated", "data": {"object": USER}}
    # Beside `data` or inside it (SandboxConfig.previous_attributes).
    (event["data"] if inside else event)["previous_attributes"] = previous
    assert event_for_version(event, "v3.0") is None
    assert event_for_version(event, "v3.1") is event
    created = {"id": "e2", "type": "users.created", "data": {"object": USER}}
    shown = event_for_version(created, "v3.0")
    assert shown is not None
    assert "lms_status" not in shown["data"]["object"]
    # A change to v3.0 fields too: shown, where it was, without the v3.1-only part.
    (event["data"] if inside else event)["previous_attributes"] = {**previous, "email": "old@example.org"}
    mixed = event_for_version(event, "v3.0")
    assert mixed is not None
    assert (mixed["data"] if inside else mixed)["previous_attributes"] == {"email": "old@example.org"}
    assert ("previous_attributes" in mixed) is not inside
