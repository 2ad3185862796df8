"""What a login learns about a person from the Data API: the user record, sections, resources
and, for a contact, their linked students (`docs/architecture.md`, "A login, traced", step 4)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import TypeVar

from app.clever import CleverClient, CleverError, CleverUnauthorized
from app.clever.models import AuthorizedBy, Resource, Section, User
from app.roster.district_tokens import DistrictTokens
from app.roster.principal import (
    Directory,
    Principal,
    RosterPart,
    RosterSource,
    build_principal,
    normalise_user_type,
    roster_version,
)

logger = logging.getLogger("app.roster.fetch")

_T = TypeVar("_T")


@dataclass(frozen=True)
class Roster:
    user: User
    sections: list[Section]
    resources: list[Resource]
    # A contact's linked students (empty for everyone else).
    students: list[User]
    # When the fetch began: the roster is at least as new as this (see app.events).
    fetched_at: float = 0.0
    # Where it came from; for the store, when the copy's full sync began (app.roster.store).
    source: RosterSource = "live"
    synced_at: float | None = None
    # "teacher" for a Clever Library login, read with the user's own token (`fetch_library_roster`);
    # `students` are then a Library teacher's students.
    authorized_by: AuthorizedBy = "district"
    # Parts Clever could not give (their lists are empty for that reason, not for want of any).
    unavailable: frozenset[RosterPart] = frozenset()

    def holds_any(self, roles: frozenset[str] | None) -> bool:
        """Whether the person holds one of `roles` (None: any role at all will do)."""
        return roles is None or bool(roles & set(self.user.roles.names))

    def principal(
        self,
        *,
        login_user_type: str | None,
        student_fields: frozenset[str],
        event_id: str | None = None,
        directory: Directory | None = None,
    ) -> Principal:
        """The Principal of this roster, recording the version it reflects (`event_id`: the
        Events API event that caused the fetch, if one did), with the names `directory` (the
        district directory, app.roster.directory) gives."""
        return build_principal(
            self.user,
            self.sections,
            self.resources,
            login_user_type=login_user_type,
            student_fields=student_fields,
            students=self.students,
            roster=roster_version(
                self.fetched_at,
                event_id,
                source=self.source,
                synced_at=self.synced_at,
                unavailable=self.unavailable,
            ),
            authorized_by=self.authorized_by,
            directory=directory,
        )


async def fetch_roster(
    clever: CleverClient,
    tokens: DistrictTokens,
    *,
    user_id: str,
    district_id: str,
    login_user_type: str | None = None,
) -> Roster:
    """The person's roster, with the district-app token, the independent calls run concurrently.

    `login_user_type` is the role of this login when Clever said it (id_token / userinfo
    `user_type`); it only decides when a contact's students are asked for, never what the
    roster holds. A 401 means the district token was revoked: it is dropped from the cache and
    the whole fetch is tried once more with a fresh one; a second 401 propagates. Every other
    failure propagates as the client's `CleverError`, or `DistrictNotConnected`.
    """
    # Which way to fetch a contact's students (`/mystudents`, which needs the user's roles):
    # - always, alongside the other three: one round trip for contacts, but one more call
    #   for every login, and for a teacher it answers every student they teach (many pages),
    #   all on the district token's 1200/min budget that every login in the district shares;
    # - only after `/users/{id}` shows the contact role: no extra call for anyone else, one
    #   more sequential round trip for contacts.
    # We take the second, and skip its extra round trip when the login already says "contact".
    eager = normalise_user_type(login_user_type) == "contact"
    fetched_at = time.time()
    roster = await tokens.call(
        district_id, lambda token: _fetch(clever, token, user_id, eager_students=eager)
    )
    return replace(roster, fetched_at=fetched_at)


async def fetch_library_roster(clever: CleverClient, user_token: str, *, user_id: str) -> Roster:
    """A Clever Library login's roster, read with the person's own token: a Library login has
    no district, so no district-app token and no roster copy (README, "Clever Library logins").

    The user record first (its roles say what else to read), then the sections the person's
    teachers shared and, for a teacher, the students of those sections. No resources: Library
    apps are not given them. Read afresh at every login, as Clever's Library certification asks.
    Errors propagate as the client's `CleverError`.
    """
    fetched_at = time.time()
    user = await clever.user(user_token, user_id)
    try:
        async with asyncio.TaskGroup() as group:
            sections = group.create_task(clever.user_sections(user_token, user_id))
            students = (
                group.create_task(clever.user_students(user_token, user_id))
                if user.roles.teacher is not None
                else None
            )
    except ExceptionGroup as failed:
        raise _first_error(failed) from None
    return Roster(
        user=user,
        sections=sections.result(),
        resources=[],
        students=students.result() if students is not None else [],
        fetched_at=fetched_at,
        authorized_by="teacher",
    )


async def _fetch(clever: CleverClient, token: str, user_id: str, *, eager_students: bool) -> Roster:
    missing: set[RosterPart] = set()

    async def part(name: RosterPart, call: Awaitable[list[_T]]) -> list[_T]:
        try:
            return await call
        except CleverUnauthorized:
            raise  # the token, not the part: the whole fetch is tried again with a fresh one
        except CleverError as exc:
            missing.add(name)
            # The code and operation only: an error's message names no person or token.
            logger.warning(
                "roster part unavailable",
                extra={
                    "event": "roster_part_unavailable",
                    "part": name,
                    "code": exc.code,
                    "operation": exc.operation,
                },
            )
            return []

    async def user_then_students() -> tuple[User, list[User]]:
        user = await clever.user(token, user_id)
        if eager_students or user.roles.contact is None:
            return user, []
        return user, await part("students", clever.user_students(token, user_id))

    try:
        async with asyncio.TaskGroup() as group:
            person = group.create_task(user_then_students())
            sections = group.create_task(part("sections", clever.user_sections(token, user_id)))
            resources = group.create_task(part("resources", clever.user_resources(token, user_id)))
            early = (
                group.create_task(part("students", clever.user_students(token, user_id)))
                if eager_students
                else None
            )
    except ExceptionGroup as failed:
        # One typed error for the caller; the others were the same failure or its echo.
        raise _first_error(failed) from None

    user, students = person.result()
    if early is not None:
        students = early.result()
    if user.roles.contact is None:
        missing.discard("students")  # asked eagerly of someone who turned out not to be a contact
    return Roster(
        user=user,
        sections=sections.result(),
        resources=resources.result(),
        students=_linked(user, students),
        unavailable=frozenset(missing),
    )


def _linked(user: User, students: list[User]) -> list[User]:
    """Only the contact's linked students. Clever gives a contact no other role today; should
    one also teach, `/mystudents` would answer their pupils too."""
    contact = user.roles.contact
    if contact is None:
        return []
    linked = {link.student for link in contact.student_relationships}
    return [student for student in students if student.id in linked]


def _first_error(group: BaseExceptionGroup[Exception]) -> Exception:
    errors = _leaves(group)
    # A 401 wins: it is the failure the caller can cure (with a fresh token).
    return next((error for error in errors if isinstance(error, CleverUnauthorized)), errors[0])


def _leaves(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    leaves: list[Exception] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            leaves.extend(_leaves(error))
        else:
            leaves.append(error)
    return leaves
