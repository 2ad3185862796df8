"""The long-lived things the routes use, built once by the lifespan (app.web.factory) on top of
`app.core.Core`, and typed here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, cast

from starlette.requests import HTTPConnection

from app.clever.client import CleverClient
from app.login.identity import OidcKeys
from app.login.pending import PendingLogins
from app.logs import EventLimiter
from app.redis_client import RedisClient
from app.roster.directory import DistrictDirectory
from app.roster.district_tokens import DistrictTokens
from app.roster.fetch import Roster
from app.roster.principal import Directory
from app.roster.source import person_roster
from app.roster.store import RosterStore
from app.sessions.store import SessionStore
from app.settings import Settings
from app.web.cookies import Cookies
from app.web.metrics import Metrics
from app.web.throttle import ServiceAuthThrottle

# Directory lookups under way, held until done (the event loop keeps only weak references).
_directories: set[asyncio.Task[Directory | None]] = set()


@dataclass(frozen=True)
class Services:
    settings: Settings
    cookies: Cookies
    redis: RedisClient
    clever: CleverClient
    oidc: OidcKeys
    sessions: SessionStore
    pending: PendingLogins
    district_tokens: DistrictTokens
    roster: RosterStore
    directory: DistrictDirectory
    metrics: Metrics
    event_log: EventLimiter
    service_auth: ServiceAuthThrottle

    async def person_roster(
        self,
        step: Literal["login", "refresh"],
        *,
        user_id: str,
        district_id: str,
        login_user_type: str | None,
        library_token: str | None = None,
    ) -> tuple[Roster, Directory | None]:
        """The person's roster for a login or a refresh (`app.roster.source.person_roster`, under
        the service's settings), counted by where it came from and what of it is missing; and
        beside it, asked for at the same time, the district directory (None for a Library
        login, or when it cannot be had now: app.roster.directory)."""
        known = lookup = None
        if library_token is None and (known := self.directory.remembered(district_id)) is None:
            lookup = asyncio.create_task(self.directory.get(district_id))
            # The directory never raises; should the roster fail, its fill runs on unawaited.
            _directories.add(lookup)
            lookup.add_done_callback(_directories.discard)
        roster = await self._person_roster(
            step,
            user_id=user_id,
            district_id=district_id,
            login_user_type=login_user_type,
            library_token=library_token,
        )
        return roster, await lookup if lookup is not None else known

    async def _person_roster(
        self,
        step: Literal["login", "refresh"],
        *,
        user_id: str,
        district_id: str,
        login_user_type: str | None,
        library_token: str | None,
    ) -> Roster:
        roster = await person_roster(
            self.clever,
            self.district_tokens,
            self.roster,
            user_id=user_id,
            district_id=district_id,
            login_user_type=login_user_type,
            student_fields=self.settings.student_fields,
            max_events_lag=self.settings.roster_max_events_lag,
            decided=lambda reason: self.metrics.roster_source(step, reason),
            library_token=library_token,
        )
        self.metrics.roster_parts_unavailable(step, roster.unavailable)
        return roster


def services(connection: HTTPConnection) -> Services:
    return cast(Services, connection.app.state.services)
