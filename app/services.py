"""The long-lived things the routes use, built once by the lifespan (app.main) and typed here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import HTTPConnection

from app.clever.client import CleverClient
from app.cookies import Cookies
from app.district_tokens import DistrictTokens
from app.identity import OidcKeys
from app.keyring import Keyring
from app.metrics import Metrics
from app.pending import PendingLogins
from app.redis_client import RedisClient
from app.sessions.store import SessionStore
from app.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    keyring: Keyring
    cookies: Cookies
    redis: RedisClient
    clever: CleverClient
    oidc: OidcKeys
    sessions: SessionStore
    pending: PendingLogins
    district_tokens: DistrictTokens
    metrics: Metrics


def services(connection: HTTPConnection) -> Services:
    return cast(Services, connection.app.state.services)
