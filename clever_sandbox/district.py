"""The sandbox's seeded demo districts, built as plain v3.1-shaped records.

Everything here is a pure function of `(seed, students)`: the same arguments give the same ids,
names and links. Ids look like Clever's (24 lowercase hex digits, as MongoDB ObjectIds) and
grow with creation order, so sorting by id is sorting by creation, which is how the Data API
pages. The ids a running sandbox hands out later continue from `SeedData.next_serial`.
"""

from __future__ import annotations

import random
from collections.abc import Collection
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


@dataclass(slots=True)
class IdSequence:
    """The ids of `maker` in serial order; `serial` is the next one's."""

    maker: IdMaker
    serial: int = 0

    def next(self) -> str:
        value = self.maker.make(self.serial)
        self.serial += 1
        return value


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

# First names by the gender a student's record gives (M, F; X and unknown draw from all), each
# with the short form some go by (their `preferred_name`), or None.
_GIRLS_NAMES = (
    ("Ava", None), ("Maya", None), ("Zoe", None), ("Isabella", "Bella"), ("Aria", None),
    ("Nora", None), ("Amara", "Mara"), ("Sofia", "Sofi"), ("Mei", None), ("Priya", None),
    ("Hana", None), ("Lucia", None), ("Ruby", None), ("Elena", "Lena"), ("Imani", None),
    ("Katherine", "Kate"), ("Natalia", "Talia"), ("Margaret", "Maggie"),
)
_BOYS_NAMES = (
    ("Liam", None), ("Noah", None), ("Ethan", None), ("Mateo", "Teo"), ("Leo", None),
    ("Elijah", "Eli"), ("Yusuf", None), ("Diego", None), ("Owen", None), ("Jonah", None),
    ("Omar", None), ("Tariq", None), ("Felix", None), ("Benjamin", "Ben"), ("Ravi", None),
    ("Theodore", "Theo"), ("Nicholas", "Nico"), ("William", "Will"),
)
_ANY_NAMES = (
    ("Alexis", "Lexi"), ("Avery", None), ("Cameron", "Cam"), ("Emery", None), ("Kai", None),
    ("Quinn", None), ("Riley", None), ("Rowan", None), ("Sasha", None), ("Jessie", "Jess"),
)
_MIDDLE_NAMES = {
    "F": (None, "", "Marie", "Rose", "J"),
    "M": (None, "", "James", "Lee", "J"),
    "X": (None, "", "J", "Lee"),
}
_LAST_NAMES = (
    "Nguyen", "Garcia", "Smith", "Johnson", "Kim", "Patel", "Hernandez", "Okafor", "Müller",
    "Rossi", "Cohen", "Haddad", "Silva", "Kowalski", "Yamamoto", "Brown", "Dubois", "Mensah",
    "Singh", "Larsen", "Novak", "Ortiz", "Ahmed", "Walker", "Tanaka", "Reyes", "Fischer", "Ali",
)
_STREETS = ("Maple Ave", "Oak St", "Cedar Ln", "Birch Rd", "Elm Ct", "Willow Way", "Pine Dr")

# The grades of the main district's students, in turn: the common ones first (the picker shows
# the first students), every value of the enum within any 22 students in a row.
_GRADE_TURNS = (
    "9", "3", "11", "10", "5", "12", "Kindergarten", "1", "2", "4", "6", "7", "8", "13",
    "PostGraduate", "Ungraded", "Other", "", "TransitionalKindergarten", "PreKindergarten",
    "Preschool", "InfantToddler",
)
# Age on the first day of the school year, by grade; grades that say nothing of age get a middle one.
_AGES = {
    "InfantToddler": 2, "Preschool": 3, "PreKindergarten": 4, "TransitionalKindergarten": 5,
    "Kindergarten": 5, **{str(n): n + 5 for n in range(1, 14)}, "PostGraduate": 19,
    "Other": 9, "Ungraded": 16,
}
_SCHOOL_YEAR_START = (2025, 9)  # the seeded year is 2025-26
# Which of the main district's schools a grade attends.
_EARLY_GRADES = ("InfantToddler", "Preschool", "PreKindergarten", "TransitionalKindergarten")
_HIGH_GRADES = ("9", "10", "11", "12", "13", "PostGraduate", "Ungraded", "")
# A section of one of these grades takes students of any grade of its school.
_MIXED_GRADES = ("Other", "Ungraded")

# The main district's courses: (name, number, subject, grade).
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
    ("Library Skills", "LB100", "other", "Other"),
)
# The main district's sections, in order: (course name or None for the homeroom, school, period,
# lead teacher, co-teacher). A teacher teaches one section a period; subject and grade are the
# course's. Large districts repeat the list, led by their extra teachers of the same school.
_SECTIONS = (
    (None, "elementary", "HR", "rivera", None),
    ("Algebra I", "high", "1", "okafor", None),
    ("English 9", "high", "2", "chen", None),
    ("Biology", "high", "3", "whitfield", "okafor"),
    ("US History", "high", "4", "chen", None),
    ("Grade 3 Reading", "elementary", "1", "rivera", None),
    ("Grade 5 Math", "elementary", "1", "chen", None),
    ("Spanish I", "high", "5", "chen", None),
    ("Computer Science Principles", "high", "6", "okafor", None),
    ("Studio Art", "high", "6", "whitfield", None),
    ("Physical Education", "high", "7", "okafor", None),
    ("Library Skills", "elementary", "2", "rivera", None),
)
# How each contact is related to the students they are linked to: (index of the student among the
# main district's, relationship, type). "Self" (an adult student who is their own contact) is in
# the enum but never a contact's link to someone else. Parents and grandparents share the
# children's last name, as do siblings.
_CONTACTS = (
    ("Maria", "Garcia", (
        (0, "Parent", "Parent/Guardian"), (4, "Parent", "Primary"), (8, "Parent", "Parent/Guardian"),
    )),
    ("Robert", "Kim", (
        (1, "Grandparent", "Emergency"), (9, "Grandparent", "Secondary"), (12, "Grandparent", "Family"),
    )),
    ("Aisha", "Mensah", (
        (2, "Aunt/Uncle", "Family"), (5, "Other", "Other"), (10, "Aunt/Uncle", "Emergency"),
    )),
    ("Tom", "Novak", ((3, "Sibling", "Emergency"), (6, "", ""))),
)
_SHARES_LAST_NAME = ("Parent", "Grandparent", "Sibling")
# fmt: on


def grade_label(grade: str) -> str:
    """How a person would say the grade: "Grade 9", "Kindergarten", "Ungraded"."""
    return f"Grade {grade}" if grade.isdigit() else grade or "no grade"


class _Builder:
    """Hands out ids and timestamps in creation order while the districts are built."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ids = IdSequence(IdMaker.for_seed(seed, SEED_EPOCH, "records"))
        self.legacy_ids = IdSequence(IdMaker.for_seed(seed, SEED_EPOCH - timedelta(days=2000), "legacy"))
        self.data = SeedData()

    def new_id(self) -> str:
        return self.ids.next()

    def legacy_id(self) -> str:
        return self.legacy_ids.next()

    def stamp(self) -> str:
        return iso_timestamp(SEED_EPOCH + timedelta(seconds=self.ids.serial))

    def person_name(
        self, gender: str = "", last: str | None = None, taken: Collection[str] = ()
    ) -> tuple[dict[str, str | None], str | None]:
        """A name that fits `gender` (a record's M, F, X or ""), with a first name not in `taken`
        (a sibling's), and the short form of that first name, if it has one."""
        names = {"F": _GIRLS_NAMES, "M": _BOYS_NAMES, "X": _ANY_NAMES}.get(
            gender, _GIRLS_NAMES + _BOYS_NAMES + _ANY_NAMES
        )
        first, short = self.rng.choice([choice for choice in names if choice[0] not in taken])
        middle = self.rng.choice(_MIDDLE_NAMES.get(gender, _MIDDLE_NAMES["X"]))
        return {"first": first, "middle": middle, "last": last or self.rng.choice(_LAST_NAMES)}, short

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
    _mixed_roles(builder)
    builder.data.next_serial = builder.ids.serial
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


def _location(b: _Builder, city: str, *, house_numbers: int) -> Record:
    """A made-up street address in `city`, California, with a house number below `house_numbers`."""
    return {
        "address": f"{b.rng.randrange(10, house_numbers)} {b.rng.choice(_STREETS)}",
        "city": city,
        "state": "CA",
        "zip": f"9{b.rng.randrange(1000, 10000)}",
        "lat": None,
        "lon": None,
    }


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
        "principal": {"name": _full_name(b.person_name()[0]), "email": None},
        "location": _location(b, city, house_numbers=999),
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


@dataclass(frozen=True, slots=True)
class _Staff:
    """A staff role: its schools, Clever's staff roles (SchoolTechLead, PortalOnly, ...), title
    and department."""

    schools: list[str]
    roles: list[str]
    title: str
    department: str


def _staff_role(b: _Builder, name: dict[str, str | None], staff: _Staff) -> Record:
    number = f"ST{b.rng.randrange(10**5, 10**6)}"
    return {
        "legacy_id": b.legacy_id(),
        "schools": list(staff.schools),
        "staff_id": number,
        "title": staff.title,
        "department": staff.department,
        "roles": list(staff.roles),
        "credentials": {"district_username": f"{name['first']}.{name['last']}.staff".lower()},
        "ext": {},
    }


def _employee(
    b: _Builder,
    district_id: str,
    name: dict[str, str | None],
    email: str | None,
    *,
    teaches: list[str] | None = None,
    title: str | None = None,
    staff: _Staff | None = None,
    admin_title: str | None = None,
) -> Record:
    """A teacher of the schools `teaches` (titled `title`), a staff member, a district admin
    (titled `admin_title`), or several of these: one user id, a legacy id per role. The teacher
    role is built first, then the staff role, then the admin role, then the user, the order the
    seeded ids and random draws follow."""
    roles: Record = {}
    if teaches is not None:
        roles["teacher"] = _teacher_role(b, district_id, name, teaches, title)
    if staff is not None:
        roles["staff"] = _staff_role(b, name, staff)
    if admin_title is not None:
        roles["district_admin"] = {"legacy_id": b.legacy_id(), "title": admin_title}
    return b.user(district_id, name, email, roles)


def _adult_name(first: str, last: str) -> dict[str, str | None]:
    """A named staff member's or contact's name: the seeded adults have no middle name."""
    return {"first": first, "middle": None, "last": last}


def _full_name(name: dict[str, str | None]) -> str:
    return " ".join(part for part in (name["first"], name["middle"], name["last"]) if part)


def _email(name: dict[str, str | None], domain: str) -> str:
    return f"{name['first']}.{name['last']}@{domain}".lower().replace("ü", "u")


def _student(
    b: _Builder,
    district_id: str,
    index: int,
    *,
    name: dict[str, str | None],
    short_name: str | None,
    email: str | None,
    grade: str,
    gender: str,
    schools: list[str],
    school_dates: tuple[str, str],
) -> Record:
    """Student `index` of the district, as a user; enum values rotate with the index so all of
    them occur. Birth date and graduation year follow the grade."""
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
    age = _AGES.get(grade, 15)
    year, start_month = _SCHOOL_YEAR_START
    month, day = b.rng.randrange(1, 13), b.rng.randrange(1, 29)
    # `age` on the first day of the school year: born in the year before the one that makes
    # it when the birthday falls after that day.
    birth_year = year - age - (1 if month >= start_month else 0)
    # A 12th grader graduates at the end of this school year, a 9th grader three years later;
    # a post-graduate student already has.
    graduation_year = year if grade == "PostGraduate" else year + 1 + max(0, 17 - age)
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
        "dob": f"{month}/{day}/{birth_year}",
        "gender": gender,
        "grade": grade,
        "graduation_year": str(graduation_year),
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
        "location": _location(b, "Maple Valley", house_numbers=9999),
        "created": stamp,
        "last_modified": stamp,
        "ext": {},
    }
    if short_name is not None:
        role["preferred_name"] = {"first": short_name, "middle": None, "last": name["last"]}
    return b.user(district_id, name, email, {"student": role})


def _seventh_graders(
    b: _Builder,
    district_id: str,
    school_id: str,
    school_dates: tuple[str, str],
    *,
    first_index: int,
    count: int,
    preferred_names: bool,
) -> list[Record]:
    """The students of a small school: grade 7, no email, students `first_index` on of the
    enum rotation (see `_student`)."""
    students: list[Record] = []
    for turn in range(count):
        gender = GENDERS[turn % len(GENDERS)]
        name, short = b.person_name(gender)
        students.append(
            _student(
                b,
                district_id,
                first_index + turn,
                name=name,
                short_name=short if preferred_names else None,
                email=None,
                grade="7",
                gender=gender,
                schools=[school_id],
                school_dates=school_dates,
            )
        )
    return students


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
        parts = [
            course["name"] if course else "Section",
            f"Period {period}",
            lead["name"]["last"] if lead else "",
        ]
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


def _rotated(items: list[int], by: int) -> list[int]:
    if not items:
        return []
    by %= len(items)
    return items[by:] + items[:by]


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
    high = _school(b, did, "#DEMO Maple Valley High", "201", ("9", "PostGraduate"), "Maple Valley")
    early = _school(
        b,
        did,
        "#DEMO Maple Valley Early Learning Center",
        "051",
        ("InfantToddler", "TransitionalKindergarten"),
        "Maple Valley",
    )
    school_ids = [elementary["id"], high["id"], early["id"]]
    schools = {"elementary": elementary, "high": high, "early": early}
    fall = _term(b, did, "2025-26 Fall Semester", "2025-08-18", "2025-12-19")
    spring = _term(b, did, "2025-26 Spring Semester", "2026-01-06", "2026-06-05")
    courses = [_course(b, did, name, number) for name, number, _, _ in _COURSES]

    # Named teachers first; more are added for large districts so sections stay a normal size.
    rivera_name = _adult_name("Elena", "Rivera")
    rivera = _employee(
        b, did, rivera_name, _email(rivera_name, domain), teaches=[elementary["id"]], title="Grade 3 Teacher"
    )
    okafor_name = _adult_name("Daniel", "Okafor")
    okafor = _employee(
        b, did, okafor_name, _email(okafor_name, domain), teaches=[high["id"]], title="Mathematics Teacher"
    )
    chen_name = _adult_name("Grace", "Chen")
    chen = _employee(b, did, chen_name, _email(chen_name, domain), teaches=[high["id"], elementary["id"]])
    # One person who is both teacher and staff: one user id, a legacy id per role.
    whitfield_name = _adult_name("Dana", "Whitfield")
    whitfield = _employee(
        b,
        did,
        whitfield_name,
        _email(whitfield_name, domain),
        teaches=[high["id"]],
        title="Science Teacher",
        staff=_Staff([high["id"]], ["PortalOnly"], "Science Department Chair", "Science"),
    )
    # A teacher with no sections and no email.
    brooks = _employee(
        b, did, _adult_name("Morgan", "Brooks"), None, teaches=[elementary["id"]], title="Substitute Teacher"
    )
    tech_name = _adult_name("Sam", "Patel")
    tech_lead = _employee(
        b,
        did,
        tech_name,
        _email(tech_name, domain),
        staff=_Staff(school_ids, ["SchoolTechLead"], "Technology Coordinator", "IT"),
    )
    # A staff member with no schools at all.
    aide_name = _adult_name("Jordan", "Lee")
    aide = _employee(
        b,
        did,
        aide_name,
        _email(aide_name, domain),
        staff=_Staff([], ["PortalOnly"], "Library Aide", "Library"),
    )
    admin_name = _adult_name("Alex", "Morgan")
    admin = b.user(
        did,
        admin_name,
        _email(admin_name, domain),
        {"district_admin": {"legacy_id": b.legacy_id(), "title": "Superintendent"}},
    )

    extra_teachers: dict[str, list[Record]] = {"elementary": [], "high": []}
    for index in range(max(0, student_count // 100 - 4)):
        name, _ = b.person_name()
        where = ("elementary", "high")[index % 2]
        extra_teachers[where].append(
            _employee(
                b, did, name, f"teacher{index}@{domain}", teaches=[schools[where]["id"]], title="Teacher"
            )
        )

    # Families first: the students a parent, grandparent or sibling is linked to share their
    # last name.
    family_names = {
        position % student_count: last
        for _, last, links in _CONTACTS
        for position, relationship, _ in links
        if relationship in _SHARES_LAST_NAME and student_count
    }
    dates = ("2025-08-18T00:00:00.000Z", "2026-06-05T00:00:00.000Z")
    student_users: list[Record] = []
    family_firsts: dict[str, list[str]] = {}
    for index in range(student_count):
        grade = _GRADE_TURNS[index % len(_GRADE_TURNS)]
        gender = GENDERS[index % len(GENDERS)]
        family = family_names.get(index)
        siblings = family_firsts.setdefault(family, []) if family else []
        name, short = b.person_name(gender, family, siblings)
        siblings.append(str(name["first"]))
        where = "early" if grade in _EARLY_GRADES else "high" if grade in _HIGH_GRADES else "elementary"
        enrolled = [schools[where]["id"]]
        if grade == "8" and index % 2 == 0:
            enrolled.append(high["id"])  # an eighth grader who also takes a class at the high school
        email = None if index % 4 == 3 else f"{name['first']}.{name['last']}{index}@students.{domain}"
        student_users.append(
            _student(
                b,
                did,
                index,
                name=name,
                short_name=short if index % 3 == 1 else None,
                email=email and email.lower().replace("ü", "u"),
                grade=grade,
                gender=gender,
                schools=enrolled,
                school_dates=dates,
            )
        )

    # Contacts, each linked to several students; together they use every relationship but
    # "Self" and every type.
    contacts: list[Record] = []
    if student_users:
        for position, (first, last, link_specs) in enumerate(_CONTACTS):
            name = _adult_name(first, last)
            links: list[Record] = []
            for student_index, relationship, kind in link_specs:
                student = student_users[student_index % len(student_users)]
                if any(link["student"] == student["id"] for link in links):
                    continue
                links.append({"student": student["id"], "relationship": relationship, "type": kind})
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

    # Sections: the list above, repeated for large districts so sections stay a normal size.
    named = {"rivera": rivera, "okafor": okafor, "chen": chen, "whitfield": whitfield}
    courses_by_name = {course["name"]: course for course in courses}
    plans = {name: (subject, grade) for name, _, subject, grade in _COURSES}
    section_count = max(len(_SECTIONS), student_count // 12)
    planned: list[tuple[Record | None, Record, str, str, str, list[Record]]] = []
    for index in range(section_count):
        course_name, where, period, lead_key, co_key = _SECTIONS[index % len(_SECTIONS)]
        lead = named[lead_key]
        co_teachers = [named[co_key]] if co_key else []
        turn = index // len(_SECTIONS)
        if turn and extra_teachers.get(where):
            pool = extra_teachers[where]
            lead, co_teachers = pool[(turn - 1 + index) % len(pool)], []
        course = courses_by_name[course_name] if course_name else None
        subject, grade = plans[course_name] if course_name else ("homeroom/advisory", "3")
        planned.append((course, schools[where], subject, grade, period, [lead, *co_teachers]))

    # Each student joins up to two sections of their school and grade (or of mixed grades), at
    # different periods; students whose grade has none (the early learners) join none.
    open_to: dict[tuple[str, str], list[int]] = {}
    for index, (_, school, _, grade, _, _) in enumerate(planned):
        if grade not in _MIXED_GRADES:
            open_to.setdefault((school["id"], grade), []).append(index)
    mixed = {
        school["id"]: [i for i, plan in enumerate(planned) if plan[1] is school and plan[3] in _MIXED_GRADES]
        for school in schools.values()
    }
    rosters: list[list[str]] = [[] for _ in planned]
    joined: dict[tuple[str, str], int] = {}
    for student in student_users:
        role = student["roles"]["student"]
        key = (role["school"], role["grade"])
        turn = joined.get(key, 0)
        joined[key] = turn + 1
        # Sections of their own grade first, then the mixed ones, each list rotated so that
        # the students of a grade spread over all its sections.
        order = _rotated(open_to.get(key, []), turn) + _rotated(mixed[role["school"]], turn)
        if not order:
            continue
        rosters[order[0]].append(student["id"])
        period = planned[order[0]][4]
        other = next((i for i in order[1:] if planned[i][4] != period), None)
        if other is not None:
            rosters[other].append(student["id"])

    sections: list[Record] = []
    for index, (course, school, subject, grade, period, teachers) in enumerate(planned):
        sections.append(
            _section(
                b,
                district_id=did,
                school_id=school["id"],
                course=course,
                # A homeroom has no course and no term, as Clever allows.
                term_id=None if course is None else (fall if index % 2 else spring)["id"],
                subject=subject,
                grade=grade,
                period=period,
                teachers=teachers,
                students=rosters[index],
                name=f"Homeroom 3B - {teachers[0]['name']['last']}" if course is None else None,
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
        grade = grade_label(student["roles"]["student"]["grade"])
        logins.append(DemoLogin(student["id"], _label(student, f"student, {grade}"), did, "student"))
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
    for contact in contacts[:2]:
        links = contact["roles"]["contact"]["student_relationships"]
        kin = links[0]["relationship"].lower() if links and links[0]["relationship"] else "contact"
        logins.append(DemoLogin(contact["id"], _label(contact, f"contact, {kin}"), did, "contact"))
    # A teacher of a connected district who also installed the app from the Library: the
    # district connection takes precedence for her logins.
    b.data.library_teachers.append(rivera["id"])


def _second_district(b: _Builder) -> None:
    district = _district(b, "#DEMO Lakeside Charter", "demo-lakeside", "")
    did = district["id"]
    school = _school(b, did, "#DEMO Lakeside Academy", "301", ("6", "8"), "Lakeside")
    term = _term(b, did, "2025-26 School Year", "2025-08-25", "2026-06-12")
    course = _course(b, did, "Science 7", "SCI7")
    name = _adult_name("Ruth", "Adeyemi")
    teacher = _employee(
        b, did, name, _email(name, "lakeside.example.org"), teaches=[school["id"]], title="Science Teacher"
    )
    dates = ("2025-08-25T00:00:00.000Z", "2026-06-12T00:00:00.000Z")
    students = _seventh_graders(b, did, school["id"], dates, first_index=12, count=2, preferred_names=False)
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
        name = _adult_name(first, last)
        return _employee(b, did, name, _email(name, domain), teaches=[school["id"]], title=title)

    patel = teacher("Nina", "Patel", "Math Teacher")
    moreau = teacher("Luc", "Moreau", "Art Teacher")
    lindqvist = teacher("Sara", "Lindqvist", "Reading Specialist")  # installed, teaches nothing
    ortiz = teacher("Diego", "Ortiz", "Music Teacher")  # never installed the app
    students = _seventh_graders(b, did, school["id"], dates, first_index=14, count=4, preferred_names=True)
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


def _mixed_roles(b: _Builder) -> None:
    """The other role mixes Clever allows one person, at the small charter district, where a few
    people do several jobs: the director who also teaches, the office manager who is also its
    tech staff, and the principal who does all three (README, "Multi-role users"). Built last,
    so that every other seeded id stays as it was; they teach no sections."""
    did = b.data.districts[1]["id"]
    (school,) = (school["id"] for school in b.data.schools if school["district"] == did)
    people = (
        ("Chris", "Howard", {"teaches": [school], "title": "History Teacher"}, "Director"),
        (
            "Jamie",
            "Alvarez",
            {"staff": _Staff([school], ["SchoolTechLead"], "Office Manager", "Operations")},
            "Data Coordinator",
        ),
        (
            "Robin",
            "Castillo",
            {
                "teaches": [school],
                "title": "Reading Teacher",
                "staff": _Staff([school], ["PortalOnly"], "Principal", "Administration"),
            },
            "Head of School",
        ),
    )
    for first, last, employment, admin_title in people:
        name = _adult_name(first, last)
        person = _employee(
            b, did, name, _email(name, "lakeside.example.org"), admin_title=admin_title, **employment
        )
        held = [role for role in ("teacher", "staff", "district_admin") if role in person["roles"]]
        mix = " and ".join(role.replace("_", " ") for role in held)
        b.data.demo_logins += [
            DemoLogin(person["id"], _label(person, f"{mix}, as {role.replace('_', ' ')}"), did, role)
            for role in held
        ]
