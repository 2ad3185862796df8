"""The sandbox's seeded demo districts, built as plain v3.1-shaped records.

Everything here is a pure function of `(seed, students)`: the same arguments give the same ids,
names and links. Ids look like Clever's (24 lowercase hex digits, as MongoDB ObjectIds) and
grow with creation order, so sorting by id is sorting by creation, which is how the Data API
pages. The ids a running sandbox hands out later continue from `SeedData.next_serial`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Record = dict[str, Any]

# Seeded records carry fixed timestamps so that two builds compare equal.
SEED_EPOCH = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
_SERIAL_LIMIT = 16**6


def iso_timestamp(moment: datetime) -> str:
    """Clever's timestamp form: ISO 8601 in UTC with milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class IdMaker:
    """ObjectId-like ids: a fixed time part, a per-seed part, then a serial number.

    With the first two parts fixed, ids compare (as strings) in the order of their serials.
    """

    prefix: str

    @classmethod
    def for_seed(cls, seed: int, stamp: datetime, salt: str) -> IdMaker:
        machine = random.Random(f"{seed}:{salt}").getrandbits(40)
        return cls(f"{int(stamp.timestamp()):08x}{machine:010x}")

    def make(self, serial: int) -> str:
        if not 0 <= serial < _SERIAL_LIMIT:
            raise ValueError("the sandbox ran out of ids")
        return f"{self.prefix}{serial:06x}"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """One entry of the sandbox's sign-in page: who, how they are shown, and the login role."""

    user_id: str
    label: str
    district_id: str
    user_type: str  # the role of this login: student, teacher, staff, district_admin or contact


@dataclass(slots=True)
class SeedData:
    """The records of every kind, each list in id (creation) order."""

    districts: list[Record] = field(default_factory=list)
    schools: list[Record] = field(default_factory=list)
    terms: list[Record] = field(default_factory=list)
    courses: list[Record] = field(default_factory=list)
    users: list[Record] = field(default_factory=list)
    sections: list[Record] = field(default_factory=list)
    resources: list[Record] = field(default_factory=list)
    # resource id -> ids of the sections / users it is shared with directly
    resource_sections: dict[str, list[str]] = field(default_factory=dict)
    resource_users: dict[str, list[str]] = field(default_factory=dict)
    demo_logins: list[DemoLogin] = field(default_factory=list)
    # Teachers who installed the app from the Clever Library ("Sign up with Clever"), sharing
    # their own sections: see `_library`.
    library_teachers: list[str] = field(default_factory=list)
    next_serial: int = 0


# --- The enums the seeded students cover (Clever's v3.1 Student definition) -----------------

# fmt: off
GRADES = (
    "InfantToddler", "Preschool", "PreKindergarten", "TransitionalKindergarten", "Kindergarten",
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
    "PostGraduate", "Ungraded", "Other", "",
)
GENDERS = ("M", "F", "X", "")
RACES = (
    "Caucasian", "Asian", "Black or African American", "American Indian",
    "Hawaiian or Other Pacific Islander", "Two or More Races", "Unknown", "",
)
YES_NO = ("Y", "N", "")
FRL_STATUSES = ("Free", "Reduced", "Paid", "Other", "")
# Disability type and code in pairs. The definitions spell the codes in lower case while
# Clever's field reference prints them in upper case; the definitions win here.
DISABILITIES = (
    ("Autism", "aut"), ("Deaf-blindness", "db"), ("Developmental delay", "dd"),
    ("Emotional disturbance", "emn"), ("Hearing impairment", "hi"), ("Intellectual Disability", "id"),
    ("Multiple disabilities", "md"), ("Orthopedic impairment", "oi"), ("Other", "other"),
    ("Other health impairment", "ohi"), ("Specific learning disability", "sld"),
    ("Speech or language impairment", "sli"), ("Traumatic brain injury", "tbi"),
    ("Visual impairment", "vi"),
)
# Home language names with their ISO 639-3 codes, as both appear in the definitions' enums.
HOME_LANGUAGES = (
    ("English", "eng"), ("Spanish", "spa"), ("Mandarin", "cmn"), ("Cantonese", "yue"),
    ("Vietnamese", "vie"), ("Arabic", "ara"), ("Tagalog", "tgl"), ("Korean", "kor"),
    ("Russian", "rus"), ("Haitian Creole", "hat"), ("Portuguese", "por"), ("French", "fra"),
    ("Somali", "som"), ("Hmong", "hmn"), ("Amharic", "amh"), ("Japanese", "jpn"),
    ("Hindi", "hin"), ("Urdu", "urd"), ("Bengali", "ben"), ("Farsi", "fas"),
    ("Polish", "pol"), ("Ukrainian", "ukr"), ("German", "deu"), ("Italian", "ita"),
    ("Swahili", "swa"), ("Tigrinya", "tir"), ("Karen", "kar"), ("Nepali", "nep"),
    ("Punjabi", "pan"), ("Gujarati", "guj"), ("Dari", "prs"), ("Pashto", "pus"),
    ("Burmese", "mya"), ("Khmer", "khm"), ("Thai", "tha"), ("Turkish", "tur"),
    ("Greek", "ell"), ("Hebrew", "heb"), ("Yoruba", "yor"), ("Chinese", "zho"),
    ("Other", "other"),
)
RELATIONSHIPS = ("Parent", "Grandparent", "Self", "Aunt/Uncle", "Sibling", "Other", "")
RELATIONSHIP_TYPES = ("Parent/Guardian", "Emergency", "Primary", "Secondary", "Family", "Other", "")
PHONE_TYPES = ("Cell", "Home", "Work", "Other", "")

_FIRST_NAMES = (
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Isla", "Mateo", "Aria", "Kai", "Nora", "Leo",
    "Amara", "Elijah", "Sofia", "Yusuf", "Mei", "Diego", "Priya", "Owen", "Hana", "Jonah", "Lucia",
    "Omar", "Ruby", "Tariq", "Elena", "Felix", "Imani", "Hugo", "Nadia", "Ravi", "Selma", "Theo",
)
_LAST_NAMES = (
    "Nguyen", "Garcia", "Smith", "Johnson", "Kim", "Patel", "Hernandez", "Okafor", "Müller",
    "Rossi", "Cohen", "Haddad", "Silva", "Kowalski", "Yamamoto", "Brown", "Dubois", "Mensah",
    "Singh", "Larsen", "Novak", "Ortiz", "Ahmed", "Walker", "Tanaka", "Reyes", "Fischer", "Ali",
)
_STREETS = ("Maple Ave", "Oak St", "Cedar Ln", "Birch Rd", "Elm Ct", "Willow Way", "Pine Dr")

# (name, number, subject, grade) of the main district's courses.
_COURSES = (
    ("Algebra I", "MA101", "math", "9"),
    ("English 9", "EN109", "english/language arts", "9"),
    ("Biology", "SC201", "science", "10"),
    ("US History", "SS301", "social studies", "11"),
    ("Spanish I", "WL110", "language", "10"),
    ("Grade 3 Reading", "EL003", "english/language arts", "3"),
    ("Grade 5 Math", "MA005", "math", "5"),
    ("Studio Art", "AR100", "arts and music", "Other"),
    ("Physical Education", "PE100", "PE and health", "Ungraded"),
    ("Computer Science Principles", "CS150", "technology and engineering", "12"),
)
# fmt: on


class _Builder:
    """Hands out ids and timestamps in creation order while the districts are built."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ids = IdMaker.for_seed(seed, SEED_EPOCH, "records")
        self.legacy_ids = IdMaker.for_seed(seed, SEED_EPOCH - timedelta(days=2000), "legacy")
        self.serial = 0
        self.legacy_serial = 0
        self.data = SeedData()

    def new_id(self) -> str:
        value = self.ids.make(self.serial)
        self.serial += 1
        return value

    def legacy_id(self) -> str:
        value = self.legacy_ids.make(self.legacy_serial)
        self.legacy_serial += 1
        return value

    def stamp(self) -> str:
        return iso_timestamp(SEED_EPOCH + timedelta(seconds=self.serial))

    def person_name(self) -> dict[str, str | None]:
        middle = self.rng.choice((None, "", "J", "Marie", "Lee"))
        return {
            "first": self.rng.choice(_FIRST_NAMES),
            "middle": middle,
            "last": self.rng.choice(_LAST_NAMES),
        }

    def user(self, district_id: str, name: dict[str, str | None], email: str | None, roles: Record) -> Record:
        stamp = self.stamp()
        user: Record = {
            "id": self.new_id(),
            "district": district_id,
            "email": email,
            "name": name,
            "created": stamp,
            "last_modified": stamp,
            "lms_status": {"synced_in_lms": self.rng.random() < 0.5},
            "roles": roles,
        }
        self.data.users.append(user)
        return user


def build_districts(seed: int, students: int) -> SeedData:
    """The seeded sandbox: the main demo district (with `students` students) and a small second one.

    With at least 22 students, the main district's students together hold every value of every
    enum of the v3.1 Student definition.
    """
    if students < 0:
        raise ValueError("students must be >= 0")
    builder = _Builder(seed)
    _main_district(builder, students)
    _second_district(builder)
    _library(builder)
    builder.data.next_serial = builder.serial
    return builder.data


def _district(b: _Builder, name: str, slug: str, lms_type: str) -> Record:
    district_id = b.new_id()
    district: Record = {
        "id": district_id,
        "name": name,
        "state": "success",
        "last_sync": iso_timestamp(SEED_EPOCH - timedelta(hours=6)),
        "launch_date": "2024-08-01",
        "login_methods": ["Clever Badges", "Google", "Clever Passwords"],
        "portal_url": f"https://clever.com/in/{slug}",
        "sis_type": "sftp",
        "mdr_number": f"{b.rng.randrange(10**7, 10**8)}",
        "nces_id": f"{b.rng.randrange(10**6, 10**7)}",
        "error": "",
        "pause_start": None,
        "pause_end": None,
        "district_contact": {
            "id": b.legacy_id(),
            "district": district_id,
            "email": f"it@{slug}.example.org",
            "name": {"first": "Pat", "middle": None, "last": "Quinn"},
            "title": "Director of Technology",
        },
        "lms_state": "success" if lms_type else "",
        "lms_type": lms_type,
        "last_attendance_sync": None,
    }
    b.data.districts.append(district)
    return district


def _school(
    b: _Builder, district_id: str, name: str, number: str, grades: tuple[str, str], city: str
) -> Record:
    stamp = b.stamp()
    school: Record = {
        "id": b.new_id(),
        "district": district_id,
        "name": name,
        "school_number": number,
        "sis_id": f"SCH-{number}",
        "state_id": f"ST-{number}",
        "nces_id": f"{b.rng.randrange(10**11, 10**12)}",
        "mdr_number": f"{b.rng.randrange(10**7, 10**8)}",
        "low_grade": grades[0],
        "high_grade": grades[1],
        "phone": f"(555) 010-{b.rng.randrange(1000, 10000)}",
        "principal": {"name": f"{b.rng.choice(_FIRST_NAMES)} {b.rng.choice(_LAST_NAMES)}", "email": None},
        "location": {
            "address": f"{b.rng.randrange(10, 999)} {b.rng.choice(_STREETS)}",
            "city": city,
            "state": "CA",
            "zip": f"9{b.rng.randrange(1000, 10000)}",
            "lat": None,
            "lon": None,
        },
        "created": stamp,
        "last_modified": stamp,
        "ext": {},
    }
    b.data.schools.append(school)
    return school


def _term(b: _Builder, district_id: str, name: str, start: str, end: str) -> Record:
    term: Record = {
        "id": b.new_id(),
        "district": district_id,
        "name": name,
        "start_date": f"{start}T00:00:00.000Z",
        "end_date": f"{end}T00:00:00.000Z",
    }
    b.data.terms.append(term)
    return term


def _course(b: _Builder, district_id: str, name: str, number: str) -> Record:
    course: Record = {"id": b.new_id(), "district": district_id, "name": name, "number": number}
    b.data.courses.append(course)
    return course


def _teacher_role(
    b: _Builder, district_id: str, name: dict[str, str | None], schools: list[str], title: str | None
) -> Record:
    stamp = b.stamp()
    number = f"T{b.rng.randrange(10**5, 10**6)}"
    return {
        "legacy_id": b.legacy_id(),
        "district": district_id,
        "name": dict(name),
        "school": schools[0],
        "schools": list(schools),
        "sis_id": number,
        "state_id": f"S{number}",
        "teacher_number": number,
        "title": title,
        "credentials": {"district_username": f"{name['first']}.{name['last']}".lower()},
        "created": stamp,
        "last_modified": stamp,
        "ext": {},
    }


def _staff_role(
    b: _Builder,
    name: dict[str, str | None],
    schools: list[str],
    roles: list[str],
    title: str,
    department: str,
) -> Record:
    number = f"ST{b.rng.randrange(10**5, 10**6)}"
    return {
        "legacy_id": b.legacy_id(),
        "schools": list(schools),
        "staff_id": number,
        "title": title,
        "department": department,
        "roles": list(roles),
        "credentials": {"district_username": f"{name['first']}.{name['last']}.staff".lower()},
        "ext": {},
    }


def _email(name: dict[str, str | None], domain: str) -> str:
    return f"{name['first']}.{name['last']}@{domain}".lower().replace("ü", "u")


def _student_role(
    b: _Builder, index: int, schools: list[str], school_dates: tuple[str, str], name: dict[str, str | None]
) -> Record:
    """Student `index` of the district; enum values rotate with the index so all of them occur."""
    grade = GRADES[index % len(GRADES)]
    disability_slot = index % (len(DISABILITIES) + 2)
    disability: Record
    if disability_slot < len(DISABILITIES):
        kind, code = DISABILITIES[disability_slot]
        disability = {"disability_status": "Y", "disability_type": kind, "disability_code": code}
    else:
        status = "N" if disability_slot == len(DISABILITIES) else ""
        disability = {"disability_status": status, "disability_type": None, "disability_code": None}
    language, language_code = HOME_LANGUAGES[index % len(HOME_LANGUAGES)]
    number = f"{100000 + index}"
    stamp = b.stamp()
    birth_year = 2019 - (index % len(GRADES)) // 2
    role: Record = {
        "legacy_id": b.legacy_id(),
        "school": schools[0],
        "schools": list(schools),
        "enrollments": [
            {"school": school, "start_date": school_dates[0], "end_date": school_dates[1]}
            for school in schools
        ],
        "sis_id": f"SIS{number}",
        "state_id": f"CA{number}",
        "student_number": number,
        "credentials": {"district_username": f"{name['first']}{number}".lower()},
        "dob": f"{b.rng.randrange(1, 13)}/{b.rng.randrange(1, 29)}/{birth_year}",
        "gender": GENDERS[index % len(GENDERS)],
        "grade": grade,
        "graduation_year": str(birth_year + 18),
        "hispanic_ethnicity": YES_NO[index % len(YES_NO)],
        "race": RACES[(index + 3) % len(RACES)],
        "ell_status": YES_NO[(index + 1) % len(YES_NO)],
        "gifted_status": YES_NO[(index + 2) % len(YES_NO)],
        "section_504_status": YES_NO[(index // 3) % len(YES_NO)],
        "frl_status": FRL_STATUSES[index % len(FRL_STATUSES)],
        "iep_status": YES_NO[(index // 2) % len(YES_NO)],
        "disability": disability,
        "home_language": language,
        "home_language_code": language_code,
        "location": {
            "address": f"{b.rng.randrange(10, 9999)} {b.rng.choice(_STREETS)}",
            "city": "Maple Valley",
            "state": "CA",
            "zip": f"9{b.rng.randrange(1000, 10000)}",
            "lat": None,
            "lon": None,
        },
        "created": stamp,
        "last_modified": stamp,
        "ext": {},
    }
    if index % 3 == 1:
        role["preferred_name"] = {"first": f"{name['first']}y", "middle": None, "last": name["last"]}
    return role


def _section(
    b: _Builder,
    *,
    district_id: str,
    school_id: str,
    course: Record | None,
    term_id: str | None,
    subject: str,
    grade: str,
    period: str,
    teachers: list[Record],
    students: list[str],
    name: str | None = None,
) -> Record:
    stamp = b.stamp()
    number = f"{len(b.data.sections) + 1:04d}"
    lead = teachers[0] if teachers else None
    if name is None:
        parts = [course["name"] if course else "Section", lead["name"]["last"] if lead else "", period]
        name = " - ".join(part for part in parts if part)
    section: Record = {
        "id": b.new_id(),
        "district": district_id,
        "school": school_id,
        "course": course["id"] if course else None,
        "term_id": term_id,
        "name": name,
        "period": period,
        "section_number": number,
        "sis_id": f"SEC{number}",
        "subject": subject,
        "grade": grade,
        "teacher": lead["id"] if lead else None,
        "teachers": [teacher["id"] for teacher in teachers],
        "students": students,
        "created": stamp,
        "last_modified": stamp,
        "ext": {},
        "lms_status": {"synced_in_lms": b.rng.random() < 0.5},
    }
    b.data.sections.append(section)
    return section


def _resource(b: _Builder, district_id: str, resource_id: str, title: str, roles: list[str]) -> Record:
    stamp = b.stamp()
    resource: Record = {
        "id": b.new_id(),
        "district": district_id,
        "resource_id": resource_id,
        "title": title,
        "roles": roles,
        "created": stamp,
        "updated": stamp,
    }
    b.data.resources.append(resource)
    return resource


def _label(user: Record, what: str) -> str:
    name = user["name"]
    return f"{name['first']} {name['last']} ({what})"


def _main_district(b: _Builder, student_count: int) -> None:
    district = _district(b, "#DEMO Maple Valley Unified", "demo-maple-valley", "canvas")
    did = district["id"]
    domain = "maplevalley.example.org"
    elementary = _school(
        b, did, "#DEMO Maple Valley Elementary", "101", ("Kindergarten", "8"), "Maple Valley"
    )
    high = _school(b, did, "#DEMO Maple Valley High", "201", ("9", "12"), "Maple Valley")
    school_ids = [elementary["id"], high["id"]]
    fall = _term(b, did, "2025-26 Fall Semester", "2025-08-18", "2025-12-19")
    spring = _term(b, did, "2025-26 Spring Semester", "2026-01-06", "2026-06-05")
    courses = [_course(b, did, name, number) for name, number, _, _ in _COURSES]

    def staff_person(first: str, last: str) -> dict[str, str | None]:
        return {"first": first, "middle": None, "last": last}

    # Named teachers first; more are added for large districts so sections stay a normal size.
    rivera_name = staff_person("Elena", "Rivera")
    rivera = b.user(
        did,
        rivera_name,
        _email(rivera_name, domain),
        {
            "teacher": _teacher_role(b, did, rivera_name, [elementary["id"]], "Grade 3 Teacher"),
        },
    )
    okafor_name = staff_person("Daniel", "Okafor")
    okafor = b.user(
        did,
        okafor_name,
        _email(okafor_name, domain),
        {
            "teacher": _teacher_role(b, did, okafor_name, [high["id"]], "Mathematics Teacher"),
        },
    )
    chen_name = staff_person("Grace", "Chen")
    chen = b.user(
        did,
        chen_name,
        _email(chen_name, domain),
        {
            "teacher": _teacher_role(b, did, chen_name, [high["id"], elementary["id"]], None),
        },
    )
    # One person who is both teacher and staff: one user id, a legacy id per role.
    whitfield_name = staff_person("Dana", "Whitfield")
    whitfield = b.user(
        did,
        whitfield_name,
        _email(whitfield_name, domain),
        {
            "teacher": _teacher_role(b, did, whitfield_name, [high["id"]], "Science Teacher"),
            "staff": _staff_role(
                b, whitfield_name, school_ids, ["PortalOnly"], "Science Department Chair", "Science"
            ),
        },
    )
    # A teacher with no sections and no email.
    brooks_name = staff_person("Morgan", "Brooks")
    brooks = b.user(
        did,
        brooks_name,
        None,
        {
            "teacher": _teacher_role(b, did, brooks_name, [elementary["id"]], "Substitute Teacher"),
        },
    )
    tech_name = staff_person("Sam", "Patel")
    tech_lead = b.user(
        did,
        tech_name,
        _email(tech_name, domain),
        {
            "staff": _staff_role(
                b, tech_name, school_ids, ["SchoolTechLead"], "Technology Coordinator", "IT"
            ),
        },
    )
    # A staff member with no schools at all.
    aide_name = staff_person("Jordan", "Lee")
    aide = b.user(
        did,
        aide_name,
        _email(aide_name, domain),
        {
            "staff": _staff_role(b, aide_name, [], ["PortalOnly"], "Library Aide", "Library"),
        },
    )
    admin_name = staff_person("Alex", "Morgan")
    admin = b.user(
        did,
        admin_name,
        _email(admin_name, domain),
        {
            "district_admin": {"legacy_id": b.legacy_id(), "title": "Superintendent"},
        },
    )

    extra_teachers = []
    for index in range(max(0, student_count // 100 - 4)):
        name = b.person_name()
        school = school_ids[index % 2]
        extra_teachers.append(
            b.user(
                did,
                name,
                f"teacher{index}@{domain}",
                {
                    "teacher": _teacher_role(b, did, name, [school], "Teacher"),
                },
            )
        )

    dates = ("2025-08-18T00:00:00.000Z", "2026-06-05T00:00:00.000Z")
    student_users: list[Record] = []
    for index in range(student_count):
        name = b.person_name()
        grade = GRADES[index % len(GRADES)]
        secondary = grade in ("9", "10", "11", "12", "13", "PostGraduate")
        schools = [high["id"]] if secondary else [elementary["id"]]
        if index % 11 == 5:
            schools.append(high["id"] if not secondary else elementary["id"])
        email = None if index % 4 == 3 else f"{name['first']}.{name['last']}{index}@students.{domain}"
        role = _student_role(b, index, schools, dates, name)
        student_users.append(b.user(did, name, email and email.lower().replace("ü", "u"), {"student": role}))

    # Contacts, each linked to several students; together they use every relationship and type.
    contacts: list[Record] = []
    if student_users:
        link_index = 0
        for position, (first, last) in enumerate(
            (("Maria", "Garcia"), ("Robert", "Kim"), ("Aisha", "Mensah"), ("Tom", "Novak"))
        ):
            name = staff_person(first, last)
            links: list[Record] = []
            for offset in range(3 if position < 3 else 2):
                student = student_users[(position * 5 + offset * 2) % len(student_users)]
                if any(link["student"] == student["id"] for link in links):
                    continue
                links.append(
                    {
                        "student": student["id"],
                        "relationship": RELATIONSHIPS[link_index % len(RELATIONSHIPS)],
                        "type": RELATIONSHIP_TYPES[link_index % len(RELATIONSHIP_TYPES)],
                    }
                )
                link_index += 1
            contacts.append(
                b.user(
                    did,
                    name,
                    _email(name, "home.example.com") if position != 3 else None,
                    {
                        "contact": {
                            "legacy_id": b.legacy_id(),
                            "sis_id": f"C{1000 + position}",
                            "phone": f"(555) 020-{1000 + position}",
                            "phone_type": PHONE_TYPES[position % len(PHONE_TYPES)],
                            "student_relationships": links,
                        },
                    },
                )
            )

    # Sections: each student joins two (a couple of students join none), periods rotate.
    teaching = [okafor, chen, whitfield, rivera, *extra_teachers]
    section_count = max(8, student_count // 12)
    rosters: list[list[str]] = [[] for _ in range(section_count)]
    for index, student in enumerate(student_users):
        if index in (student_count - 1, 7):
            continue  # students in no section
        rosters[index % section_count].append(student["id"])
        second = (index + 3) % section_count
        if student["id"] not in rosters[second]:
            rosters[second].append(student["id"])
    sections: list[Record] = []
    for index in range(section_count):
        if index == 0:
            # A homeroom: no course and no term, as Clever allows.
            sections.append(
                _section(
                    b,
                    district_id=did,
                    school_id=elementary["id"],
                    course=None,
                    term_id=None,
                    subject="homeroom/advisory",
                    grade="3",
                    period="HR",
                    teachers=[rivera],
                    students=rosters[0],
                    name="Homeroom 3B - Rivera",
                )
            )
            continue
        _, _, subject, grade = _COURSES[index % len(_COURSES)]
        course = courses[index % len(courses)]
        lead = teaching[index % len(teaching)]
        co_teachers = [whitfield] if index == 1 else []
        school = lead["roles"]["teacher"]["school"]
        sections.append(
            _section(
                b,
                district_id=did,
                school_id=school,
                course=course,
                term_id=(fall if index % 2 else spring)["id"],
                subject=subject,
                grade=grade,
                period=str(index % 7 + 1),
                teachers=[lead, *co_teachers],
                students=rosters[index],
            )
        )

    reading = _resource(b, did, "demo-reading-lab", "Reading Lab", ["student", "teacher"])
    math_practice = _resource(b, did, "demo-math-practice", "Math Practice", ["student", "teacher"])
    gradebook = _resource(b, did, "demo-teacher-gradebook", "Teacher Gradebook", ["teacher"])
    quiz = _resource(b, did, "demo-quiz-player", "Quiz Player", ["student"])
    admin_console = _resource(b, did, "demo-admin-console", "Admin Console", ["teacher"])
    b.data.resource_sections[reading["id"]] = [s["id"] for s in sections if s["subject"] != "math"][:4]
    b.data.resource_sections[math_practice["id"]] = [s["id"] for s in sections if s["subject"] == "math"]
    b.data.resource_sections[gradebook["id"]] = [s["id"] for s in sections[:3]]
    b.data.resource_sections[quiz["id"]] = [s["id"] for s in sections[1:4]]
    b.data.resource_users[admin_console["id"]] = [tech_lead["id"], admin["id"]]
    if student_users:
        b.data.resource_users[reading["id"]] = [student_users[0]["id"]]

    logins = b.data.demo_logins
    for student in student_users[:3]:
        logins.append(DemoLogin(student["id"], _label(student, "student"), did, "student"))
    logins += [
        DemoLogin(okafor["id"], _label(okafor, "teacher"), did, "teacher"),
        DemoLogin(rivera["id"], _label(rivera, "teacher"), did, "teacher"),
        DemoLogin(whitfield["id"], _label(whitfield, "teacher and staff, as teacher"), did, "teacher"),
        DemoLogin(whitfield["id"], _label(whitfield, "teacher and staff, as staff"), did, "staff"),
        DemoLogin(brooks["id"], _label(brooks, "teacher, no sections"), did, "teacher"),
        DemoLogin(tech_lead["id"], _label(tech_lead, "staff, SchoolTechLead"), did, "staff"),
        DemoLogin(aide["id"], _label(aide, "staff, PortalOnly, no schools"), did, "staff"),
        DemoLogin(admin["id"], _label(admin, "district admin"), did, "district_admin"),
    ]
    logins += [DemoLogin(c["id"], _label(c, "contact"), did, "contact") for c in contacts[:2]]
    # A teacher of a connected district who also installed the app from the Library: the
    # district connection takes precedence for her logins.
    b.data.library_teachers.append(rivera["id"])


def _second_district(b: _Builder) -> None:
    district = _district(b, "#DEMO Lakeside Charter", "demo-lakeside", "")
    did = district["id"]
    school = _school(b, did, "#DEMO Lakeside Academy", "301", ("6", "8"), "Lakeside")
    term = _term(b, did, "2025-26 School Year", "2025-08-25", "2026-06-12")
    course = _course(b, did, "Science 7", "SCI7")
    name = {"first": "Ruth", "middle": None, "last": "Adeyemi"}
    teacher = b.user(
        did,
        name,
        _email(name, "lakeside.example.org"),
        {
            "teacher": _teacher_role(b, did, name, [school["id"]], "Science Teacher"),
        },
    )
    dates = ("2025-08-25T00:00:00.000Z", "2026-06-12T00:00:00.000Z")
    students = []
    for index in range(2):
        student_name = b.person_name()
        role = _student_role(b, 12 + index, [school["id"]], dates, student_name)
        students.append(b.user(did, student_name, None, {"student": role}))
    _section(
        b,
        district_id=did,
        school_id=school["id"],
        course=course,
        term_id=term["id"],
        subject="science",
        grade="7",
        period="2",
        teachers=[teacher],
        students=[s["id"] for s in students],
    )
    b.data.demo_logins += [
        DemoLogin(teacher["id"], _label(teacher, "teacher, second district"), did, "teacher"),
        DemoLogin(students[0]["id"], _label(students[0], "student, second district"), did, "student"),
    ]


def _library(b: _Builder) -> None:
    """Clever Library people: teachers of a school whose district has not connected the app, who
    installed it themselves and so share their own sections; the students of those sections.

    Their district has no record here and no district-app token: the app sees it only through
    the teachers' own tokens. Among them: a student of two Library teachers, a Library teacher
    with no sections, and a section whose teacher did not install the app (not shared).
    """
    did = b.new_id()  # the teachers' real district, never connected to the app
    school = _school(b, did, "#DEMO Cedar Ridge Middle", "401", ("6", "8"), "Cedar Ridge")
    term = _term(b, did, "2025-26 School Year", "2025-08-20", "2026-06-05")
    domain = "cedarridge.example.org"
    dates = ("2025-08-20T00:00:00.000Z", "2026-06-05T00:00:00.000Z")

    def teacher(first: str, last: str, title: str) -> Record:
        name = {"first": first, "middle": None, "last": last}
        return b.user(
            did, name, _email(name, domain), {"teacher": _teacher_role(b, did, name, [school["id"]], title)}
        )

    patel = teacher("Nina", "Patel", "Math Teacher")
    moreau = teacher("Luc", "Moreau", "Art Teacher")
    lindqvist = teacher("Sara", "Lindqvist", "Reading Specialist")  # installed, teaches nothing
    ortiz = teacher("Diego", "Ortiz", "Music Teacher")  # never installed the app
    students = []
    for index in range(4):
        student_name = b.person_name()
        role = _student_role(b, 14 + index, [school["id"]], dates, student_name)
        students.append(b.user(did, student_name, None, {"student": role}))
    ids = [student["id"] for student in students]
    for lead, subject, period, enrolled in (
        (patel, "math", "1", ids[:3]),
        (moreau, "arts and music", "3", [ids[0], ids[3]]),
        (ortiz, "arts and music", "5", [ids[0], ids[1]]),
    ):
        _section(
            b,
            district_id=did,
            school_id=school["id"],
            course=None,
            term_id=term["id"],
            subject=subject,
            grade="7",
            period=period,
            teachers=[lead],
            students=enrolled,
        )
    b.data.library_teachers += [patel["id"], moreau["id"], lindqvist["id"]]
    b.data.demo_logins += [
        DemoLogin(patel["id"], _label(patel, "Library teacher"), "", "teacher"),
        DemoLogin(moreau["id"], _label(moreau, "Library teacher"), "", "teacher"),
        DemoLogin(lindqvist["id"], _label(lindqvist, "Library teacher, no sections"), "", "teacher"),
        DemoLogin(
            students[0]["id"], _label(students[0], "Library student, two Library teachers"), "", "student"
        ),
        DemoLogin(students[2]["id"], _label(students[2], "Library student"), "", "student"),
    ]
