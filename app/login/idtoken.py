"""Checking an OpenID Connect id_token from Clever: signature, issuer, audience, expiry, nonce."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError, MissingKeyError
from joserfc.jwk import KeySet

# Only asymmetric signatures: a shared-secret (HS*) or `none` token is refused whatever it says.
ALLOWED_ALGORITHMS = ("RS256",)
LEEWAY_SECONDS = 60


class IdTokenInvalid(ValueError):
    """The id_token cannot be trusted; the reason names the check, never the token."""


class IdTokenKeyUnknown(IdTokenInvalid):
    """Signed with a key the cached JWKS lacks: refetch the JWKS once, then try again."""


@dataclass(frozen=True, slots=True)
class IdClaims:
    sub: str
    district: str | None
    user_type: str | None
    email: str | None
    given_name: str | None
    family_name: str | None


def import_jwks(jwks: Mapping[str, Any]) -> KeySet:
    """Clever's published JWKS as keys to verify with (once per JWKS fetched, not per login)."""
    try:
        return KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:
        raise IdTokenInvalid("the JWKS is unusable") from exc


def verify_id_token(
    token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str, now: int
) -> IdClaims:
    try:
        decoded = jwt.decode(token, keys, algorithms=list(ALLOWED_ALGORITHMS))
    except (InvalidKeyIdError, MissingKeyError) as exc:
        raise IdTokenKeyUnknown("signed with an unknown key") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise IdTokenInvalid(f"not a valid signed token ({type(exc).__name__})") from exc
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(decoded.claims)
    except JoseError as exc:
        raise IdTokenInvalid(f"claim check failed ({type(exc).__name__})") from exc
    claims = decoded.claims
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenInvalid("no subject")
    _check_nonce_and_azp(claims, client_id=client_id, nonce=nonce)
    return IdClaims(
        sub=claims["sub"],
        district=_text(claims.get("district")),
        user_type=_text(claims.get("user_type")),
        email=_text(claims.get("email")),
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
    )


def _check_nonce_and_azp(claims: Mapping[str, Any], *, client_id: str, nonce: str) -> None:
    """OIDC Core 3.1.3.7, which the claims registry is looser than: it accepts a list holding the
    expected nonce, and says nothing of `azp`."""
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
        raise IdTokenInvalid("claim check failed (nonce)")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise IdTokenInvalid("claim check failed (several audiences and no azp)")
    if azp is not None and azp != client_id:
        raise IdTokenInvalid("claim check failed (azp)")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
