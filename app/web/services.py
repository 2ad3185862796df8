"""The long-lived things the routes use, built once by the lifespan (app.web.factory) on top of
`app.core.Core`, and typed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import HTTPConnection

from app.clever.client import CleverClient
from app.login.identity import OidcKeys
from app.login.pending import PendingLogins
from app.logs import EventLimiter
from app.redis_client import RedisClient
from app.roster.district_tokens import DistrictTokens
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


def services(connection: HTTPConnection) -> Services:
    return cast(Services, connection.app.state.services)
