"""Sections, resources, schools, districts, terms and courses."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from app.clever.models import vocabulary as vocab
from app.clever.models.base import CleverModel, Id, StrList, known, known_items
from app.clever.models.users import LmsStatus, Location, Name


class Section(CleverModel):
    id: Id
    district: str | None = None
    school: str | None = None
    course: str | None = None
    term_id: str | None = None
    name: str | None = None
    period: str | None = None
    section_number: str | None = None
    sis_id: str | None = None
    subject: Annotated[str | None, known("subject", vocab.SUBJECTS)] = None
    grade: Annotated[str | None, known("grade", vocab.GRADES)] = None
    teacher: str | None = None
    teachers: StrList = Field(default_factory=list)
    students: StrList = Field(default_factory=list)
    created: str | None = None
    last_modified: str | None = None
    lms_status: LmsStatus | None = None
    ext: dict[str, Any] | None = None


class Resource(CleverModel):
    id: Id
    resource_id: str | None = None
    title: str | None = None
    district: str | None = None
    roles: Annotated[StrList, known_items("resource role", vocab.RESOURCE_ROLES)] = Field(
        default_factory=list
    )
    created: str | None = None
    updated: str | None = None


class SchoolPrincipal(CleverModel):
    name: str | None = None
    email: str | None = None


class School(CleverModel):
    id: Id
    district: str | None = None
    name: str | None = None
    school_number: str | None = None
    sis_id: str | None = None
    state_id: str | None = None
    nces_id: str | None = None
    mdr_number: str | None = None
    phone: str | None = None
    low_grade: Annotated[str | None, known("grade", vocab.GRADES)] = None
    high_grade: Annotated[str | None, known("grade", vocab.GRADES)] = None
    location: Location | None = None
    principal: SchoolPrincipal | None = None
    created: str | None = None
    last_modified: str | None = None
    ext: dict[str, Any] | None = None


class DistrictContact(CleverModel):
    id: str | None = None
    district: str | None = None
    email: str | None = None
    name: Name | None = None
    title: str | None = None


class District(CleverModel):
    id: Id
    name: str | None = None
    state: Annotated[str | None, known("district state", vocab.DISTRICT_STATES)] = None
    last_sync: str | None = None
    launch_date: str | None = None
    login_methods: StrList = Field(default_factory=list)
    portal_url: str | None = None
    sis_type: str | None = None
    mdr_number: str | None = None
    nces_id: str | None = None
    error: str | None = None
    pause_start: str | None = None
    pause_end: str | None = None
    district_contact: DistrictContact | None = None
    lms_state: Annotated[str | None, known("lms_state", vocab.LMS_STATES)] = None
    lms_type: Annotated[str | None, known("lms_type", vocab.LMS_TYPES)] = None
    last_attendance_sync: str | None = None


class Term(CleverModel):
    id: Id
    district: str | None = None
    name: str | None = None
    start_date: str | None = None
    end_date: str | None = None


class Course(CleverModel):
    id: Id
    district: str | None = None
    name: str | None = None
    number: str | None = None
