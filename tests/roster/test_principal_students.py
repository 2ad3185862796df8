"""A contact's linked students in the Principal (`roles.contact.students`)."""

from __future__ import annotations

from typing import Any

import pytest

from app.clever.models import User
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, STUDENT_FIELDS
from app.roster.principal import Principal, build_principal
from tests.roster import test_principal

# test_principal's contact, linked to the students of this module.
CONTACT: dict[str, Any] = {
    **test_principal.CONTACT,
    "roles": {
        "contact": {
            "student_relationships": [
                {"student": "u-s1", "relationship": "Parent", "type": "Parent/Guardian"},
                {"student": "u-s2", "relationship": "Parent", "type": "Primary"},
            ]
        }
    },
}
TEACHER: dict[str, Any] = {"id": "u-t", "district": "d1", "roles": {"teacher": {"schools": ["s1"]}}}


def student(user_id: str, first: str, grade: str | None, **role: Any) -> User:
    fields = {"grade": grade, **role} if grade is not None else role
    return User.model_validate(
        {
            "id": user_id,
            "district": "d1",
            "name": {"first": first, "middle": "M", "last": "Child"},
            "roles": {"student": {"dob": "1/2/2015", "frl_status": "Free", **fields}},
        }
    )


STUDENTS = [student("u-s1", "Ada", "3"), student("u-s2", "Bo", "")]


def principal(
    user: dict[str, Any], students: list[User], fields: frozenset[str] = DEFAULT_STUDENT_FIELDS
) -> Principal:
    return build_principal(
        User.model_validate(user), [], [], login_user_type=None, student_fields=fields, students=students
    )


@pytest.mark.parametrize("fields", [DEFAULT_STUDENT_FIELDS, STUDENT_FIELDS], ids=["default", "all"])
def test_a_contacts_students_are_a_small_summary(fields: frozenset[str]) -> None:
    contact = principal(CONTACT, STUDENTS, fields)["roles"]["contact"]
    assert contact["students"] == [
        {"id": "u-s1", "name": {"first": "Ada", "last": "Child"}, "grade": "3"},
        {"id": "u-s2", "name": {"first": "Bo", "last": "Child"}, "grade": ""},
    ]
    assert len(contact["student_relationships"]) == 2


def test_the_grade_follows_student_fields() -> None:
    contact = principal(CONTACT, STUDENTS, frozenset({"schools"}))["roles"]["contact"]
    assert [s["grade"] for s in contact["students"]] == [None, None]


def test_a_student_without_a_grade_or_role_has_none() -> None:
    no_grade = student("u-s1", "Ada", None)
    no_role = User.model_validate({"id": "u-s2", "district": "d1", "roles": {}})
    contact = principal(CONTACT, [no_grade, no_role])["roles"]["contact"]
    assert contact["students"] == [
        {"id": "u-s1", "name": {"first": "Ada", "last": "Child"}, "grade": None},
        {"id": "u-s2", "name": {"first": "", "last": ""}, "grade": None},
    ]


def test_a_contact_without_fetched_students_has_an_empty_list() -> None:
    assert principal(CONTACT, [])["roles"]["contact"]["students"] == []


def test_students_are_ignored_for_anyone_who_is_not_a_contact() -> None:
    built = principal(TEACHER, STUDENTS)
    assert "contact" not in built["roles"]
    assert "u-s1" not in repr(built)
