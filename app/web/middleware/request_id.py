"""A request id per request: taken from a sane `X-Request-ID`, else made; logged and echoed."""

from __future__ import annotations

import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import REQUEST_ID

HEADER = b"x-request-id"
# What a proxy's id looks like (uuids, hex, base64url, dotted/colon-separated); anything else,
# or anything longer, is replaced so that a client cannot write into our logs.
_SANE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The incoming id when there is exactly one and it is sane, else a fresh one."""
    given = [value for name, value in headers if name.lower() == HEADER]
    if len(given) == 1 and _SANE.fullmatch(given[0]):
        return given[0].decode("ascii")
    return fresh_id()


def fresh_id() -> str:
    """128 random bits as 32 hex digits, like a uuid4's hex, for a quarter of its cost."""
    return os.urandom(16).hex()


class RequestId:
    """Pure ASGI middleware: puts the request's id where log records find it (`REQUEST_ID`)
    and in the answer's `X-Request-ID` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope["headers"])
        encoded = rid.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value) for name, value in message.get("headers", ()) if name.lower() != HEADER
                ]
                headers.append((HEADER, encoded))
                message["headers"] = headers
            await send(message)

        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
