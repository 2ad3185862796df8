"""CORS for the listed frontend origins, and CSRF checks on state-changing calls.

SECURITY.md, requirement 22. The frontend calls the JSON API with
credentials from the origins in CORS_ORIGINS only. A browser request that could change state
and carries a cookie must also carry `X-Requested-With`: a cross-origin page cannot add that
header without a preflight, and preflights from unlisted origins are refused. Its `Origin`, when
sent, must be ours or a listed one.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.clever.http import origin_of
from app.web.middleware import headers
from app.web.problems import json_problem

ALLOWED_METHODS = ("GET", "POST", "DELETE")
ALLOWED_HEADERS = ("X-Requested-With", "Content-Type", "Authorization")
PREFLIGHT_MAX_AGE = 600
# Everything else is treated as able to change state, unknown methods included.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

logger = logging.getLogger("app.csrf")


def parse_origin(raw: bytes) -> str | None:
    """The normalised origin a header value names, or None for `null` or anything not an origin.

    Browsers send `scheme://host[:port]` and nothing more; a value with a path, user-info, query
    or white space did not come from one and is not trusted.
    """
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text or any(ch <= " " or ch == "\x7f" for ch in text):
        return None
    parts = urlsplit(text)
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    try:
        return origin_of(text)
    except ValueError:  # `null`, other schemes, a bad port
        return None


class CorsAndCsrf:
    """Pure ASGI middleware: CORS with credentials for `cors_origins`, CSRF checks under a prefix.

    - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from a listed
      origin gets 204 with the allowed methods and headers; from any other origin (`null` and
      several `Origin` headers included) 403 `cors_origin_denied`. Preflights never reach the app.
    - Other answers get `Access-Control-Allow-Origin` and `-Credentials` only for a listed origin,
      and always `Vary: Origin`.
    - A request under `protected_prefix` with a method other than GET, HEAD or OPTIONS is refused
      with 403 `csrf_header_missing` when it carries a cookie but no `X-Requested-With`, and with
      403 `csrf_origin_denied` when it has an `Origin` that is neither `own_origin` nor listed (or
      several). Without a cookie (service clients with Basic, bearer tokens) there is no ambient
      credential to abuse, so the header is not required.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        own_origin: str,
        cors_origins: frozenset[str],
        protected_prefix: str = "/auth/",
    ) -> None:
        self.app = app
        self.cors_origins = frozenset(origin_of(origin) for origin in cors_origins)
        self.trusted_origins = self.cors_origins | {origin_of(own_origin)}
        self.protected_prefix = protected_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        raw_headers = scope["headers"]
        origins = headers.values(raw_headers, b"origin")
        # Several Origin headers are never sent by a browser: trust none of them.
        origin = parse_origin(origins[0]) if len(origins) == 1 else None
        cors_origin = origin if origin in self.cors_origins else None
        method = scope["method"]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = headers.response_headers(message)
                headers.add_vary(raw, b"Origin")
                if cors_origin is not None:
                    headers.replace(raw, b"access-control-allow-origin", cors_origin.encode())
                    headers.replace(raw, b"access-control-allow-credentials", b"true")
            await send(message)

        if method == "OPTIONS" and origins and headers.values(raw_headers, b"access-control-request-method"):
            await self._preflight(cors_origin)(scope, receive, send_with_cors)
            return

        if method not in _SAFE_METHODS and _protected(scope, self.protected_prefix):
            refusal = self._csrf_refusal(origins, origin, raw_headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_cors)
                return

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    def _preflight(cors_origin: str | None) -> Response:
        if cors_origin is None:
            return _refused("cors_origin_denied")
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
                "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
            },
        )

    def _csrf_refusal(
        self, origins: list[bytes], origin: str | None, raw_headers: list[tuple[bytes, bytes]]
    ) -> Response | None:
        has_cookie = any(value.strip() for value in headers.values(raw_headers, b"cookie"))
        if has_cookie and not headers.values(raw_headers, b"x-requested-with"):
            return _refused("csrf_header_missing")
        # Refused with or without a cookie: a listed frontend or a server-side client has no
        # reason to send a foreign Origin, and a browser cannot hide the one it sends.
        if origins and origin not in self.trusted_origins:
            return _refused("csrf_origin_denied")
        return None


def _protected(scope: Scope, prefix: str) -> bool:
    """Whether the path, with or without the `root_path` a proxy may have put in front, is under
    `prefix`: checking both cannot miss the path the router will match."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if path.startswith(prefix):
        return True
    return bool(root_path) and path.startswith(root_path) and path[len(root_path) :].startswith(prefix)


def _refused(code: str) -> Response:
    # A security event (SECURITY.md, requirement 40): the code only, never the origin a client sent.
    logger.info("cross-origin request refused", extra={"event": "csrf_rejected", "code": code})
    return json_problem(code)
