"""The long-lived things the routes use, built once by the lifespan (app.web.factory) on top of
`app.core.Core`, and typed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from starlette.requests import HTTPConnection

from app.clever.client import CleverClient
from app.login.identity import OidcKeys
from app.login.pending import PendingLogins
from app.logs import EventLimiter
from app.redis_client import RedisClient
from app.roster.district_tokens import DistrictTokens
from app.roster.fetch import Roster
from app.roster.source import person_roster
from app.roster.store import RosterStore
from app.sessions.store import SessionStore
from app.settings import Settings
from app.web.cookies import Cookies
from app.web.metrics import Metrics
from app.web.throttle import ServiceAuthThrottle


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
    ) -> Roster:
        """The person's roster for a login or a refresh (`app.roster.source.person_roster`, under
        the service's settings), counted by where it came from and what of it is missing."""
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
