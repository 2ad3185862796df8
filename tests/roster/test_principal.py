from __future__ import annotations

from typing import Any

import pytest

from app.clever.models import Resource, Section, User
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, STUDENT_FIELDS
from app.roster.principal import Directory, Principal, build_principal, normalise_user_type, primary_role

TEACHER_STAFF: dict[str, Any] = {
    "id": "u-ts",
    "district": "d1",
    "email": "t@example.org",
    "name": {"first": "Grace", "last": "Hopper"},
    "roles": {
        "teacher": {"legacy_id": "t-old", "schools": ["s1"], "title": "Math"},
        "staff": {"legacy_id": "st-old", "schools": ["s1", "s2"], "roles": ["SchoolTechLead"], "title": "IT"},
    },
}
STUDENT: dict[str, Any] = {
    "id": "u-st",
    "district": "d1",
    "name": {"first": "Ada", "middle": None, "last": "L"},
    "roles": {
        "student": {
            "legacy_id": "s-old",
            "grade": "",
            "schools": ["s1"],
            "school": "s1",
            "frl_status": "Other",
            "gifted_status": "Y",
            "disability": {"disability_status": "Y", "disability_code": "AUT", "disability_type": "Autism"},
            "home_language": "Spanish",
            "home_language_code": "spa",
            "dob": "1/2/2014",
        }
    },
}
CONTACT: dict[str, Any] = {
    "id": "u-c",
    "district": "d1",
    "name": {"first": "Pat", "last": "Parent"},
    "roles": {
        "contact": {
            "legacy_id": "c-old",
            "student_relationships": [
                {"student": "u-st", "relationship": "Parent", "type": "Parent/Guardian"},
                {"student": "u-st2", "relationship": "", "type": "Emergency"},
            ],
        }
    },
}
SECTIONS = [
    {
        "id": "sec1",
        "name": "Algebra",
        "subject": "math",
        "teacher": "u-ts",
        "teachers": ["u-ts"],
        "students": ["u-st"],
    },
    {"id": "sec2", "name": "Homeroom", "teachers": ["u-x", "u-ts"], "students": []},
]


def _principal(
    user: dict[str, Any],
    *,
    user_type: str | None = None,
    fields: frozenset[str] = DEFAULT_STUDENT_FIELDS,
    sections: list[dict[str, Any]] | None = None,
) -> Principal:
    return build_principal(
        User.model_validate(user),
        [Section.model_validate(s) for s in sections or []],
        [Resource.model_validate({"id": "r1", "resource_id": "rid", "title": "Book", "roles": ["teacher"]})],
        login_user_type=user_type,
        student_fields=fields,
    )


def test_a_teacher_who_is_also_staff_holds_both_roles_in_contract_order() -> None:
    principal = _principal(TEACHER_STAFF, user_type="teacher", sections=SECTIONS)
    assert principal["user"]["roles"] == ["staff", "teacher"]
    assert principal["user"]["primary_role"] == "teacher"
    assert principal["user"]["legacy_ids"] == {"teacher": "t-old", "staff": "st-old"}
    assert principal["roles"]["staff"]["roles"] == ["SchoolTechLead"]
    assert principal["roles"]["teacher"] == {"schools": ["s1"], "title": "Math"}
    assert [(s["id"], s["role"]) for s in principal["sections"]] == [("sec1", "teacher"), ("sec2", "teacher")]
    assert principal["resources"] == [
        {"id": "r1", "resource_id": "rid", "title": "Book", "roles": ["teacher"]}
    ]


@pytest.mark.parametrize(
    ("user_type", "expected"),
    [
        (None, "staff"),
        ("teacher", "teacher"),
        ("staff", "staff"),
        ("student", "staff"),
        ("district admin", "staff"),
        ("school_admin", "staff"),
    ],
)
def test_primary_role_is_the_login_role_when_held(user_type: str | None, expected: str) -> None:
    assert _principal(TEACHER_STAFF, user_type=user_type)["user"]["primary_role"] == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [("district admin", "district_admin"), ("District_Admin", "district_admin"), ("teacher", "teacher"),
     ("school_admin", "staff"), ("School Admin", "staff"), ("user", None), (None, None)],
)  # fmt: skip
def test_user_type_spellings(said: str | None, expected: str | None) -> None:
    assert normalise_user_type(said) == expected


def test_primary_role_of_nobody() -> None:
    assert primary_role([], "teacher") is None


def test_a_student_by_default_carries_no_sensitive_field() -> None:
    principal = _principal(STUDENT, sections=SECTIONS[:1])
    assert principal["roles"]["student"] == {"grade": "", "schools": ["s1"], "school": "s1"}
    assert principal["user"]["email"] is None
    assert principal["user"]["name"] == {"first": "Ada", "middle": "", "last": "L"}
    assert [(s["id"], s["role"]) for s in principal["sections"]] == [("sec1", "student")]


def test_with_every_field_allowed_v31_fields_pass_through_as_sent() -> None:
    student = _principal(STUDENT, fields=STUDENT_FIELDS)["roles"]["student"]
    sent = STUDENT["roles"]["student"]
    assert student == sent
    assert student["disability"]["disability_code"] == "AUT"  # kept as Clever sent it


def test_a_contact_lists_linked_students() -> None:
    principal = _principal(CONTACT)
    assert principal["user"]["roles"] == ["contact"]
    assert (
        principal["roles"]["contact"]["student_relationships"]
        == CONTACT["roles"]["contact"]["student_relationships"]
    )


def test_a_user_with_no_roles_sections_or_email_still_has_a_principal() -> None:
    principal = _principal({"id": "u0", "district": "d1"})
    assert principal["user"]["roles"] == []
    assert principal["user"]["primary_role"] is None
    assert principal["roles"] == {}
    assert principal["sections"] == []


def test_a_library_principal_has_no_district_and_a_teachers_students() -> None:
    teacher = User.model_validate(TEACHER_STAFF)
    student = User.model_validate(STUDENT)
    library = build_principal(
        teacher, [], [], login_user_type=None, student_fields=DEFAULT_STUDENT_FIELDS,
        students=[student], authorized_by="teacher",
    )  # fmt: skip
    assert library["user"]["district"] is None
    assert library["user"]["authorized_by"] == "teacher"
    assert library["roles"]["teacher"]["students"] == [
        {"id": "u-st", "name": {"first": "Ada", "last": "L"}, "grade": ""}
    ]
    district = build_principal(
        teacher, [], [], login_user_type=None, student_fields=DEFAULT_STUDENT_FIELDS, students=[student]
    )
    assert district["user"]["district"] == "d1"
    assert district["user"]["authorized_by"] == "district"
    assert "students" not in district["roles"]["teacher"]


DIRECTORY = Directory(
    district_id="d1",
    name="Sandbox Unified",
    portal_url="https://clever.com/in/sandbox",
    schools={"s1": "Lincoln Elementary", "s2": "Hamilton Middle", "s3": "Unnamed by anyone here"},
)


def test_the_directory_names_the_district_and_only_the_schools_the_principal_names() -> None:
    principal = build_principal(
        User.model_validate(TEACHER_STAFF),
        [Section.model_validate(SECTIONS[0])],
        [],
        login_user_type="teacher",
        student_fields=DEFAULT_STUDENT_FIELDS,
        directory=DIRECTORY,
    )
    assert principal["district"] == {
        "id": "d1",
        "name": "Sandbox Unified",
        "portal_url": "https://clever.com/in/sandbox",
        "schools": {"s1": "Lincoln Elementary", "s2": "Hamilton Middle"},
    }


def test_a_student_s_school_is_named_and_no_directory_means_no_district() -> None:
    student = User.model_validate(STUDENT)
    named = build_principal(
        student, [], [], login_user_type="student", student_fields=DEFAULT_STUDENT_FIELDS, directory=DIRECTORY
    )
    assert named["district"]["schools"] == {"s1": "Lincoln Elementary"}
    plain = build_principal(student, [], [], login_user_type="student", student_fields=DEFAULT_STUDENT_FIELDS)
    assert "district" not in plain


def test_another_districts_directory_or_a_library_login_names_nothing() -> None:
    user = User.model_validate(TEACHER_STAFF)
    other = Directory(district_id="d2", name="Elsewhere", portal_url=None, schools={"s1": "Not this one"})
    assert "district" not in build_principal(
        user, [], [], login_user_type=None, student_fields=DEFAULT_STUDENT_FIELDS, directory=other
    )
    library = build_principal(
        user,
        [],
        [],
        login_user_type=None,
        student_fields=DEFAULT_STUDENT_FIELDS,
        directory=DIRECTORY,
        authorized_by="teacher",
    )
    assert "district" not in library
