"""Authorization codes, access tokens and per-token rate limits, with Clever's rules.

Codes live `code_ttl_seconds` and redeem once, for the client and exact redirect_uri they
were issued to. A user token sees its own user and district (a Library login's: what its
teachers shared, see data_api); the one district token per district sees the whole district.
Every token has a fixed one-minute request budget.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from clever_sandbox.config import RateHeaders
from clever_sandbox.errors import SandboxHTTPError, api_error

Clock = Callable[[], float]


class CodeError(Exception):
    """A code that cannot be redeemed; `description` is Clever's wording."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    client_id: str
    redirect_uri: str
    user_id: str
    district_id: str
    nonce: str | None
    user_type: str
    expires_at: float
    code_challenge: str | None = None  # PKCE S256 challenge, when the authorize request sent one
    # Who authorized the app for this login: the person's district, or (Clever Library) a
    # teacher, whose logins have no district.
    authorized_by: Literal["district", "teacher"] = "district"


@dataclass(frozen=True, slots=True)
class Grant:
    """What an access token may see."""

    token: str
    kind: Literal["user", "district"]
    district_id: str
    client_id: str
    user_id: str | None = None
    user_type: str | None = None
    created_at: float = 0.0  # wall-clock seconds; shown in the district token list
    authorized_by: Literal["district", "teacher"] = "district"  # "teacher": a Library login, no district


@dataclass(slots=True)
class RateStatus:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    # Whether an allowed answer carries the numbers too (a 429 always does).
    on_every_answer: bool = True

    def headers(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers this answer carries: none on an allowed answer unless
        the sandbox sends them on every one."""
        if self.allowed and not self.on_every_answer:
            return {}
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }


@dataclass(slots=True)
class _Window:
    start: float
    count: int = 0


@dataclass
class RateLimiter:
    """A fixed window of `limit` requests per token, reset every minute (Clever's rule); the
    window opens with a token's first request after the last one ended. `rate_headers` as in
    `SandboxConfig`."""

    limit: int
    clock: Clock = time.time
    rate_headers: RateHeaders = "on_429"
    _windows: dict[str, _Window] = field(default_factory=dict)

    def hit(self, token: str) -> RateStatus:
        now = self.clock()
        window = self._windows.get(token)
        if window is None or now >= window.start + 60:
            window = self._windows[token] = _Window(start=now)
        reset = math.ceil(window.start + 60)
        every = self.rate_headers == "every"
        if window.count >= self.limit:
            return RateStatus(False, self.limit, 0, reset, every)
        window.count += 1
        return RateStatus(True, self.limit, self.limit - window.count, reset, every)

    def clear(self) -> None:
        self._windows.clear()


@dataclass
class TokenRegistry:
    code_ttl_seconds: float = 60.0
    clock: Clock = time.monotonic
    _codes: dict[str, IssuedCode] = field(default_factory=dict)
    _tokens: dict[str, Grant] = field(default_factory=dict)
    _district_tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        user_id: str,
        district_id: str,
        user_type: str,
        nonce: str | None,
        code_challenge: str | None = None,
        authorized_by: Literal["district", "teacher"] = "district",
    ) -> str:
        code = secrets.token_urlsafe(24)
        self._codes[code] = IssuedCode(
            code=code,
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_id=user_id,
            district_id=district_id,
            nonce=nonce,
            user_type=user_type,
            expires_at=self.clock() + self.code_ttl_seconds,
            code_challenge=code_challenge,
            authorized_by=authorized_by,
        )
        return code

    def redeem_code(
        self, code: str, *, client_id: str, redirect_uri: str, code_verifier: str | None = None
    ) -> IssuedCode:
        """Consume `code`. Any attempt uses it up, as an authorization server must."""
        issued = self._codes.pop(code, None)
        if issued is None or issued.client_id != client_id:
            raise CodeError("Invalid grant: invalid code")
        # Clever words an expired code the same as a reused one.
        if self.clock() >= issued.expires_at:
            raise CodeError("Invalid grant: invalid code")
        if issued.redirect_uri != redirect_uri:
            raise CodeError("Invalid grant: redirect_uri does not match")
        if not pkce_matches(issued.code_challenge, code_verifier):
            raise CodeError("Invalid grant: code_verifier does not match")
        return issued

    def issue_user_token(self, issued: IssuedCode) -> str:
        token = "ilc_" + secrets.token_urlsafe(24)
        self._tokens[token] = Grant(
            token=token,
            kind="user",
            district_id=issued.district_id,
            client_id=issued.client_id,
            user_id=issued.user_id,
            user_type=issued.user_type,
            authorized_by=issued.authorized_by,
        )
        return token

    def district_token(self, district_id: str, client_id: str) -> str:
        """The district-app token: one per district connection, stable until reset."""
        key = (district_id, client_id)
        token = self._district_tokens.get(key)
        if token is None:
            token = secrets.token_hex(20)
            self._district_tokens[key] = token
            self._tokens[token] = Grant(
                token=token,
                kind="district",
                district_id=district_id,
                client_id=client_id,
                created_at=time.time(),
            )
        return token

    def lookup(self, token: str) -> Grant | None:
        return self._tokens.get(token)

    def issued_codes(self) -> list[str]:
        """The authorization codes issued and not yet redeemed (nor cleared)."""
        return list(self._codes)

    def issued_tokens(self) -> list[str]:
        """The access tokens, user and district-app, issued and not yet revoked (nor cleared)."""
        return list(self._tokens)

    def revoke(self, token: str) -> None:
        grant = self._tokens.pop(token, None)
        if grant is not None and grant.kind == "district":
            self._district_tokens.pop((grant.district_id, grant.client_id), None)

    def clear(self) -> None:
        self._codes.clear()
        self._tokens.clear()
        self._district_tokens.clear()


_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def s256_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_matches(challenge: str | None, verifier: str | None) -> bool:
    """Whether a token request's verifier fits the code's challenge.

    No challenge and no verifier is a plain code grant. A verifier for a code issued without a
    challenge is refused too: accepting it would hide a PKCE downgrade (RFC 9700, 4.8.2).
    """
    if challenge is None:
        return verifier is None
    if verifier is None or not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def authenticate(
    tokens: TokenRegistry, limiter: RateLimiter, headers: Mapping[str, str]
) -> tuple[Grant, RateStatus]:
    """The Grant behind a request's bearer token, after spending one unit of its rate budget.

    The RateStatus's headers belong on the answer. Raises SandboxHTTPError with Clever's
    401 or 429 answer.
    """
    token = bearer_token(headers)
    grant = tokens.lookup(token) if token else None
    if grant is None:
        raise SandboxHTTPError(api_error(401, "Your OAuth2 token is incorrect or has expired"))
    status = limiter.hit(grant.token)
    if not status.allowed:
        raise SandboxHTTPError(api_error(429, "Too Many Requests", headers=status.headers()))
    return grant, status
