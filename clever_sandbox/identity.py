"""Who signed in, as Clever's identity surface tells it: id_token claims, `/userinfo`, `/v3.0/me`.

`user_type` (the role of this login) is spelled as the v3 `roles` keys are: `student`,
`teacher`, `staff`, `district_admin` and `contact`. Clever's pages write the admin value
both as "district admin" and `district_admin`, and pre-v3 answers called staff `school_admin`;
`SandboxConfig.user_type_spelling` picks which of these the sandbox sends (`spelled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from clever_sandbox.config import Pkce, UserTypeSpelling
from clever_sandbox.errors import SandboxHTTPError, api_error
from clever_sandbox.keys import ALGORITHM
from clever_sandbox.state import Sandbox
from clever_sandbox.tokens import Grant, authenticate

Record = dict[str, Any]

USER_TYPES = ("student", "teacher", "staff", "district_admin", "contact")
SCOPES = ("openid", "profile", "email", "read:user_id", "read:sis")
CLAIMS = (
    "iss", "aud", "iat", "exp", "nonce", "sub", "multi_role_user_id", "user_id", "user_type",
    "district", "email", "email_verified", "given_name", "family_name",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoginUser:
    """One person in the role of one login."""

    id: str
    district: str
    user_type: str
    legacy_id: str
    first: str
    middle: str | None
    last: str
    email: str | None
    schools: tuple[str, ...]


def login_user(record: Record, user_type: str) -> LoginUser | None:
    """`record` (a v3.1 user) signed in as `user_type`; None when they do not hold that role."""
    roles = record.get("roles") or {}
    role = roles.get(user_type)
    if user_type not in USER_TYPES or not isinstance(role, dict):
        return None
    name = record.get("name") or {}
    schools = role.get("schools") or ([role["school"]] if role.get("school") else [])
    return LoginUser(
        id=record["id"],
        district=record["district"],
        user_type=user_type,
        # Records made after the seed may lack a legacy id; the v3 id then stands in for it.
        legacy_id=role.get("legacy_id") or record["id"],
        first=name.get("first") or "",
        middle=name.get("middle"),
        last=name.get("last") or "",
        email=record.get("email") or None,
        schools=tuple(schools),
    )


# The other spellings each mode sends, by role; a role not named is sent as its roles key.
_SPELLINGS: dict[UserTypeSpelling, dict[str, str]] = {
    "roles": {},
    "spaced": {"district_admin": "district admin"},
    "school_admin": {"staff": "school_admin"},
}


def spelled(user_type: str, spelling: UserTypeSpelling = "roles") -> str:
    """`user_type` (a roles key) as an id_token or `/userinfo` of this spelling writes it."""
    return _SPELLINGS[spelling].get(user_type, user_type)


def id_token_claims(
    user: LoginUser,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    issued_at: int,
    ttl_seconds: int,
    spelling: UserTypeSpelling = "roles",
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
        "sub": user.id,
        "multi_role_user_id": user.id,
        "user_id": user.legacy_id,
        "user_type": spelled(user.user_type, spelling),
        "district": user.district,
        "email_verified": False,
        "given_name": user.first,
        "family_name": user.last,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if user.email is not None:
        claims["email"] = user.email
    return claims


def userinfo_body(
    user: LoginUser, authorized_by: str = "district", spelling: UserTypeSpelling = "roles"
) -> dict[str, Any]:
    """A Library login (`authorized_by` "teacher") has no district: the keys are left out."""
    district = (
        {"district_id": user.district, "district": user.district} if authorized_by == "district" else {}
    )
    body: dict[str, Any] = {
        "sub": user.id,
        "user_id": user.legacy_id,
        "multi_role_user_id": user.id,
        "user_type": spelled(user.user_type, spelling),
        **district,
        "name": {"first": user.first, "last": user.last, "middle": user.middle or ""},
        "schools": list(user.schools),
        "given_name": user.first,
        "family_name": user.last,
        "email_verified": False,
        "authorized_by": authorized_by,
    }
    if user.email is not None:
        body["email"] = user.email
    return body


def me_body(grant: Grant) -> dict[str, Any]:
    """`/v3.0/me`: since v3.0 a user's `type` is always "user", whatever their roles. A Library
    login's has no district (nor a link to one)."""
    if grant.authorized_by == "teacher":
        assert grant.user_id is not None
        return {
            "type": "user",
            "data": {"id": grant.user_id, "type": "user", "authorized_by": "teacher"},
            "links": [
                {"rel": "self", "uri": "/v3.0/me"},
                {"rel": "canonical", "uri": f"/v3.0/users/{grant.user_id}"},
            ],
        }
    district_link = {"rel": "district", "uri": f"/v3.0/districts/{grant.district_id}"}
    if grant.kind == "district":
        data = {"id": grant.district_id, "district": grant.district_id, "type": "district"}
        canonical = f"/v3.0/districts/{grant.district_id}"
    else:
        assert grant.user_id is not None
        data = {"id": grant.user_id, "district": grant.district_id, "type": "user"}
        canonical = f"/v3.0/users/{grant.user_id}"
    return {
        "type": data["type"],
        "data": {**data, "authorized_by": "district"},
        "links": [
            {"rel": "self", "uri": "/v3.0/me"},
            {"rel": "canonical", "uri": canonical},
            district_link,
        ],
    }


def discovery_document(issuer: str, *, pkce: Pkce = "ignored") -> dict[str, Any]:
    """The OpenID Connect discovery document; S256 is listed only when PKCE is enforced."""
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/tokens",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/oauth/certs",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": list(SCOPES),
        "claims_supported": list(CLAIMS),
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }
    if pkce == "enforced":
        document["code_challenge_methods_supported"] = ["S256"]
    return document


# --- routes ----------------------------------------------------------------------------------


def sandbox_of(request: Request) -> Sandbox:
    return cast("Sandbox", request.app.state.sandbox)


def issuer_of(request: Request) -> str:
    """The configured issuer, else this request's own base URL (scheme, host and root path)."""
    configured = sandbox_of(request).config.issuer
    return (configured or str(request.base_url)).rstrip("/")


async def openid_configuration(request: Request) -> Response:
    return JSONResponse(discovery_document(issuer_of(request), pkce=sandbox_of(request).config.pkce))


async def certs(request: Request) -> Response:
    return JSONResponse(sandbox_of(request).keys.jwks())


def _user_grant(request: Request) -> tuple[Grant, dict[str, str]]:
    sandbox = sandbox_of(request)
    grant, status = authenticate(sandbox.tokens, sandbox.limiter, request.headers)
    if grant.kind != "user":
        raise SandboxHTTPError(api_error(401, "Your OAuth2 token is incorrect or has expired"))
    return grant, status.headers()


async def userinfo(request: Request) -> Response:
    grant, headers = _user_grant(request)
    assert grant.user_id is not None
    assert grant.user_type is not None
    record = sandbox_of(request).store.user(grant.user_id)
    user = login_user(record, grant.user_type) if record is not None else None
    if user is None:
        # The person (or this role of theirs) is gone since the login: the token no longer
        # stands for anyone.
        return api_error(401, "Your OAuth2 token is incorrect or has expired", headers=headers)
    spelling = sandbox_of(request).config.user_type_spelling
    return JSONResponse(userinfo_body(user, grant.authorized_by, spelling), headers=headers)


async def me(request: Request) -> Response:
    sandbox = sandbox_of(request)
    grant, status = authenticate(sandbox.tokens, sandbox.limiter, request.headers)
    return JSONResponse(me_body(grant), headers=status.headers())


async def get_oidc(request: Request) -> Response:
    return JSONResponse({"enabled": sandbox_of(request).oidc_enabled})


async def put_oidc(request: Request) -> Response:
    """Switches id_tokens on or off, as Clever Support does per app; reset restores the config."""
    try:
        data = await request.json()
    except ValueError:
        data = None
    enabled = data.get("enabled") if isinstance(data, dict) else None
    if not isinstance(enabled, bool) or set(data) != {"enabled"}:
        return JSONResponse(
            {"error": "invalid_request", "message": 'the body must be {"enabled": true|false}'},
            status_code=400,
        )
    sandbox_of(request).oidc_enabled = enabled
    return JSONResponse({"enabled": enabled})


def identity_routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/oauth/certs", certs, methods=["GET"]),
        # Clever's attribute request may be a GET or a POST.
        Route("/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/v3.0/me", me, methods=["GET"]),
        Route("/sandbox/oidc", get_oidc, methods=["GET"]),
        Route("/sandbox/oidc", put_oidc, methods=["PUT"]),
    ]
