from __future__ import annotations

from typing import Any

import pytest

from clever_sandbox.patches import merge_patch, previous_attributes

USER: dict[str, Any] = {
    "id": "u1",
    "email": "a@example.org",
    "name": {"first": "Ann", "last": "Lee"},
    "roles": {"teacher": {"schools": ["s1"]}, "staff": {"roles": ["PortalOnly"]}},
    "last_modified": "t0",
}


@pytest.mark.parametrize(
    ("patch", "expected_changes"),
    [
        ({"roles": {"staff": None}}, {"roles": {"staff": {"roles": ["PortalOnly"]}}}),
        ({"name": {"first": "Anne"}}, {"name": {"first": "Ann"}}),
        ({"email": None}, {"email": "a@example.org"}),
        ({"roles": {"district_admin": {"title": "x"}}}, {"roles": {"district_admin": None}}),
        ({"roles": {"teacher": {"schools": ["s1", "s2"]}}}, {"roles": {"teacher": {"schools": ["s1"]}}}),
        ({"email": "a@example.org"}, {}),
        ({"last_modified": "t1"}, {}),
    ],
)
def test_merge_and_describe(patch: dict[str, Any], expected_changes: dict[str, Any]) -> None:
    merged = merge_patch(USER, patch)
    assert previous_attributes(USER, merged, frozenset({"last_modified"})) == expected_changes


def test_null_removes_and_objects_merge() -> None:
    merged = merge_patch(USER, {"roles": {"staff": None, "teacher": {"title": "Dr"}}})
    assert merged["roles"] == {"teacher": {"schools": ["s1"], "title": "Dr"}}
    assert USER["roles"]["staff"] == {"roles": ["PortalOnly"]}  # the original is untouched


def test_merge_copies_deeply() -> None:
    merged = merge_patch(USER, {})
    merged["roles"]["teacher"]["schools"].append("s9")
    assert USER["roles"]["teacher"]["schools"] == ["s1"]
