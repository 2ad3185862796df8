"""Who is calling? For a partner's own service behind clever-login.

Two ways to learn it, as docs/integrate.md explains:

- `Introspector`: ask clever-login's `POST /auth/introspect` (HTTP Basic with a name and secret
  from the backend's SERVICE_CLIENTS) about the session ticket the request carries, remembering
  each answer for a few seconds so that a burst of calls costs one check.
- `from_gateway_headers`: behind a gateway that has already asked `/auth/verify` (docs/gateways.md),
  read the `X-Clever-*` headers it set. Only there: anywhere else a client can send them itself.

Both give a `CleverUser`, or raise `NotLoggedIn` (answer 401) or `LoginBackendUnavailable` (answer
503: nobody can be checked, and nobody is let in unchecked). For a Starlette (or FastAPI) service,
`clever_login_client.starlette` finds the ticket on a request and maps those onto responses.

This module depends on httpx only; the Starlette part is the `starlette` extra.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

# Short: a session ended at clever-login (logout, a deleted user) is still believed here for at
# most this long. Raise it only as far as that delay is acceptable.
DEFAULT_CACHE_SECONDS = 10.0
DEFAULT_CACHE_ENTRIES = 10_000
SESSION_COOKIE_PREFIXES = ("__Host-clever_session", "clever_session")


class NotLoggedIn(Exception):
    """No session, or one that has ended: answer 401 and let the frontend offer Log in."""


class LoginBackendUnavailable(Exception):
    """clever-login could not be asked (down, timing out, answering 5xx): answer 503."""


@dataclass(frozen=True, slots=True)
class CleverUser:
    user_id: str
    district_id: str | None  # None for a Clever Library login: a teacher who installed the app
    roles: tuple[str, ...]
    primary_role: str | None
    # Who let the app see this user: "district" (Secure Sync) or "teacher" (Clever Library).
    authorized_by: str = "district"
    # The whole Principal (names, sections, ...) from introspection; empty from gateway headers.
    principal: Mapping[str, Any] = field(default_factory=dict)


def ticket_from(authorization: str, cookies: Mapping[str, str]) -> str | None:
    """The ticket a request carries: `Authorization: Bearer`, else clever-login's session cookie
    (present only when this service is served on the login backend's own host)."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    for name, value in cookies.items():
        if name.startswith(SESSION_COOKIE_PREFIXES) and value:
            return value
    return None


def from_gateway_headers(headers: Mapping[str, str]) -> CleverUser:
    """The user the gateway vouches for. Trust this only behind a gateway that overwrites these
    headers on every request (docs/gateways.md)."""
    user_id = headers.get("x-clever-user-id", "")
    if not user_id:
        raise NotLoggedIn
    roles = tuple(role for role in headers.get("x-clever-roles", "").split(",") if role)
    return CleverUser(
        user_id=user_id,
        district_id=headers.get("x-clever-district-id") or None,
        roles=roles,
        primary_role=headers.get("x-clever-primary-role") or None,
        authorized_by=headers.get("x-clever-authorized-by") or "district",
    )


class Introspector:
    """Asks `POST /auth/introspect`; answers (live or not) are remembered for `cache_seconds`,
    never past the session's own expiry, keyed by a hash of the ticket rather than the ticket."""

    def __init__(
        self,
        backend_url: str,
        client_name: str,
        client_secret: str,
        *,
        http: httpx.AsyncClient,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = backend_url.rstrip("/") + "/auth/introspect"
        self._auth = httpx.BasicAuth(client_name, client_secret)
        self._http = http
        self._cache_seconds = cache_seconds
        self._cache_entries = cache_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, CleverUser | None]] = OrderedDict()
        self.backend_calls = 0

    async def user(self, ticket: str | None) -> CleverUser:
        if not ticket:
            raise NotLoggedIn
        key = hashlib.sha256(ticket.encode()).hexdigest()
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            user = cached[1]
        else:
            user, lifetime = await self._ask(ticket)
            self._remember(key, now + min(self._cache_seconds, lifetime), user)
        if user is None:
            raise NotLoggedIn
        return user

    async def _ask(self, ticket: str) -> tuple[CleverUser | None, float]:
        self.backend_calls += 1
        try:
            answer = await self._http.post(self._url, data={"token": ticket}, auth=self._auth)
        except httpx.HTTPError as exc:
            raise LoginBackendUnavailable(type(exc).__name__) from None
        if answer.status_code != 200:
            # 401/403 here is our own service credential being refused: a configuration error,
            # not the caller's fault, and no more a reason to let anyone in than an outage.
            raise LoginBackendUnavailable(f"introspection answered {answer.status_code}")
        body: dict[str, Any] = answer.json()
        if not body.get("active"):
            return None, self._cache_seconds
        user = CleverUser(
            user_id=body["sub"],
            district_id=body.get("district") or None,
            roles=tuple(body["roles"]),
            primary_role=body.get("primary_role"),
            authorized_by=body.get("authorized_by") or "district",
            principal=body.get("principal", {}),
        )
        return user, max(0.0, float(body["exp"]) - time.time())

    def _remember(self, key: str, until: float, user: CleverUser | None) -> None:
        self._cache[key] = (until, user)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)


__all__ = [
    "DEFAULT_CACHE_ENTRIES",
    "DEFAULT_CACHE_SECONDS",
    "SESSION_COOKIE_PREFIXES",
    "CleverUser",
    "Introspector",
    "LoginBackendUnavailable",
    "NotLoggedIn",
    "from_gateway_headers",
    "ticket_from",
]
