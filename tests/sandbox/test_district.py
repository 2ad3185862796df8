from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest

from clever_sandbox.district import DISABILITIES, HOME_LANGUAGES, SeedData, build_districts
from tests.support import clever_spec

KINDS = ("districts", "schools", "terms", "courses", "users", "sections", "resources")
DEFINITIONS = {
    "districts": "District",
    "schools": "School",
    "terms": "Term",
    "courses": "Course",
    "users": "User",
    "sections": "Section",
    "resources": "Resource",
}
needs_spec = pytest.mark.skipif(clever_spec.spec_dir() is None, reason=clever_spec.missing_reason())


@pytest.fixture(scope="module")
def seed() -> SeedData:
    return build_districts(seed=1, students=24)


def _main(seed: SeedData) -> str:
    return str(seed.districts[0]["id"])


def _users(seed: SeedData, role: str, district: str | None = None) -> list[dict[str, Any]]:
    return [u for u in seed.users if role in u["roles"] and (district is None or u["district"] == district)]


def _all_ids(seed: SeedData) -> list[str]:
    return [record["id"] for kind in KINDS for record in getattr(seed, kind)]


def test_same_arguments_build_the_same_districts(seed: SeedData) -> None:
    assert build_districts(seed=1, students=24) == seed
    assert set(_all_ids(build_districts(seed=2, students=24))).isdisjoint(_all_ids(seed))


@pytest.mark.parametrize("kind", KINDS)
def test_ids_look_like_clevers_and_sort_in_creation_order(seed: SeedData, kind: str) -> None:
    ids = [record["id"] for record in getattr(seed, kind)]
    assert ids
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)
    assert ids == sorted(ids)


def test_ids_are_unique_across_kinds_and_legacy_ids(seed: SeedData) -> None:
    legacy = [role["legacy_id"] for user in seed.users for role in user["roles"].values()]
    everything = _all_ids(seed) + legacy
    assert len(everything) == len(set(everything))


def test_the_main_district_has_the_requested_students(seed: SeedData) -> None:
    assert len(_users(seed, "student", _main(seed))) == 24
    big = build_districts(seed=1, students=300)
    assert len(_users(big, "student", _main(big))) == 300


def test_ten_thousand_students_build_quickly() -> None:
    started = time.perf_counter()
    built = build_districts(seed=3, students=10_000)
    assert time.perf_counter() - started < 5
    assert len(_users(built, "student")) == 10_006  # and the second district's two, the Library's four


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("grade", None),
        ("gender", None),
        ("race", None),
        ("ell_status", None),
        ("gifted_status", None),
        ("section_504_status", None),
        ("frl_status", None),
        ("hispanic_ethnicity", None),
        ("iep_status", ("Y", "N", "")),
    ],
)
def test_students_cover_every_value_of_each_enum(
    seed: SeedData, field: str, values: tuple[str, ...] | None
) -> None:
    if values is None:
        if clever_spec.spec_dir() is None:
            pytest.skip(clever_spec.missing_reason())
        schema = clever_spec.load("v3.1.yml").definition_schema("Student")
        values = tuple(v for v in schema["properties"][field]["enum"] if v is not None)
    held = {user["roles"]["student"].get(field) for user in _users(seed, "student", _main(seed))}
    assert set(values) <= held


def test_students_cover_every_disability_type_and_code_in_pairs(seed: SeedData) -> None:
    pairs = {
        (s["disability"]["disability_type"], s["disability"]["disability_code"])
        for s in (u["roles"]["student"] for u in _users(seed, "student", _main(seed)))
        if s["disability"]["disability_status"] == "Y"
    }
    assert pairs == set(DISABILITIES)
    # The definitions spell the codes in lower case (the docs in upper case).
    assert all(code == code.lower() for _, code in pairs)


@needs_spec
def test_disability_and_language_tables_match_the_definitions() -> None:
    student = clever_spec.load("v3.1.yml").definition_schema("Student")["properties"]
    disability = student["disability"]["properties"]
    assert {t for t, _ in DISABILITIES} == {v for v in disability["disability_type"]["enum"] if v}
    assert {c for _, c in DISABILITIES} == {v for v in disability["disability_code"]["enum"] if v}
    assert {name for name, _ in HOME_LANGUAGES} <= set(student["home_language"]["enum"])
    assert {code for _, code in HOME_LANGUAGES} <= set(student["home_language_code"]["enum"])


def test_students_speak_many_home_languages_with_matching_codes(seed: SeedData) -> None:
    students = [u["roles"]["student"] for u in _users(seed, "student", _main(seed))]
    pairs = {(s["home_language"], s["home_language_code"]) for s in students}
    assert pairs <= set(HOME_LANGUAGES)
    assert len(pairs) >= 20


def test_student_details(seed: SeedData) -> None:
    students = _users(seed, "student", _main(seed))
    assert all(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", u["roles"]["student"]["dob"]) for u in students)
    assert any(u["email"] is None for u in students)
    assert any(u["email"] for u in students)
    assert any("preferred_name" in u["roles"]["student"] for u in students)
    assert all(u["roles"]["student"]["enrollments"] for u in students)
    assert all(u["roles"]["student"]["credentials"]["district_username"] for u in students)
    in_sections = {s for section in seed.sections for s in section["students"]}
    assert any(u["id"] not in in_sections for u in students)


def test_staff_teachers_and_admins(seed: SeedData) -> None:
    district = _main(seed)
    both = [u for u in _users(seed, "teacher", district) if set(u["roles"]) == {"teacher", "staff"}]
    assert len(both) == 1
    roles = both[0]["roles"]
    assert roles["teacher"]["legacy_id"] != roles["staff"]["legacy_id"]
    staff_only = [u for u in _users(seed, "staff", district) if len(u["roles"]) == 1]
    held = Counter(r for u in staff_only for r in u["roles"]["staff"]["roles"])
    assert held["SchoolTechLead"] >= 1
    assert held["PortalOnly"] >= 1
    assert any(not u["roles"]["staff"]["schools"] for u in staff_only)
    assert _users(seed, "district_admin", district)
    teaching = {t for section in seed.sections for t in section["teachers"]}
    assert any(u["id"] not in teaching for u in _users(seed, "teacher", district))
    assert len(_users(seed, "teacher", district)) >= 4


def test_contacts_link_several_students_with_every_relationship(seed: SeedData) -> None:
    contacts = _users(seed, "contact", _main(seed))
    students = {u["id"] for u in _users(seed, "student")}
    links = [link for c in contacts for link in c["roles"]["contact"]["student_relationships"]]
    assert all(len(c["roles"]["contact"]["student_relationships"]) >= 2 for c in contacts)
    assert all(link["student"] in students for link in links)
    # Every relationship but "Self": that is an adult student's own contact record, never a link
    # from a contact to someone else.
    assert {link["relationship"] for link in links} == {
        "Parent",
        "Grandparent",
        "Aunt/Uncle",
        "Sibling",
        "Other",
        "",
    }
    expected_types = {"Parent/Guardian", "Emergency", "Primary", "Secondary", "Family", "Other", ""}
    assert {link["type"] for link in links} == expected_types


def test_parents_grandparents_and_siblings_share_the_students_last_name(seed: SeedData) -> None:
    users = {u["id"]: u for u in seed.users}
    for contact in _users(seed, "contact"):
        links = contact["roles"]["contact"]["student_relationships"]
        family = [
            users[link["student"]] for link in links if link["relationship"] in ("Parent", "Grandparent")
        ]
        assert all(child["name"]["last"] == contact["name"]["last"] for child in family)
        firsts = [child["name"]["first"] for child in family]
        assert len(firsts) == len(set(firsts)), "siblings have names of their own"


@pytest.mark.parametrize("students", [24, 300])
def test_students_are_in_sections_of_their_grade_and_school(students: int) -> None:
    built = build_districts(seed=1, students=students)
    users = {u["id"]: u for u in built.users}
    schools = {school["id"]: school for school in built.schools}
    for section in built.sections:
        for student_id in section["students"]:
            role = users[student_id]["roles"]["student"]
            assert section["school"] in role["schools"]
            # Mixed-grade sections ("Other", "Ungraded": art, PE, library) take any grade.
            assert section["grade"] in (role["grade"], "Other", "Ungraded"), (section["name"], role["grade"])
    for user in users.values():
        role = user["roles"].get("student")
        if role is None:
            continue
        assert schools[role["school"]]["district"] == user["district"]
        # A student's sections meet at different periods.
        periods = [s["period"] for s in built.sections if user["id"] in s["students"]]
        assert len(periods) == len(set(periods))


def test_birth_dates_and_graduation_years_follow_the_grade(seed: SeedData) -> None:
    students = {
        u["roles"]["student"]["grade"]: u["roles"]["student"] for u in _users(seed, "student", _main(seed))
    }
    born = {grade: int(role["dob"].rsplit("/", 1)[1]) for grade, role in students.items()}
    assert born["InfantToddler"] > born["Kindergarten"] > born["3"] > born["9"] > born["12"]
    assert students["12"]["graduation_year"] == "2026"
    assert students["9"]["graduation_year"] == "2029"
    assert students["Kindergarten"]["graduation_year"] == "2038"


def test_the_picker_shows_students_of_common_grades_first(seed: SeedData) -> None:
    users = {u["id"]: u for u in seed.users}
    grades = [
        users[login.user_id]["roles"]["student"]["grade"]
        for login in seed.demo_logins
        if login.user_type == "student"
    ]
    assert all(grade.isdigit() for grade in grades)


def test_sections_and_resources_refer_to_records_of_their_district(seed: SeedData) -> None:
    by_id = {record["id"]: record for kind in KINDS for record in getattr(seed, kind)}
    for section in seed.sections:
        district = section["district"]
        refs = [
            section["school"],
            section["course"],
            section["term_id"],
            *section["teachers"],
            *section["students"],
        ]
        assert all(ref is None or by_id[ref]["district"] == district for ref in refs)
        assert section["teacher"] in section["teachers"]
    assert any(len(s["teachers"]) > 1 for s in seed.sections)
    assert any(s["course"] is None for s in seed.sections)
    assert len({s["subject"] for s in seed.sections}) >= 5
    shared_sections = {s for ids in seed.resource_sections.values() for s in ids}
    shared_users = {u for ids in seed.resource_users.values() for u in ids}
    assert shared_sections <= {s["id"] for s in seed.sections}
    assert shared_users
    assert shared_users <= {u["id"] for u in seed.users}


def test_a_second_small_district(seed: SeedData) -> None:
    assert len(seed.districts) == 2
    second = seed.districts[1]["id"]
    assert len([s for s in seed.schools if s["district"] == second]) == 1
    # One teacher who only teaches; the people of several roles are further down.
    assert len([u for u in _users(seed, "teacher", second) if len(u["roles"]) == 1]) == 1
    assert len(_users(seed, "student", second)) == 2
    assert len([s for s in seed.sections if s["district"] == second]) == 1


def test_demo_logins_cover_every_kind_of_user(seed: SeedData) -> None:
    users = {u["id"]: u for u in seed.users}
    for login in seed.demo_logins:
        user = users[login.user_id]
        # A Library login has no district; the person's own is not connected to the app.
        assert user["district"] == login.district_id or not login.district_id
        assert login.user_type in user["roles"]
    kinds = {(login.district_id, login.user_type) for login in seed.demo_logins}
    main, second = (d["id"] for d in seed.districts)
    for role in ("student", "teacher", "staff", "district_admin", "contact"):
        assert (main, role) in kinds
    assert {(second, "teacher"), (second, "student")} <= kinds
    multi = [login for login in seed.demo_logins if len(users[login.user_id]["roles"]) > 1]
    assert {login.user_type for login in multi} == {"teacher", "staff", "district_admin"}
    # Every mix Clever allows (teacher, staff and district admin, one of each; never a
    # student or a contact with another role), each signing in as each of its roles.
    mixes = {(frozenset(users[login.user_id]["roles"]), login.user_type) for login in multi}
    for mix in ({"teacher", "staff"}, {"district_admin", "teacher"}, {"district_admin", "staff"}):
        assert {(frozenset(mix), role) for role in mix} <= mixes
    assert {
        (frozenset({"teacher", "staff", "district_admin"}), role) for role in ("teacher", "staff")
    } <= mixes
    assert not {"student", "contact"} & {role for held, _ in mixes for role in held}
    library = {login.user_type for login in seed.demo_logins if not login.district_id}
    assert library == {"teacher", "student"}  # Clever Library serves only these


@needs_spec
@pytest.mark.parametrize("kind", KINDS)
def test_records_conform_to_the_v31_definitions(seed: SeedData, kind: str) -> None:
    schema = clever_spec.load("v3.1.yml").definition_schema(DEFINITIONS[kind])
    for record in getattr(seed, kind):
        clever_spec.assert_conforms(schema, record, f"{kind} {record['id']}")
