from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from app.clever.models import (
    JWKS,
    DistrictTokens,
    Event,
    MeResponse,
    Page,
    Section,
    TokenResponse,
    User,
    UserInfo,
)
from app.clever.models.base import _reported
from app.logs import TextFormatter


@pytest.fixture(autouse=True)
def _forget_reported_values() -> None:
    # Unknown values are reported once per process; each test starts with none reported.
    _reported.clear()


def user(**roles: dict[str, Any]) -> dict[str, Any]:
    return {"id": "u1", "district": "d1", "name": {"first": "A", "last": "B"}, "roles": roles}


def test_a_multi_role_user_lists_its_roles_in_contract_order() -> None:
    parsed = User.model_validate(
        user(teacher={"schools": ["s1"]}, staff={"roles": ["SchoolTechLead"]}, district_admin={"title": "x"})
    )
    assert parsed.roles.names == ["district_admin", "staff", "teacher"]
    assert parsed.roles.staff is not None
    assert parsed.roles.staff.roles == ["SchoolTechLead"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("frl_status", "Other"),
        ("frl_status", ""),
        ("gifted_status", ""),
        ("section_504_status", "Y"),
        ("ell_status", "N"),
        ("iep_status", "Y"),
        ("home_language", "Haitian Creole"),
        ("home_language_code", "cmn"),
        ("grade", "Kindergarten"),
        ("race", "Two or More Races"),
    ],
)
def test_student_fields_pass_through_as_sent(
    field: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    parsed = User.model_validate(user(student={field: value}))
    assert parsed.roles.student is not None
    assert getattr(parsed.roles.student, field) == value
    assert not caplog.records


@pytest.mark.parametrize("code", ["aut", "AUT", "Sld", "other"])
def test_disability_codes_are_known_in_either_case(code: str, caplog: pytest.LogCaptureFixture) -> None:
    parsed = User.model_validate(user(student={"disability": {"disability_code": code}}))
    assert parsed.roles.student is not None
    assert parsed.roles.student.disability is not None
    assert parsed.roles.student.disability.disability_code == code
    assert parsed.roles.student.disability.code == code.lower()
    assert not caplog.records


def test_an_unknown_enum_value_is_kept_and_logged_once_without_the_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = user(student={"home_language_code": "tlh", "sis_id": "private-sis-id"})
    with caplog.at_level(logging.WARNING, logger="app.clever"):
        first = User.model_validate(payload)
        User.model_validate(payload)
    assert first.roles.student is not None
    assert first.roles.student.home_language_code == "tlh"
    assert len(caplog.records) == 1
    message = TextFormatter().format(caplog.records[0])
    assert "home_language_code" in message
    assert "tlh" in message
    assert "private-sis-id" not in message
    assert "u1" not in message


def test_unknown_staff_and_resource_roles_are_kept() -> None:
    staff = User.model_validate(user(staff={"roles": ["PortalOnly", "NewKind"]}))
    assert staff.roles.staff is not None
    assert staff.roles.staff.roles == ["PortalOnly", "NewKind"]


def test_absent_optional_fields_null_lists_and_extra_fields_are_tolerated() -> None:
    parsed = User.model_validate(
        {
            "id": "u1",
            "district": "d1",
            "something_new": {"nested": True},
            "roles": {
                "student": {"schools": None, "enrollments": None, "brand_new_field": 1},
                "teacher": None,
            },
        }
    )
    assert parsed.email is None
    assert parsed.name.first is None
    assert parsed.roles.names == ["student"]
    assert parsed.roles.student is not None
    assert parsed.roles.student.schools == []
    assert parsed.roles.student.enrollments == []


@pytest.mark.parametrize(
    "payload",
    [
        {"district": "d1"},
        {"id": "", "district": "d1"},
        {"id": "u1"},
        {"id": None, "district": "d1"},
    ],
)
def test_user_ids_are_required(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        User.model_validate(payload)


def test_validation_errors_do_not_echo_payload_values() -> None:
    with pytest.raises(ValidationError) as caught:
        User.model_validate({"id": "u1", "district": 12345, "email": "someone@example.org"})
    assert "12345" not in str(caught.value)
    assert "someone@example.org" not in str(caught.value)


def test_contact_relationships_parse() -> None:
    parsed = User.model_validate(
        user(
            contact={
                "phone_type": "Cell",
                "student_relationships": [
                    {"student": "s1", "relationship": "Parent", "type": "Parent/Guardian"},
                    {"student": "s2", "relationship": "", "type": ""},
                ],
            }
        )
    )
    assert parsed.roles.contact is not None
    assert [r.student for r in parsed.roles.contact.student_relationships] == ["s1", "s2"]
    assert parsed.roles.contact.student_relationships[1].relationship == ""


def test_a_list_page_unwraps_items_and_finds_next() -> None:
    page = Page[Section].model_validate(
        {
            "data": [{"data": {"id": "a", "subject": "math"}}, {"data": {"id": "b", "subject": ""}}],
            "links": [{"rel": "self", "uri": "/v3.1/sections"}, {"rel": "next", "uri": "/v3.1/sections?x=1"}],
        }
    )
    assert [section.id for section in page.items] == ["a", "b"]
    assert page.next_uri == "/v3.1/sections?x=1"


@pytest.mark.parametrize("beside_data", [True, False])
def test_events_carry_a_typed_object_and_previous_attributes(beside_data: bool) -> None:
    previous = {"name": {"first": "Old"}}
    raw: dict[str, Any] = {
        "id": "e1",
        "type": "users.updated",
        "created": "2025-07-01T12:00:00.000Z",
        "data": {"object": user(teacher={})},
    }
    if beside_data:
        raw["previous_attributes"] = previous
    else:
        raw["data"]["previous_attributes"] = previous
    event = Event.model_validate(raw)
    assert isinstance(event.data.object, User)
    assert event.record_type == "users"
    assert event.action == "updated"
    assert event.data.previous_attributes == previous


def test_an_event_of_an_unknown_record_type_keeps_its_object() -> None:
    event = Event.model_validate({"id": "e1", "type": "widgets.created", "data": {"object": {"id": "w"}}})
    assert event.data.object == {"id": "w"}


def test_an_event_whose_object_lacks_an_id_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Event.model_validate({"id": "e1", "type": "sections.created", "data": {"object": {"name": "x"}}})


def test_tokens_stay_out_of_reprs() -> None:
    token = TokenResponse.model_validate({"access_token": "secret-access", "id_token": "secret-id"})
    assert "secret" not in repr(token)
    assert "secret" not in str(token)
    tokens = DistrictTokens.model_validate(
        {"data": [{"owner": {"type": "district", "id": "d1"}, "access_token": "secret-district"}]}
    )
    assert "secret" not in repr(tokens)


def test_me_userinfo_and_jwks() -> None:
    me = MeResponse.model_validate(
        {"type": "user", "data": {"id": "u1", "district": "d1", "type": "user", "authorized_by": "district"}}
    )
    assert me.data.id == "u1"
    info = UserInfo.model_validate({"sub": "u1", "user_type": "district admin", "email_verified": False})
    assert info.user_type == "district admin"
    with pytest.raises(ValidationError):
        JWKS.model_validate({"keys": [{"kid": "k"}]})
