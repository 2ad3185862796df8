"""Who just logged in: from a verified id_token when Clever sent one, else from `/v3.0/me`.

Nothing here branches on `/me`'s `type`: since API v3.0 it is "user" for everyone, and roles come
from the Data API user record (app.roster.fetch).

How the person was authorized (README, "Clever Library logins"): a login with a district is the
district's, whatever else is true of the person (a district connection takes precedence over a
teacher's); one without is a Clever Library login, authorized by a teacher who installed the app.
Clever sends no id_token for those, so they always come through `/me`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from joserfc.jwk import KeySet

from app.clever.client import CleverClient
from app.clever.errors import CleverError
from app.clever.models import AuthorizedBy, TokenResponse
from app.errors import ServiceError
from app.login.idtoken import IdClaims, IdTokenInvalid, IdTokenKeyUnknown, import_jwks, verify_id_token

logger = logging.getLogger("app.login.identity")

JWKS_REFRESH_INTERVAL = 60.0  # an unknown `kid` refetches the keys at most this often


class IdentityError(ServiceError):
    """The login cannot be tied to a Clever user: `id_token_invalid`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    district_id: str  # "" for a Library login: no district
    login_user_type: str | None  # the role of this login, when Clever says it
    source: Literal["id_token", "me"]
    authorized_by: AuthorizedBy = "district"
    access_token: str = field(default="", repr=False)  # the user's own; a Library login reads with it

    @property
    def library(self) -> bool:
        return self.authorized_by == "teacher"


class OidcKeys:
    """Clever's OIDC discovery and signing keys, fetched once and cached in the process.

    The issuer is pinned from configuration: a discovery document naming another issuer is refused.
    """

    def __init__(self, clever: CleverClient, *, issuer: str, clock: Callable[[], float] = time.time) -> None:
        self._clever = clever
        self._issuer = issuer
        self._clock = clock
        self._jwks: dict[str, Any] | None = None
        # The JWKS last imported and its keys: each fetch is imported once, not once per login.
        self._imported: tuple[dict[str, Any], KeySet] | None = None
        self._jwks_uri: str | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def prefetch(self) -> None:
        """Fetch discovery and keys ahead of the first login; a failure only means it happens then."""
        try:
            await self._keys(refresh=False)
        except (CleverError, IdentityError) as exc:
            logger.warning(
                "could not prefetch Clever's signing keys",
                extra={"event": "jwks_prefetch_failed", "error": type(exc).__name__},
            )

    async def verify(self, id_token: str, *, client_id: str, nonce: str) -> IdClaims:
        jwks = await self._keys(refresh=False)
        try:
            return self._check(id_token, jwks, client_id=client_id, nonce=nonce)
        except IdTokenKeyUnknown:
            if self._clock() - self._fetched_at < JWKS_REFRESH_INTERVAL:
                raise
            jwks = await self._keys(refresh=True)  # Clever may have rotated its keys
            return self._check(id_token, jwks, client_id=client_id, nonce=nonce)

    def _check(self, id_token: str, jwks: dict[str, Any], *, client_id: str, nonce: str) -> IdClaims:
        now = int(self._clock())
        keys = self._key_set(jwks)
        return verify_id_token(id_token, keys, issuer=self._issuer, client_id=client_id, nonce=nonce, now=now)

    def _key_set(self, jwks: dict[str, Any]) -> KeySet:
        # An unusable JWKS is not kept: every login that meets it is refused, as its first was.
        if self._imported is None or self._imported[0] is not jwks:
            self._imported = (jwks, import_jwks(jwks))
        return self._imported[1]

    async def _keys(self, *, refresh: bool) -> dict[str, Any]:
        async with self._lock:  # one fetch however many logins arrive with a cold cache
            if self._jwks is None or refresh:
                if self._jwks_uri is None:
                    discovery = await self._clever.openid_configuration()
                    if discovery.issuer.rstrip("/") != self._issuer.rstrip("/"):
                        raise IdentityError("id_token_invalid", "discovery names another issuer")
                    self._jwks_uri = discovery.jwks_uri
                self._jwks = {"keys": (await self._clever.jwks(self._jwks_uri)).keys}
                self._fetched_at = self._clock()
            return self._jwks


async def identify(
    clever: CleverClient, oidc: OidcKeys, token: TokenResponse, *, client_id: str, nonce: str
) -> Identity:
    if token.id_token:
        try:
            claims = await oidc.verify(token.id_token, client_id=client_id, nonce=nonce)
        except IdTokenInvalid as exc:
            raise IdentityError("id_token_invalid", str(exc)) from exc
        if claims.district:
            return Identity(claims.sub, claims.district, claims.user_type, "id_token", "district")
    me = await clever.me(token.access_token)
    if me.district:
        return Identity(me.id, me.district, None, "me", "district")
    # No district: a Library login (Clever gives district-shared users a district id, always).
    # Its roster is read with the user's own token (app.roster.fetch.fetch_library_roster).
    return Identity(me.id, "", None, "me", "teacher", token.access_token)
