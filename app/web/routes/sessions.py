"""What the partner's frontend, gateway and backend services ask: who is this session?"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, TypedDict, get_args
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, HTTPConnection, Request, cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from app.login.transaction import LoginMethod
from app.roster.principal import Principal, Timestamp, keeping_last_good, unavailable_parts
from app.sessions.store import Session
from app.web.problems import AppError
from app.web.services import Services, services

logger = logging.getLogger("app.service_auth")

MAX_INTROSPECT_BODY = 4096
# `{"token": ...}` needs one level; json.loads recurses once per level and a body of 1,500 `[`
# (well within 4 KiB) ends in a RecursionError, so deeper bodies are refused before parsing.
MAX_JSON_NESTING = 8
# A session may fetch its roster again at most this often (POST /auth/session/refresh), from
# the store or live.
REFRESH_INTERVAL_SECONDS = 30
# ... and sooner while a part of its roster is unavailable (app.roster.fetch), so a frontend
# can fill it in once Clever answers again without waiting out the whole interval.
PARTIAL_REFRESH_INTERVAL_SECONDS = 5


def session_routes() -> list[BaseRoute]:
    return [
        # First: the gateway asks it on every request, and routes are tried in order.
        Route("/auth/verify", Verify(), methods=["GET"], name="verify"),
        Route("/auth/session", get_session, methods=["GET"]),
        Route("/auth/session/refresh", refresh_session, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Route("/auth/introspect", introspect, methods=["POST"]),
        Route("/auth/users/{user_id}/sessions", end_user_sessions, methods=["DELETE"]),
        Route("/auth/districts/{district_id}/sessions", end_district_sessions, methods=["DELETE"]),
    ]


class SessionTimes(TypedDict):
    created_at: Timestamp
    expires_at: Timestamp
    idle_expires_at: Timestamp
    login_method: Annotated[str, {"enum": list(get_args(LoginMethod))}]


class SessionAnswer(Principal):
    """What `GET /auth/session` answers (and introspection's `principal`): the Principal and
    this session's times; `/openapi.json` describes it from this type."""

    session: SessionTimes


def session_body(session: Session) -> SessionAnswer:
    return {
        **session.principal,
        "session": {
            "created_at": _iso(session.created_at),
            "expires_at": _iso(session.expires_at),
            "idle_expires_at": _iso(session.idle_expires_at),
            "login_method": session.login_method,
        },
    }


async def current_session(connection: HTTPConnection) -> Session:
    svc = services(connection)
    session = await validate(svc, svc.cookies.session_token(connection))
    if session is None:
        raise AppError("no_session")
    return session


async def validate(svc: Services, token: str | None) -> Session | None:
    """The live session `token` names, if any; every validation is counted, whatever it finds."""
    session = await svc.sessions.load(token) if token else None
    svc.metrics.session_validation("valid" if session is not None else "invalid" if token else "no_session")
    return session


async def get_session(request: Request) -> Response:
    return JSONResponse(session_body(await current_session(request)))


async def refresh_session(request: Request) -> Response:
    svc = services(request)
    session = await current_session(request)
    if not session.district_id:
        # A Clever Library login: its roster is read with the person's own token, which the
        # session does not keep; it is read again at each login (README, "Clever Library logins").
        raise AppError("refresh_needs_login")
    # A refresh that goes live spends calls on the district token that every login of the
    # district shares (1200/min at Clever): one session looping on it must not starve the others.
    partial = bool(unavailable_parts(session.principal))
    interval = PARTIAL_REFRESH_INTERVAL_SECONDS if partial else REFRESH_INTERVAL_SECONDS
    wait = await svc.sessions.claim_refresh(session, interval)
    if wait:
        raise AppError("refresh_too_soon", headers={"Retry-After": str(wait)})
    primary_role = session.principal["user"]["primary_role"]
    settings = svc.settings

    roster, directory = await svc.person_roster(
        "refresh", user_id=session.user_id, district_id=session.district_id, login_user_type=primary_role
    )
    if not roster.holds_any(settings.allowed_roles):
        await svc.sessions.delete(session)  # as the events worker does when a role is lost
        raise AppError("role_not_allowed")
    principal = keeping_last_good(
        roster.principal(
            login_user_type=primary_role, student_fields=settings.student_fields, directory=directory
        ),
        session.principal,
    )
    return JSONResponse(session_body(await svc.sessions.replace_principal(session, principal)))


async def logout(request: Request) -> Response:
    svc = services(request)
    # The bearer token's session and the cookie's: a frontend may send its own API token with
    # every call, and the cookie cleared below must not leave its session alive (SECURITY.md, 19).
    for token in svc.cookies.every_session_token(request):
        await svc.sessions.delete_ticket(token)
    # "cache" only: "cookies" would also wipe the partner's other cookies on the whole site.
    response = Response(status_code=204, headers={"Clear-Site-Data": '"cache"'})
    svc.cookies.clear_session(response)
    return response


class Verify:
    """Forward-auth (nginx auth_request, Traefik/Envoy): 200 with identity headers, or 401.

    Called on every request the partner's gateway lets through, so it is a plain ASGI app under
    its route (no Request or Response objects; the route, the middleware and the error handlers
    are the same as for any other endpoint). It answers what `Response(status_code=200,
    headers={...})` would, and raises `AppError("no_session")` as `current_session` does.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc: Services = scope["app"].state.services
        session = await validate(svc, session_token(scope["headers"], svc.cookies.session_name))
        if session is None:
            raise AppError("no_session")
        user = session.principal["user"]
        headers = [
            (b"x-clever-user-id", session.user_id.encode("latin-1")),
            (b"x-clever-district-id", session.district_id.encode("latin-1")),
            (b"x-clever-roles", ",".join(user["roles"]).encode("latin-1")),
            (b"x-clever-primary-role", (user["primary_role"] or "").encode("latin-1")),
            (b"x-clever-authorized-by", user.get("authorized_by", "district").encode("latin-1")),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def session_token(headers: Iterable[tuple[bytes, bytes]], cookie_name: str) -> str | None:
    """`Cookies.session_token` over the raw ASGI headers: `Authorization: Bearer` first, else the
    session cookie (the first Authorization header counts; of several cookies, the last)."""
    authorization = None
    cookies: list[bytes] = []
    for name, value in headers:
        if name == b"authorization":
            if authorization is None:
                authorization = value
        elif name == b"cookie":
            cookies.append(value)
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    found = None
    for value in cookies:
        found = cookie_parser(value.decode("latin-1")).get(cookie_name, found)
    return found


async def introspect(request: Request) -> Response:
    """RFC 7662 style, for the partner's backend services (HTTP Basic with SERVICE_CLIENTS)."""
    svc = services(request)
    await service_client(request, svc)
    token = _introspected_token(await _bounded_body(request), request.headers.get("content-type", ""))
    session = await validate(svc, token)
    if session is None:
        return JSONResponse({"active": False})
    user = session.principal["user"]
    return JSONResponse(
        {
            "active": True,
            "sub": session.user_id,
            "district": session.district_id or None,
            "authorized_by": user.get("authorized_by", "district"),
            "roles": user["roles"],
            "primary_role": user["primary_role"],
            "iat": int(session.created_at),
            "exp": int(session.expires_at),
            "principal": session_body(session),
        }
    )


async def end_user_sessions(request: Request) -> Response:
    svc = services(request)
    await service_client(request, svc)
    return JSONResponse({"ended": await svc.sessions.delete_user(request.path_params["user_id"])})


async def end_district_sessions(request: Request) -> Response:
    svc = services(request)
    await service_client(request, svc)
    return JSONResponse({"ended": await svc.sessions.delete_district(request.path_params["district_id"])})


async def service_client(request: Request, svc: Services) -> None:
    """Checks the calling service's HTTP Basic credentials, in constant time.

    Credentials that name a client count against its failure window (app.web.throttle), and are
    not checked at all while it is full; no credentials, or undecodable ones, guess nothing.
    """
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Basic realm="clever-login"'}
    if scheme.lower() != "basic":
        raise AppError("unauthorized_client", headers=challenge)
    try:
        name, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AppError("unauthorized_client", headers=challenge) from None
    throttle = svc.service_auth
    label = throttle.label(name)
    wait = await throttle.wait(name)
    if wait:
        svc.metrics.service_auth_failure(label, "throttled")
        raise AppError("client_throttled", headers={"Retry-After": str(wait)})
    matched = False
    for client in svc.settings.service_clients:
        name_ok = hmac.compare_digest(client.name.encode(), name.encode())
        secret_ok = hmac.compare_digest(str(client.secret).encode(), secret.encode())
        if name_ok and secret_ok:
            matched = True
    if not matched:
        failure = await throttle.failed(name)
        svc.metrics.service_auth_failure(label, "rejected")
        # Security events (SECURITY.md, requirement 40): the client's configured name or
        # `unknown`, never what was sent. At most one per failure until the window fills, then one.
        logger.warning(
            "service client authentication failed",
            extra={"event": "service_auth_failed", "code": "unauthorized_client", "client": label},
        )
        if failure.engaged:
            logger.warning(
                "service client authentication throttled",
                extra={
                    "event": "service_auth_throttled",
                    "code": "client_throttled",
                    "client": label,
                    "window_seconds": throttle.window_seconds,
                },
            )
        raise AppError("unauthorized_client", headers=challenge)


async def _bounded_body(request: Request) -> bytes:
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_INTROSPECT_BODY:
                raise AppError("invalid_request")
    except ClientDisconnect as exc:
        # The client left, or was cut off at the request timeout, before its body came whole;
        # nobody reads the answer, but it must not be a 500 with a traceback in the log.
        raise AppError("invalid_request") from exc
    return body


def _introspected_token(body: bytes, content_type: str) -> str | None:
    """`token` from a form-encoded body (RFC 7662) or a JSON one."""
    try:
        if content_type.startswith("application/json"):
            if _nesting(body) > MAX_JSON_NESTING:
                raise ValueError("nested too deeply")
            value = json.loads(body).get("token")
        else:
            values = parse_qs(body.decode(), strict_parsing=False).get("token", [])
            value = values[0] if len(values) == 1 else None
    except (ValueError, AttributeError, UnicodeDecodeError):
        raise AppError("invalid_request") from None
    return value if isinstance(value, str) and value else None


def _nesting(body: bytes) -> int:
    """How deeply the JSON text nests arrays and objects, brackets inside strings not counted.

    One pass without recursion; on text that is not JSON the number is meaningless, and the
    parser refuses that text anyway.
    """
    deepest = depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
