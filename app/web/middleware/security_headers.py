"""Security headers on every HTTP answer (SECURITY.md, requirements 11 and 23)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.serving.baseline import DEFAULT_HEADERS, FIXED_HEADERS, HSTS
from app.web.middleware import headers


class SecurityHeaders:
    """Pure ASGI middleware adding security headers to every HTTP response.

    Always sets `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
    `X-Frame-Options: DENY`, plus `Strict-Transport-Security` when `hsts` (i.e. COOKIE_SECURE);
    sets `Content-Security-Policy` and `Cache-Control: no-store` unless the route set its own.
    Only the response start is touched, so streamed bodies pass through unchanged.

    Wrap it outside the Starlette app rather than listing it in `middleware=[...]` if 500
    answers must carry the headers too: Starlette sends those from its outermost layer, outside
    any user middleware.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.fixed = (
            (*FIXED_HEADERS, (b"strict-transport-security", HSTS.encode())) if hsts else FIXED_HEADERS
        )
        self.fixed_names = frozenset(name for name, _ in self.fixed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # One pass over the route's headers (this runs on every answer, /auth/verify's too):
                # the fixed ones replace any the route set, the defaults fill in what it did not.
                kept: headers.RawHeaders = []
                present: set[bytes] = set()
                for name, value in message.get("headers", ()):
                    lower = name.lower()
                    if lower not in self.fixed_names:
                        kept.append((name, value))
                        present.add(lower)
                kept.extend(self.fixed)
                kept.extend(default for default in DEFAULT_HEADERS if default[0] not in present)
                message["headers"] = kept
            await send(message)

        await self.app(scope, receive, send_with_headers)
