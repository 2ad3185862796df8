"""Users (v3 multi-role) and their five role objects, with the v3.1 student fields."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from app.clever.models import vocabulary as vocab
from app.clever.models.base import CleverModel, Id, NullAsEmpty, StrList, known, known_items

# Clever's five user roles, in the order the Principal lists them: the one list of role names
# (ALLOWED_ROLES, the events worker and the OpenAPI schema read it).
ROLE_ORDER = ("district_admin", "staff", "teacher", "student", "contact")


class Name(CleverModel):
    first: str | None = None
    middle: str | None = None
    last: str | None = None


class Credentials(CleverModel):
    district_username: str | None = None


class Location(CleverModel):
    address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    lat: str | None = None
    lon: str | None = None


class SchoolEnrollment(CleverModel):
    school: str | None = None
    start_date: str | None = None
    end_date: str | None = None


class Disability(CleverModel):
    disability_status: Annotated[str | None, known("disability_status", vocab.YES_NO)] = None
    disability_type: Annotated[str | None, known("disability_type", vocab.DISABILITY_TYPES)] = None
    disability_code: Annotated[str | None, known("disability_code", vocab.DISABILITY_CODES, fold=True)] = None

    @property
    def code(self) -> str | None:
        """The code in the definitions' lower case (Clever's docs print it upper case)."""
        return None if self.disability_code is None else self.disability_code.lower()


class StudentRole(CleverModel):
    legacy_id: str | None = None
    school: str | None = None
    schools: StrList = Field(default_factory=list)
    enrollments: Annotated[list[SchoolEnrollment], NullAsEmpty] = Field(default_factory=list)
    sis_id: str | None = None
    state_id: str | None = None
    student_number: str | None = None
    credentials: Credentials | None = None
    dob: str | None = None
    gender: Annotated[str | None, known("gender", vocab.GENDERS)] = None
    grade: Annotated[str | None, known("grade", vocab.GRADES)] = None
    graduation_year: str | None = None
    hispanic_ethnicity: Annotated[str | None, known("hispanic_ethnicity", vocab.YES_NO)] = None
    race: Annotated[str | None, known("race", vocab.RACES)] = None
    ell_status: Annotated[str | None, known("ell_status", vocab.YES_NO)] = None
    location: Location | None = None
    created: str | None = None
    last_modified: str | None = None
    ext: dict[str, Any] | None = None
    # v3.1 (and, for frl/iep, documented for v3.0 with the sensitive-field scopes)
    gifted_status: Annotated[str | None, known("gifted_status", vocab.YES_NO)] = None
    section_504_status: Annotated[str | None, known("section_504_status", vocab.YES_NO)] = None
    disability: Disability | None = None
    frl_status: Annotated[str | None, known("frl_status", vocab.FRL_STATUSES)] = None
    iep_status: str | None = None
    home_language: Annotated[str | None, known("home_language", vocab.HOME_LANGUAGES)] = None
    home_language_code: Annotated[str | None, known("home_language_code", vocab.HOME_LANGUAGE_CODES)] = None
    preferred_name: Name | None = None


class TeacherRole(CleverModel):
    legacy_id: str | None = None
    district: str | None = None
    school: str | None = None
    schools: StrList = Field(default_factory=list)
    sis_id: str | None = None
    state_id: str | None = None
    teacher_number: str | None = None
    title: str | None = None
    name: Name | None = None
    credentials: Credentials | None = None
    created: str | None = None
    last_modified: str | None = None
    ext: dict[str, Any] | None = None


class StaffRole(CleverModel):
    legacy_id: str | None = None
    schools: StrList = Field(default_factory=list)
    staff_id: str | None = None
    title: str | None = None
    department: str | None = None
    roles: Annotated[StrList, known_items("staff role", vocab.STAFF_ROLES)] = Field(default_factory=list)
    credentials: Credentials | None = None
    ext: dict[str, Any] | None = None


class DistrictAdminRole(CleverModel):
    legacy_id: str | None = None
    title: str | None = None


class StudentRelationship(CleverModel):
    student: Id
    relationship: Annotated[str | None, known("relationship", vocab.RELATIONSHIPS)] = None
    type: Annotated[str | None, known("relationship type", vocab.RELATIONSHIP_TYPES)] = None


class ContactRole(CleverModel):
    legacy_id: str | None = None
    sis_id: str | None = None
    phone: str | None = None
    phone_type: Annotated[str | None, known("phone_type", vocab.PHONE_TYPES)] = None
    student_relationships: Annotated[list[StudentRelationship], NullAsEmpty] = Field(default_factory=list)


class Roles(CleverModel):
    """Only the roles a person holds are present (a v3 user may hold several)."""

    district_admin: DistrictAdminRole | None = None
    staff: StaffRole | None = None
    teacher: TeacherRole | None = None
    student: StudentRole | None = None
    contact: ContactRole | None = None

    @property
    def names(self) -> list[str]:
        """The roles held, in the contract's order: district_admin, staff, teacher, student, contact."""
        return [role for role in ROLE_ORDER if getattr(self, role) is not None]


class LmsStatus(CleverModel):
    synced_in_lms: bool | None = None


class User(CleverModel):
    id: Id
    district: Id
    email: str | None = None
    name: Name = Field(default_factory=Name)
    roles: Roles = Field(default_factory=Roles)
    created: str | None = None
    last_modified: str | None = None
    lms_status: LmsStatus | None = None
