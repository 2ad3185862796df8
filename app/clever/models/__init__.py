"""Typed models of Clever's payloads, parsed once where they enter.

Tolerant of what Clever may add or leave out (unknown fields ignored, optional fields absent,
unknown enum-like values kept and logged once); strict on the ids everything depends on.
"""

from __future__ import annotations

from app.clever.models.base import CleverModel, Envelope, Item, Link, Page
from app.clever.models.events import Event, EventData, EventObject, EventPage
from app.clever.models.oauth import (
    JWKS,
    AuthorizedBy,
    DistrictToken,
    DistrictTokens,
    Me,
    MeResponse,
    OpenIDConfiguration,
    TokenOwner,
    TokenResponse,
    UserInfo,
)
from app.clever.models.roster import (
    Course,
    District,
    DistrictContact,
    Resource,
    School,
    SchoolPrincipal,
    Section,
    Term,
)
from app.clever.models.users import (
    ROLE_ORDER,
    ContactRole,
    Credentials,
    Disability,
    DistrictAdminRole,
    LmsStatus,
    Location,
    Name,
    Roles,
    SchoolEnrollment,
    StaffRole,
    StudentRelationship,
    StudentRole,
    TeacherRole,
    User,
)

__all__ = [
    "JWKS",
    "ROLE_ORDER",
    "AuthorizedBy",
    "CleverModel",
    "ContactRole",
    "Course",
    "Credentials",
    "Disability",
    "District",
    "DistrictAdminRole",
    "DistrictContact",
    "DistrictToken",
    "DistrictTokens",
    "Envelope",
    "Event",
    "EventData",
    "EventObject",
    "EventPage",
    "Item",
    "Link",
    "LmsStatus",
    "Location",
    "Me",
    "MeResponse",
    "Name",
    "OpenIDConfiguration",
    "Page",
    "Resource",
    "Roles",
    "School",
    "SchoolEnrollment",
    "SchoolPrincipal",
    "Section",
    "StaffRole",
    "StudentRelationship",
    "StudentRole",
    "TeacherRole",
    "Term",
    "TokenOwner",
    "TokenResponse",
    "User",
    "UserInfo",
]
