"""Data API reads and paging, against the sandbox's seeded districts."""

from __future__ import annotations

import logging

import httpx
import pytest

from app.clever import CleverClient
from app.clever.models import ROLE_ORDER, User
from app.logs import TextFormatter
from tests.clever.sandbox_control import add_fault, remaining
from tests.conftest import RunningSandbox


def store_ids(records: object) -> list[str]:
    assert isinstance(records, list)
    return [record["id"] for record in records]


async def test_every_seeded_user_parses(
    sandbox: RunningSandbox, clever: CleverClient, caplog: pytest.LogCaptureFixture
) -> None:
    store = sandbox.sandbox.store
    seen_roles: set[str] = set()
    with caplog.at_level(logging.WARNING, logger="app.clever"):
        for district_id in store.district_ids():
            token = sandbox.sandbox.tokens.district_token(district_id, sandbox.config.client_id)
            users = await clever.users(token)
            expected = [user["id"] for user in store.all("users") if user["district"] == district_id]
            assert [user.id for user in users] == expected
            for user in users:
                seen_roles.update(user.roles.names)
    assert seen_roles == set(ROLE_ORDER)
    # The seed covers every value Clever lists, and nothing else.
    assert not caplog.records


async def test_v31_student_fields_arrive_as_the_store_holds_them(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str
) -> None:
    students = await clever.users(district_token, role="student")
    assert students
    frl = {student.roles.student.frl_status for student in students if student.roles.student}
    assert "Other" in frl
    for student in students:
        stored = sandbox.sandbox.store.user(student.id)
        assert stored is not None
        assert student.roles.student is not None
        role = stored["roles"]["student"]
        for field in ("gifted_status", "section_504_status", "frl_status", "iep_status", "ell_status",
                      "home_language", "home_language_code", "grade"):  # fmt: skip
            assert getattr(student.roles.student, field) == role.get(field), field
        if role.get("disability") is not None:
            assert student.roles.student.disability is not None
            assert student.roles.student.disability.disability_code == role["disability"].get(
                "disability_code"
            )


@pytest.mark.parametrize("limit", [6, 7])
async def test_paging_follows_next_links_until_a_short_or_empty_page(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, limit: int
) -> None:
    district_id = sandbox.sandbox.store.district_ids()[0]
    expected = [user["id"] for user in sandbox.sandbox.store.all("users") if user["district"] == district_id]
    assert {len(expected) % 6 == 0, len(expected) % 7 == 0} == {True, False}  # one of each case below
    # A pass-through fault on the list path counts the requests that reach it.
    await add_fault(sandbox.url, "/v3.1/users", method="GET", count=1000)
    users = await clever.users(district_token, limit=limit)
    assert [user.id for user in users] == expected
    pages = -(-len(expected) // limit)
    # The sandbox, like Clever, links a next page after the last one. A short last page ends
    # the walk; only a full last page makes the client ask for the (empty) next one.
    extra = 1 if len(expected) % limit == 0 else 0
    assert 1000 - (await remaining(sandbox.url, "/v3.1/users") or 0) == pages + extra


async def served_ids(sandbox: RunningSandbox, token: str, path: str) -> list[str]:
    """What the sandbox serves at `path` in one page, read without our client."""
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.get(
            path, params={"limit": 10_000}, headers={"Authorization": f"Bearer {token}"}
        )
    response.raise_for_status()
    return [item["data"]["id"] for item in response.json()["data"]]


async def test_sub_resources_of_a_teacher(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str
) -> None:
    teacher = sandbox.sandbox.store.all("sections")[0]["teacher"]
    assert isinstance(teacher, str)
    # Small pages, so each list takes several requests; the result must equal the single page.
    sections = await clever.user_sections(district_token, teacher, limit=2)
    expected = await served_ids(sandbox, district_token, f"/v3.1/users/{teacher}/sections")
    assert len(expected) > 2
    assert [section.id for section in sections] == expected
    stored = {s["id"] for s in sandbox.sandbox.store.all("sections") if teacher in s.get("teachers", [])}
    assert set(expected) == stored
    resources = await clever.user_resources(district_token, teacher, limit=2)
    expected = await served_ids(sandbox, district_token, f"/v3.1/users/{teacher}/resources")
    assert [resource.id for resource in resources] == expected
    assert expected
    schools = await clever.user_schools(district_token, teacher, limit=1)
    assert [school.id for school in schools] == await served_ids(
        sandbox, district_token, f"/v3.1/users/{teacher}/schools"
    )
    assert schools
    students = await clever.user_students(district_token, teacher, limit=3)
    assert [student.id for student in students] == await served_ids(
        sandbox, district_token, f"/v3.1/users/{teacher}/mystudents"
    )
    assert students


async def test_a_contact_reaches_the_students_it_is_linked_to(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str
) -> None:
    contact_id = next(
        login.user_id for login in sandbox.sandbox.store.demo_logins() if login.user_type == "contact"
    )
    contact = await clever.user(district_token, contact_id)
    assert contact.roles.contact is not None
    linked = {relationship.student for relationship in contact.roles.contact.student_relationships}
    assert linked
    students = await clever.user_students(district_token, contact_id)
    assert {student.id for student in students} == linked


async def test_a_student_has_no_students(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str
) -> None:
    student = next(
        login.user_id for login in sandbox.sandbox.store.demo_logins() if login.user_type == "student"
    )
    assert await clever.user_students(district_token, student) == []


async def test_the_district(sandbox: RunningSandbox, clever: CleverClient, district_token: str) -> None:
    district_id = sandbox.sandbox.store.district_ids()[0]
    district = await clever.district(district_token, district_id)
    stored = sandbox.sandbox.store.district(district_id)
    assert stored is not None
    assert (district.id, district.name) == (district_id, stored["name"])


async def test_an_unknown_enum_value_from_clever_is_kept(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    student = next(
        login.user_id for login in sandbox.sandbox.store.demo_logins() if login.user_type == "student"
    )
    # Clever adds enum values over time: here a grade and a language code it does not list yet.
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.patch(
            f"/sandbox/users/{student}",
            json={"roles": {"student": {"grade": "Grade13Plus", "home_language_code": "tlh"}}},
        )
    if response.status_code == 400:
        pytest.skip("the sandbox validates enum values on PATCH")
    response.raise_for_status()
    with caplog.at_level(logging.WARNING, logger="app.clever"):
        user = await clever.user(district_token, student)
    assert isinstance(user, User)
    assert user.roles.student is not None
    assert (user.roles.student.grade, user.roles.student.home_language_code) == ("Grade13Plus", "tlh")
    assert any("tlh" in TextFormatter().format(record) for record in caplog.records)


async def test_events_resume_from_their_cursor(
    sandbox: RunningSandbox, clever: CleverClient, district_token: str
) -> None:
    first = await clever.events(district_token)
    district_id = sandbox.sandbox.store.district_ids()[0]
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        created = await http.post(
            "/sandbox/users",
            json={
                "district": district_id,
                "name": {"first": "New", "last": "Teacher"},
                "roles": {"teacher": {}},
            },
        )
        created.raise_for_status()
        new_id = created.json()["id"]
        (await http.patch(f"/sandbox/users/{new_id}", json={"name": {"first": "Renamed"}})).raise_for_status()
    page = await clever.events(district_token, starting_after=first.cursor)
    assert [event.type for event in page.events] == ["users.created", "users.updated"]
    created_event, updated_event = page.events
    assert isinstance(created_event.data.object, User)
    assert created_event.data.object.id == new_id
    assert updated_event.data.previous_attributes is not None
    assert updated_event.data.previous_attributes["name"]["first"] == "New"
    assert page.cursor == updated_event.id
    after = await clever.events(district_token, starting_after=page.cursor, record_types=["users"])
    assert after.events == []
    assert after.cursor == page.cursor
    assert not after.has_more
