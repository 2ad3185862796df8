"""Clever's OAuth paths: authorize, instant-login, logout and the token endpoint.

Like Clever, the sandbox remembers who signed in (a sign-in cookie on `/oauth/`), so a later
authorize without `login_hint` goes straight back with a code. `/oauth/logout` forgets them (the
picker's "Not you?" link, and a partner page's log-out), so the next login asks again. Its picker
links also carry `login_role`, a sandbox-only parameter that chooses the role of a multi-role
person's login; without it a person signs in in the role of their first demo login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from clever_sandbox.errors import oauth_error
from clever_sandbox.identity import USER_TYPES, id_token_claims, issuer_of, login_user, sandbox_of
from clever_sandbox.pages import PickerEntry, PickerGroup, SignedIn, error_page, picker_page, signed_out_page
from clever_sandbox.state import Sandbox
from clever_sandbox.tokens import CodeError

SIGN_IN_COOKIE = "clever_sandbox_signin"
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest, unpadded

# Picker groups, in page order.
_KINDS = (
    ("student", "Students"),
    ("teacher", "Teachers"),
    ("teacher+staff", "Teachers who are also staff"),
    ("staff", "Staff"),
    ("district_admin", "District admins"),
    ("contact", "Contacts (parents and guardians)"),
    ("library", "Clever Library (authorized by a teacher, no district)"),
)


@dataclass(frozen=True, slots=True)
class Choice:
    """Who signs in, and in which role."""

    user_id: str
    user_type: str

    def cookie_value(self) -> str:
        return f"{self.user_id}:{self.user_type}"

    @classmethod
    def from_cookie(cls, value: str | None) -> Choice | None:
        user_id, _, user_type = (value or "").partition(":")
        return cls(user_id, user_type) if user_id and user_type else None


def kind_of(roles: Mapping[str, Any]) -> str:
    """The picker group a person belongs in."""
    if "student" in roles:
        return "student"
    if "district_admin" in roles:
        return "district_admin"
    if "teacher" in roles and "staff" in roles:
        return "teacher+staff"
    for kind in ("teacher", "staff", "contact"):
        if kind in roles:
            return kind
    return "contact"


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """`uri` with `params` (None values left out) added to whatever query it already has."""
    parts = urlsplit(uri)
    extra = urlencode({key: value for key, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


def _resolve(sandbox: Sandbox, choice: Choice | None, district_id: str | None) -> Choice | None:
    """`choice` made concrete and checked against the store: the person exists, is in the
    requested district and holds the role."""
    if choice is None:
        return None
    record = sandbox.store.user(choice.user_id)
    if record is None or (district_id and record.get("district") != district_id):
        return None
    roles = record.get("roles") or {}
    user_type = choice.user_type or sandbox.store.login_role(choice.user_id) or ""
    if user_type not in USER_TYPES or user_type not in roles:
        return None
    authorized_by = sandbox.store.authorized_by(choice.user_id)
    # Clever Library serves teachers and students only, and only those a teacher's install covers.
    if authorized_by is None or (authorized_by == "teacher" and user_type not in _LIBRARY_USER_TYPES):
        return None
    return Choice(choice.user_id, user_type)


_LIBRARY_USER_TYPES = ("teacher", "student")


def issue_login_code(
    sandbox: Sandbox, choice: Choice, *, redirect_uri: str, nonce: str | None, code_challenge: str | None
) -> str:
    """A code for `choice`; a Library login's carries no district (Clever's Library rules)."""
    record = sandbox.store.user(choice.user_id)
    assert record is not None
    authorized_by = sandbox.store.authorized_by(choice.user_id) or "district"
    return sandbox.tokens.issue_code(
        client_id=sandbox.config.client_id,
        redirect_uri=redirect_uri,
        user_id=choice.user_id,
        district_id=record["district"] if authorized_by == "district" else "",
        user_type=choice.user_type,
        nonce=nonce,
        code_challenge=code_challenge,
        authorized_by=authorized_by,
    )


@dataclass(frozen=True, slots=True)
class _Pick:
    choice: Choice | None
    notice: str | None = None


def _pick(request: Request, district_id: str | None) -> _Pick:
    """The login hint if there is one, else whoever the sign-in cookie remembers."""
    sandbox = sandbox_of(request)
    hint = request.query_params.get("login_hint")
    if hint:
        role = request.query_params.get("login_role") or ""
        choice = _resolve(sandbox, Choice(hint, role), district_id)
        if choice is None:
            where = f" in district {district_id}" if district_id else ""
            return _Pick(None, f"No demo user {hint}{where} can sign in that way; pick one below.")
        return _Pick(choice)
    remembered = Choice.from_cookie(request.cookies.get(SIGN_IN_COOKIE))
    return _Pick(_resolve(sandbox, remembered, district_id))


def _remembered(request: Request, base: Mapping[str, str]) -> SignedIn | None:
    """Who the sign-in cookie names (in any district), with a link that forgets them and comes
    back to this page."""
    sandbox = sandbox_of(request)
    choice = _resolve(sandbox, Choice.from_cookie(request.cookies.get(SIGN_IN_COOKIE)), None)
    if choice is None:
        return None
    record = sandbox.store.user(choice.user_id)
    assert record is not None
    label = next(
        (
            demo.label
            for demo in sandbox.store.demo_logins()
            if (demo.user_id, demo.user_type) == (choice.user_id, choice.user_type)
        ),
        " ".join(part for part in ((record.get("name") or {}).get(k) for k in ("first", "last")) if part),
    )
    back = with_query(request.url.path, base)
    return SignedIn(label, with_query("logout", {"post_logout_redirect_uri": back}))


def _picker(
    request: Request, path: str, district_id: str | None, cancel_href: str, notice: str | None
) -> Response:
    sandbox = sandbox_of(request)
    base = {k: v for k, v in request.query_params.items() if k not in ("login_hint", "login_role")}
    groups: dict[str, list[PickerEntry]] = {kind: [] for kind, _ in _KINDS}
    for demo in sandbox.store.demo_logins():
        if district_id and demo.district_id != district_id:
            continue
        record = sandbox.store.user(demo.user_id)
        if record is None:
            continue
        href = with_query(path, {**base, "login_hint": demo.user_id, "login_role": demo.user_type})
        detail = "signs in as " + demo.user_type.replace("_", " ")
        library = sandbox.store.authorized_by(demo.user_id) == "teacher"
        kind = "library" if library else kind_of(record.get("roles") or {})
        groups[kind].append(PickerEntry(demo.label, detail, href))
    page = picker_page(
        [PickerGroup(title, groups[kind]) for kind, title in _KINDS],
        cancel_href=cancel_href,
        notice=notice,
        signed_in=_remembered(request, base),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def _signed_in(location: str, choice: Choice) -> Response:
    response = RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})
    response.set_cookie(SIGN_IN_COOKIE, choice.cookie_value(), path="/oauth/", httponly=True, samesite="lax")
    return response


def _bad_request_page(title: str, message: str) -> Response:
    return HTMLResponse(error_page(title, message), status_code=400)


def _pkce_problem(params: QueryParams) -> str | None:
    """What is wrong with the authorize request's PKCE parameters, if anything.

    Clever documents no PKCE support, so only `SandboxConfig(pkce="enforced")` asks this: it
    accepts S256 as a conforming server would, and then requires the matching verifier at the
    token endpoint; `plain` is refused (RFC 9700).
    """
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None and method is None:
        return None
    if challenge is None:
        return "code_challenge_method without code_challenge"
    if method != "S256":
        return "code_challenge_method must be S256"
    if not _CHALLENGE.fullmatch(challenge):
        return "code_challenge is not an S256 challenge"
    return None


async def authorize(request: Request) -> Response:
    sandbox = sandbox_of(request)
    params = request.query_params
    # Until client and redirect_uri are known good, errors are shown, never redirected (RFC 6749 4.1.2.1).
    if params.get("client_id") != sandbox.config.client_id:
        return _bad_request_page("Unknown application", "The client_id is missing or not registered.")
    redirect_uri = params.get("redirect_uri")
    if redirect_uri not in sandbox.config.redirect_uris:
        return _bad_request_page(
            "Invalid redirect URI",
            "The redirect_uri is missing or is not exactly one of the application's registered URIs.",
        )
    state = params.get("state")

    def fail(error: str, description: str) -> Response:
        location = with_query(
            redirect_uri, {"error": error, "error_description": description, "state": state}
        )
        return RedirectResponse(location, status_code=302)

    if params.get("response_type") != "code":
        return fail("unsupported_response_type", "response_type must be code")
    # Unless enforced, PKCE parameters are ones Clever does not document: ignored (RFC 6749 3.1).
    enforced = sandbox.config.pkce == "enforced"
    problem = _pkce_problem(params) if enforced else None
    if problem is not None:
        return fail("invalid_request", problem)

    district_id = params.get("district_id") or None
    pick = _pick(request, district_id)
    if pick.choice is None:
        cancel = with_query(redirect_uri, {"error": "access_denied", "state": state})
        return _picker(request, "authorize", district_id, cancel, pick.notice)
    code = issue_login_code(
        sandbox,
        pick.choice,
        redirect_uri=redirect_uri,
        nonce=params.get("nonce"),
        code_challenge=params.get("code_challenge") if enforced else None,
    )
    return _signed_in(with_query(redirect_uri, {"code": code, "state": state}), pick.choice)


async def instant_login(request: Request) -> Response:
    """A Clever Portal or Instant Login launch: a code for the primary (first) redirect URI, no state."""
    sandbox = sandbox_of(request)
    if request.query_params.get("client_id") != sandbox.config.client_id:
        return _bad_request_page("Unknown application", "The client_id is missing or not registered.")
    primary = sandbox.config.redirect_uris[0]
    district_id = request.query_params.get("district_id") or None
    pick = _pick(request, district_id)
    if pick.choice is None:
        # As at authorize: Cancel answers the application access_denied, here without a state.
        cancel = with_query(primary, {"error": "access_denied"})
        return _picker(request, "instant-login", district_id, cancel, pick.notice)
    code = issue_login_code(sandbox, pick.choice, redirect_uri=primary, nonce=None, code_challenge=None)
    return _signed_in(with_query(primary, {"code": code}), pick.choice)


def _may_return_to(request: Request, uri: str) -> bool:
    """A path of the sandbox, a URL on its own origin, or a registered URL: never anywhere else."""
    if any(ord(char) < 0x21 or char == "\\" for char in uri):
        return False
    if uri.startswith("/"):
        return not uri.startswith("//")
    config = sandbox_of(request).config
    if uri in config.redirect_uris or uri in config.post_logout_redirect_uris:
        return True
    parts, own = urlsplit(uri), urlsplit(str(request.base_url))
    return "@" not in parts.netloc and (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


async def logout(request: Request) -> Response:
    """Forgets the signed-in demo user, then goes back to `post_logout_redirect_uri`. A target
    this sandbox may not send a browser to gets a 400 page instead, and nothing is forgotten."""
    target = request.query_params.get("post_logout_redirect_uri")
    if target is None:
        response: Response = HTMLResponse(signed_out_page(home_href="../"))
    elif _may_return_to(request, target):
        response = RedirectResponse(target, status_code=302)
    else:
        return _bad_request_page(
            "Invalid redirect URI",
            "The post_logout_redirect_uri is neither a page of this sandbox nor a registered URI.",
        )
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(SIGN_IN_COOKIE, path="/oauth/", httponly=True, samesite="lax")
    return response


# --- token endpoint --------------------------------------------------------------------------


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _client_ok(sandbox: Sandbox, request: Request) -> bool:
    credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is None:
        return False
    client_id, secret = credentials
    config = sandbox.config
    same_id = hmac.compare_digest(client_id.encode(), config.client_id.encode())
    same_secret = hmac.compare_digest(secret.encode(), config.client_secret.encode())
    return same_id and same_secret


def _invalid_client() -> Response:
    response = oauth_error(401, "invalid_client", "Invalid client credentials")
    response.headers["WWW-Authenticate"] = 'Basic realm="Clever"'
    return response


class BodyError(ValueError):
    pass


def parse_token_body(content_type: str, body: bytes) -> dict[str, str]:
    """The token request's fields from a JSON or form-encoded body; BodyError otherwise."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise BodyError("Invalid JSON body") from exc
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise BodyError("The body must be a JSON object of strings")
        return data
    if media_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BodyError("Invalid form body") from exc
        if any(len(values) > 1 for values in fields.values()):
            raise BodyError("Parameters must not repeat")
        return {key: values[0] for key, values in fields.items()}
    raise BodyError("Invalid content type")


def _token_answer(body: dict[str, Any]) -> Response:
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def exchange_code(request: Request) -> Response:
    sandbox = sandbox_of(request)
    if not _client_ok(sandbox, request):
        return _invalid_client()
    try:
        fields = parse_token_body(request.headers.get("content-type", ""), await request.body())
    except BodyError as exc:
        return oauth_error(400, "invalid_request", str(exc))
    grant_type = fields.get("grant_type")
    if grant_type != "authorization_code":
        if not grant_type:
            return oauth_error(400, "invalid_request", "Missing grant_type")
        return oauth_error(400, "unsupported_grant_type", "Only authorization_code is supported")
    code = fields.get("code")
    if not code:
        return oauth_error(400, "invalid_request", "Missing code")
    try:
        issued = sandbox.tokens.redeem_code(
            code,
            client_id=sandbox.config.client_id,
            redirect_uri=fields.get("redirect_uri", ""),
            # Ignored unless PKCE is enforced, as any parameter the server does not know (RFC 6749 3.2).
            code_verifier=fields.get("code_verifier") if sandbox.config.pkce == "enforced" else None,
        )
    except CodeError as exc:
        return oauth_error(400, "invalid_grant", exc.description)
    record = sandbox.store.user(issued.user_id)
    user = login_user(record, issued.user_type) if record is not None else None
    if user is None:
        return oauth_error(400, "invalid_grant", "Invalid grant: invalid code")
    answer: dict[str, Any] = {"access_token": sandbox.tokens.issue_user_token(issued), "token_type": "bearer"}
    # Clever issues no id_token for Library logins, OIDC or not: they use /userinfo.
    if sandbox.oidc_enabled and issued.authorized_by == "district":
        claims = id_token_claims(
            user,
            issuer=issuer_of(request),
            client_id=issued.client_id,
            nonce=issued.nonce,
            issued_at=int(time.time()),
            ttl_seconds=sandbox.config.id_token_ttl_seconds,
            spelling=sandbox.config.user_type_spelling,
        )
        answer["id_token"] = sandbox.keys.sign(claims)
    return _token_answer(answer)


def token_record_id(token: str) -> str:
    """A stable, Clever-looking id for a token's record that does not reveal the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def _created(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def list_district_tokens(request: Request) -> Response:
    sandbox = sandbox_of(request)
    if not _client_ok(sandbox, request):
        return _invalid_client()
    params = request.query_params
    if params.get("owner_type") != "district":
        return oauth_error(400, "invalid_request", "owner_type must be district")
    wanted = params.get("district")
    items = []
    for district_id in sandbox.store.district_ids():
        if wanted and district_id != wanted:
            continue
        token = sandbox.tokens.district_token(district_id, sandbox.config.client_id)
        grant = sandbox.tokens.lookup(token)
        assert grant is not None
        items.append(
            {
                "id": token_record_id(token),
                "created": _created(grant.created_at),
                "owner": {"type": "district", "id": district_id},
                "access_token": token,
                "scopes": sorted(sandbox.config.scopes),
            }
        )
    self_query = {"owner_type": "district", "district": wanted or None}
    links = [{"rel": "self", "uri": with_query("/oauth/tokens", self_query)}]
    return _token_answer({"data": items, "links": links})


def oauth_routes() -> list[BaseRoute]:
    return [
        Route("/oauth/authorize", authorize, methods=["GET"]),
        Route("/oauth/instant-login", instant_login, methods=["GET"]),
        Route("/oauth/logout", logout, methods=["GET"]),
        Route("/oauth/tokens", exchange_code, methods=["POST"]),
        Route("/oauth/tokens", list_district_tokens, methods=["GET"]),
    ]
