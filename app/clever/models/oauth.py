"""OAuth and identity answers: tokens, `/v3.0/me`, `/userinfo`, OIDC discovery and keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from app.clever.models.base import CleverModel, Id, Links, NullAsEmpty, StrList
from app.clever.models.users import Name

# How a login was authorized: by the person's district, or (Clever Library) by a teacher who
# installed the app. Clever's `authorized_by` field; we derive it from the district's presence.
AuthorizedBy = Literal["district", "teacher"]

# Tokens are kept out of reprs so a logged model never carries one.
Secret = Annotated[str, Field(min_length=1, repr=False)]


class TokenResponse(CleverModel):
    """The code exchange's answer. Only `access_token` is certain; Clever adds `id_token` for OIDC apps."""

    access_token: Secret
    token_type: str | None = None
    id_token: Annotated[str | None, Field(repr=False)] = None
    expires_in: int | None = None
    scope: str | None = None


class TokenOwner(CleverModel):
    type: str
    id: Id


class DistrictToken(CleverModel):
    id: str | None = None
    created: str | None = None
    owner: TokenOwner
    access_token: Secret
    scopes: StrList = Field(default_factory=list)


class DistrictTokens(CleverModel):
    """`GET /oauth/tokens?owner_type=district`: a plain list, items not wrapped in `data`."""

    data: Annotated[list[DistrictToken], NullAsEmpty]
    links: Links = Field(default_factory=list)


class Me(CleverModel):
    """`/v3.0/me`'s `data`. Since v3.0 `type` is always "user": roles come from the user object.

    `district` is absent only for users no district shared (Library sign-ups).
    """

    id: Id
    district: str | None = None
    type: str | None = None
    authorized_by: str | None = None


class MeResponse(CleverModel):
    type: str | None = None
    data: Me
    links: Links = Field(default_factory=list)


class UserInfo(CleverModel):
    """`/userinfo`: the current login's role only (`user_type`); `sub` is the v3 user id."""

    sub: Id
    user_id: str | None = None
    multi_role_user_id: str | None = None
    user_type: str | None = None
    district: str | None = None
    district_id: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    name: Name | None = None
    given_name: str | None = None
    family_name: str | None = None
    schools: StrList = Field(default_factory=list)
    authorized_by: str | None = None


class OpenIDConfiguration(CleverModel):
    issuer: Id
    authorization_endpoint: Id
    token_endpoint: Id
    jwks_uri: Id
    userinfo_endpoint: str | None = None
    response_types_supported: StrList = Field(default_factory=list)
    subject_types_supported: StrList = Field(default_factory=list)
    id_token_signing_alg_values_supported: StrList = Field(default_factory=list)
    scopes_supported: StrList = Field(default_factory=list)
    claims_supported: StrList = Field(default_factory=list)
    token_endpoint_auth_methods_supported: StrList = Field(default_factory=list)
    code_challenge_methods_supported: StrList = Field(default_factory=list)


def _every_key_has_kty(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not all(isinstance(key.get("kty"), str) for key in keys):
        raise ValueError("a JWK without kty")
    return keys


class JWKS(CleverModel):
    """The key set as published; each key stays a dict for the JOSE library to import."""

    keys: Annotated[list[dict[str, Any]], AfterValidator(_every_key_has_kty)]
