"""The conformance suite is only as good as its strictness: these prove it catches what it must."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support import clever_spec
from tests.support.clever_spec import JsonSchema, sample, validation_errors

if TYPE_CHECKING:
    from tests.conftest import RunningSandbox

pytestmark = [
    pytest.mark.spec,
    pytest.mark.skipif(clever_spec.spec_dir() is None, reason=clever_spec.missing_reason()),
]


def user_schema(version: str) -> JsonSchema:
    return clever_spec.load(clever_spec.DATA_FILES[version]).response_schema("/users/{id}", 200)


def sample_user(version: str = "v3.1") -> dict[str, Any]:
    """A `/users/{id}` answer holding every field the definitions name, each role included."""
    user: dict[str, Any] = sample(user_schema(version))
    return user


def _parent(payload: Any, dotted: str) -> tuple[Any, str | int]:
    *steps, last = dotted.split(".")
    node = payload
    for step in steps:
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node, int(last) if isinstance(node, list) else last


def changed(payload: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    parent, key = _parent(payload, dotted)
    parent[key] = value
    return payload


def renamed(payload: dict[str, Any], dotted: str, new_name: str) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    parent, key = _parent(payload, dotted)
    parent[new_name] = parent.pop(key)
    return payload


def removed(payload: dict[str, Any], dotted: str) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    parent, key = _parent(payload, dotted)
    del parent[key]
    return payload


def object_keys(payload: Any, prefix: str = "") -> Iterator[str]:
    """The dotted path of every key of every object inside `payload`."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            path = f"{prefix}{key}"
            yield path
            yield from object_keys(value, f"{path}.")
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield from object_keys(value, f"{prefix}{index}.")


# -- the definitions' own sample -------------------------------------------------------------


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
def test_a_user_built_from_the_definitions_passes(version: str) -> None:
    user = sample_user(version)
    assert set(user["data"]["roles"]) == {"contact", "district_admin", "staff", "student", "teacher"}
    assert validation_errors(user_schema(version), user) == []


@pytest.mark.parametrize("version", ["v3.0", "v3.1"])
def test_renaming_any_field_anywhere_in_a_user_fails(version: str) -> None:
    user = sample_user(version)
    keys = list(object_keys(user))
    assert len(keys) > 60
    missed = [key for key in keys if not validation_errors(user_schema(version), renamed(user, key, "zz"))]
    assert missed == []


@pytest.mark.parametrize(
    ("field", "new_name", "always_present"),
    [
        ("data.id", "user_id", True),
        ("data.created", "created_at", True),
        ("data.name.first", "first_name", True),
        ("data.email", "e_mail", False),
        ("data.roles.student.grade", "grade_level", False),
        # Clever's users page spells it "home_lanuage_code"; the definitions are right.
        ("data.roles.student.home_language_code", "home_lanuage_code", False),
        ("data.roles.student.legacy_id", "legacyId", True),
        ("data.roles.student.disability.disability_code", "code", False),
        ("data.roles.contact.student_relationships.0.student", "student_id", True),
        ("data.roles.district_admin", "districtadmin", False),
        ("data.lms_status.synced_in_lms", "synced", False),
    ],
)
def test_a_renamed_field_fails_and_a_guaranteed_one_fails_twice(
    field: str, new_name: str, always_present: bool
) -> None:
    errors = validation_errors(user_schema("v3.1"), renamed(sample_user(), field, new_name))
    assert any(f"'{new_name}' was unexpected" in error for error in errors), errors
    old_name = field.rsplit(".", 1)[-1]
    missing = any(f"'{old_name}' is a required property" in error for error in errors)
    assert missing is always_present, errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("data.roles.student.grade", 5),
        ("data.name", "Ada Lovelace"),
        ("data.roles.student.schools", "school-1"),
        ("data.email", 3),
        ("data.roles", []),
        ("data.lms_status.synced_in_lms", "true"),
        ("data.roles.student.disability", "aut"),
        ("data.created", 1723205109),
        ("data.created", "yesterday"),
        ("data.created", "2024-08-19"),
        ("data.roles.student.enrollments.0.start_date", "2024-08-19 14:05:09"),
        ("data.roles.student.dob", "2011-04-17"),
    ],
)
def test_a_changed_type_or_format_fails(field: str, value: Any) -> None:
    assert validation_errors(user_schema("v3.1"), changed(sample_user(), field, value))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("data.roles.student.grade", "K"),
        ("data.roles.student.grade", "01"),
        # Clever's users page lists disability codes in upper case ("AUT"); its definitions list
        # them in lower case, and we follow the definitions.
        ("data.roles.student.disability.disability_code", "AUT"),
        ("data.roles.student.frl_status", "free"),
        ("data.roles.student.gender", "Male"),
        ("data.roles.student.home_language_code", "en"),
        ("data.roles.contact.phone_type", "Mobile"),
        ("data.roles.contact.student_relationships.0.relationship", "Mother"),
    ],
)
def test_a_value_outside_its_enum_fails(field: str, value: str) -> None:
    errors = validation_errors(user_schema("v3.1"), changed(sample_user(), field, value))
    assert any("is not one of" in error for error in errors), errors


@pytest.mark.parametrize(
    "field",
    [
        "data.id",
        "data.district",
        "data.name",
        "data.roles",
        "data.roles.student.schools",
        "data.roles.student.legacy_id",
        "data.roles.student.sis_id",
        "data.lms_status.synced_in_lms",
        "data.roles.contact.student_relationships.0.student",
    ],
)
def test_null_where_the_definitions_do_not_allow_it_fails(field: str) -> None:
    assert validation_errors(user_schema("v3.1"), changed(sample_user(), field, None))


@pytest.mark.parametrize(
    "field",
    [
        "data.email",
        "data.name.middle",
        "data.lms_status",
        "data.roles.teacher",
        "data.roles.student.grade",
        "data.roles.student.location",
        "data.roles.student.disability.disability_code",
        "data.roles.contact.phone_type",
    ],
)
def test_null_where_x_nullable_allows_it_passes(field: str) -> None:
    assert validation_errors(user_schema("v3.1"), changed(sample_user(), field, None)) == []


@pytest.mark.parametrize(
    ("field", "passes"),
    [
        ("data.email", True),
        ("data.name.middle", True),
        ("data.roles.teacher", True),
        ("data.roles.student.disability", True),
        ("data.created", False),
        ("data.last_modified", False),
        ("data.name.last", False),
        ("data.roles", False),
        ("data.roles.staff.roles", False),
        ("data.roles.contact.legacy_id", False),
    ],
)
def test_only_fields_that_may_be_absent_may_be_left_out(field: str, passes: bool) -> None:
    errors = validation_errors(user_schema("v3.1"), removed(sample_user(), field))
    assert (errors == []) is passes, errors


def test_a_v3_1_user_is_not_a_v3_0_user() -> None:
    errors = validation_errors(user_schema("v3.0"), sample_user("v3.1"))
    unexpected = " ".join(errors)
    for field in ("lms_status", "disability", "home_language_code", "frl_status", "preferred_name"):
        assert f"'{field}'" in unexpected


def test_links_sit_beside_data_on_a_single_answer_but_not_in_list_items() -> None:
    definitions = clever_spec.load("v3.1.yml")
    link = {"rel": "self", "uri": "/v3.1/users/x"}
    single = {**sample_user(), "links": [link]}
    assert validation_errors(definitions.response_schema("/users/{id}", 200), single) == []
    bad_rel = {**sample_user(), "links": [{"rel": "canonical", "uri": "/v3.1/users/x"}]}
    assert validation_errors(definitions.response_schema("/users/{id}", 200), bad_rel)
    listing = {"data": [single], "links": [link]}
    assert validation_errors(definitions.response_schema("/users", 200), listing)
    assert validation_errors(definitions.response_schema("/users", 200), {"data": [sample_user()]})


@pytest.mark.parametrize("filename", ["v3.0-events.yml", "v3.1-events.yml"])
def test_an_event_is_checked_against_the_definition_its_type_names(filename: str) -> None:
    definitions = clever_spec.load(filename)
    schema = definitions.response_schema("/events/{id}", 200)
    section = sample(clever_spec.load(filename).definition_schema("Section"))
    user_event = sample(definitions.definition_schema("users.created"))
    user_event["type"] = "users.created"
    assert validation_errors(schema, {"data": user_event}) == []
    assert validation_errors(schema, {"data": {**user_event, "type": "users.merged"}})
    assert validation_errors(schema, {"data": {**user_event, "type": "sections.created"}})
    assert validation_errors(schema, {"data": {**user_event, "data": {"object": section}}})
    assert validation_errors(schema, {"data": removed(user_event, "type")})
    assert validation_errors(schema, {"data": removed(user_event, "data.object")})


@pytest.mark.parametrize(
    ("previous", "passes"),
    [
        ({}, True),
        ({"email": "old@example.org"}, True),
        ({"email": None}, True),  # the user had no email before
        ({"name": {"first": "Old"}}, True),
        ({"roles": {"student": {"grade": "4", "schools": ["s1"]}}}, True),
        ({"e_mail": "old@example.org"}, False),
        ({"name": {"first_name": "Old"}}, False),
        ({"roles": {"student": {"grade": 4}}}, False),
        ({"roles": {"student": {"grade": "K"}}}, False),
        ({"name": "Old Name"}, False),
    ],
)
def test_previous_attributes_hold_earlier_values_of_the_objects_own_fields(
    previous: dict[str, Any], passes: bool
) -> None:
    definitions = clever_spec.load("v3.1-events.yml")
    event = sample(definitions.definition_schema("users.updated"))
    event.update(type="users.updated", previous_attributes=previous)
    errors = validation_errors(definitions.response_schema("/events/{id}", 200), {"data": event})
    assert (errors == []) is passes, errors


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-08-19T14:05:09Z", True),
        ("2024-08-19T14:05:09.123Z", True),
        ("2024-08-19T14:05:09.123456789+02:00", True),
        ("2024-08-19T14:05:09-05:00", True),
        ("2024-08-19T14:05:09", False),
        ("2024-08-19 14:05:09Z", False),
        ("2024-02-30T00:00:00Z", False),
        ("2024-08-19", False),
        ("", False),
        ("1723205109", False),
    ],
)
def test_datetime_format_is_an_iso_8601_timestamp_with_an_offset(value: str, valid: bool) -> None:
    schema = {"type": "string", "format": "datetime"}
    assert (validation_errors(schema, value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"), [("2017-06-29", True), ("2017-6-29", False), ("2017-02-29", False)]
)
def test_date_format_is_a_calendar_date(value: str, valid: bool) -> None:
    assert (validation_errors({"type": "string", "format": "date"}, value) == []) is valid


def test_every_path_and_definition_converts_and_its_sample_passes() -> None:
    for filename in [*clever_spec.DATA_FILES.values(), *clever_spec.EVENTS_FILES.values()]:
        definitions = clever_spec.load(filename)
        for path in definitions.get_paths():
            for status in definitions.statuses(path):
                schema = definitions.response_schema(path, status)
                assert validation_errors(schema, sample(schema)) == [], (filename, path, status)


# -- a real sandbox answer -------------------------------------------------------------------


async def test_a_sandbox_student_passes_and_breaks_when_changed(sandbox: RunningSandbox) -> None:
    config = sandbox.config
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        tokens = await client.get(
            "/oauth/tokens",
            params={"owner_type": "district"},
            auth=(config.client_id, config.client_secret),
        )
        tokens.raise_for_status()
        token = tokens.json()["data"][0]["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listing = await client.get("/v3.1/users", params={"role": "student", "limit": 1}, headers=headers)
        listing.raise_for_status()
        student_id = listing.json()["data"][0]["data"]["id"]
        answer = await client.get(f"/v3.1/users/{student_id}", headers=headers)
        answer.raise_for_status()
    user = answer.json()
    schema = user_schema("v3.1")
    assert validation_errors(schema, user) == []
    assert validation_errors(schema, renamed(user, "data.name.first", "first_name"))
    assert validation_errors(schema, changed(user, "data.roles.student.grade", 5))
    assert validation_errors(schema, changed(user, "data.name", "Ada Lovelace"))
    assert validation_errors(schema, changed(user, "data.roles.student.gender", "Male"))
    assert validation_errors(schema, changed(user, "data.id", None))
    assert validation_errors(user_schema("v3.0"), user), "v3.1-only fields must not pass as v3.0"
