from __future__ import annotations

import pytest

from app.roster.fieldpolicy import (
    DEFAULT_STUDENT_FIELDS,
    SENSITIVE_STUDENT_FIELDS,
    apply_student_fields,
    parse_student_fields,
)


def test_the_default_holds_nothing_sensitive() -> None:
    sensitive = (
        "disability", "iep_status", "frl_status", "ell_status", "section_504_status", "gifted_status",
        "home_language", "home_language_code", "race", "hispanic_ethnicity", "gender", "dob", "location",
    )  # fmt: skip
    for name in sensitive:
        assert name in SENSITIVE_STUDENT_FIELDS
        assert name not in DEFAULT_STUDENT_FIELDS


def test_apply_keeps_only_allowed_fields_and_values_as_sent() -> None:
    student = {
        "grade": "",
        "schools": ["s1"],
        "frl_status": "Other",
        "disability": {"disability_code": "aut"},
    }
    assert apply_student_fields(student, DEFAULT_STUDENT_FIELDS) == {"grade": "", "schools": ["s1"]}
    allowed = parse_student_fields("grade,frl_status")
    assert apply_student_fields(student, allowed) == {"grade": "", "frl_status": "Other"}


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="ssn"):
        parse_student_fields("grade,ssn")
