"""Size limits on what a request may carry, checked before anything parses it.

uvicorn with httptools reads request heads of any size; our HTTP protocol
(`app.serving.http_protocol`) cuts a head off past MAX_HEAD_BYTES while it arrives, and this
middleware measures what got through, so that a 10 MB cookie never reaches the cookie parser.
Nothing this service is sent legitimately comes near these limits (a browser keeps a cookie under
4 KiB; the ingress in front normally caps a header line at 8 KiB); beyond them the answer is 414,
431 or 413 with a stable code, and the app never sees the request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.serving.baseline import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_HEADERS_BYTES,
    MAX_TARGET_BYTES,
)
from app.web.problems import json_problem


class RequestLimits:
    """Pure ASGI middleware refusing oversized requests: 414 `uri_too_long`,
    431 `headers_too_large`, 413 `body_too_large` (by its declared length)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        code = _refusal(scope)
        if code is None:
            await self.app(scope, receive, send)
            return
        await json_problem(code, {"Connection": "close"})(scope, receive, send)


def _refusal(scope: Scope) -> str | None:
    if len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"]) > MAX_TARGET_BYTES:
        return "uri_too_long"
    raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
    if len(raw_headers) > MAX_HEADER_COUNT:
        return "headers_too_large"
    total = 0
    declared_body = 0
    for name, value in raw_headers:
        size = len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            return "headers_too_large"
        total += size
        if name.lower() == b"content-length" and value.isdigit():
            declared_body = max(declared_body, int(value))
    if total > MAX_HEADERS_BYTES:
        return "headers_too_large"
    if declared_body > MAX_BODY_BYTES:
        return "body_too_large"
    return None
