"""uvicorn's httptools protocol with the limits a server facing the open internet needs.

uvicorn's own protocol holds a request head in memory whole, however large, and keeps a
connection open for as long as its request is unfinished: the size limits in
`app.web.middleware.limits` would only apply after the head had been read, and a client that
trickles a header line now and then, or connects and sends nothing, would hold its socket for
ever. This subclass counts the bytes of each head as they arrive and refuses an oversized one
at once (414 `uri_too_long`, 431 `headers_too_large`, the same JSON answers as the
middleware's), gives every request a deadline to arrive whole, and closes a connection that has
no request under way after the keep-alive timeout, fresh ones included (SECURITY.md, "Request
limits and slow clients").
"""

from __future__ import annotations

import asyncio
import functools
import http
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.errors import PROBLEMS, problem_body
from app.serving.baseline import BASELINE_HEADERS, MAX_HEAD_BYTES, MAX_TARGET_BYTES

# A refused client may still be sending; its bytes are read and dropped for this long after the
# answer, so that closing with unread data (which resets the connection) does not destroy the
# answer before the client reads it.
LINGER_SECONDS = 2.0
_JSON = (b"content-type", b"application/json")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a head-size cap, a request deadline and an idle timeout.

    `timeout_request` is how long a request may take to arrive whole, head and body, from its
    first byte. `--limit-concurrency` counts requests being served only, not every open socket,
    so that idle or unfinished connections cannot make real requests answer 503.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        timeout_request: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_request = timeout_request
        self.request_limit = self.limit_concurrency
        self.request_deadline: asyncio.TimerHandle | None = None
        self.head_bytes = 0
        self.in_head = False
        self.refused: str | None = None
        self.lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn starts the keep-alive timer only after a response; a fresh connection that
        # never sends anything is idle just the same.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        if self.request_deadline is None:
            self.request_deadline = self.loop.call_later(self.timeout_request, self._request_timed_out)
        super().data_received(data)
        # Counted after parsing: a head that began in this chunk counts it whole, one that ended
        # in it was measured by the middleware. The parser holds at most one chunk past the cap.
        if self.in_head:
            self.head_bytes += len(data)
        if self.in_head and self.refused is None and self.head_bytes > MAX_HEAD_BYTES:
            self.refused = "headers_too_large"
        if self.refused is not None and not self.lingering:
            self._refuse(self.refused)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = 0
        if self.request_deadline is None:
            self.request_deadline = self.loop.call_later(self.timeout_request, self._request_timed_out)

    def on_url(self, url: bytes) -> None:
        if self.refused is not None:
            return
        if len(self.url) + len(url) > MAX_TARGET_BYTES:
            self.refused = "uri_too_long"
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.refused is None:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.refused is not None:
            return  # never let the app see a head that was cut short
        # uvicorn refuses when open connections or running tasks reach the limit; only the
        # tasks are requests being served.
        busy = self.request_limit is not None and len(self.tasks) >= self.request_limit
        self.limit_concurrency = self.request_limit if busy else None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.refused is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        if self.refused is None:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request that began while this one was served gets its whole time again.
        if self.in_head and not self.transport.is_closing():
            self._cancel_deadline()
            self.request_deadline = self.loop.call_later(self.timeout_request, self._request_timed_out)

    def handle_websocket_upgrade(self) -> None:
        self._cancel_deadline()  # the connection is the WebSocket protocol's from here
        super().handle_websocket_upgrade()

    def _request_timed_out(self) -> None:
        self.request_deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body and not self.in_head:
            # The request arrived whole and is being served; bytes of a pipelined one wait on us.
            return
        if not self.transport.is_closing():
            self.transport.close()

    def _cancel_deadline(self) -> None:
        if self.request_deadline is not None:
            self.request_deadline.cancel()
            self.request_deadline = None

    def _refuse(self, code: str) -> None:
        self.lingering = True
        self._cancel_deadline()
        self._unset_keepalive_if_required()
        if self.transport.is_closing():
            return
        self.transport.write(refusal(code, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def refusal(code: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole HTTP answer for `code`, as the middleware would send it, ending the connection."""
    body = problem_body(code)
    status = http.HTTPStatus(PROBLEMS[code].status)
    lines = [f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()]
    own = ((b"connection", b"close"), (b"content-length", str(len(body)).encode()), _JSON)
    for name, value in (*default_headers, *own, *BASELINE_HEADERS):
        lines.append(name + b": " + value + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines) + body


def protocol_factory(timeout_request: float) -> type[asyncio.Protocol]:
    """What uvicorn's `http` option takes: the protocol class with our settings bound.

    A partial of a module-level class, so that it pickles into uvicorn's worker processes.
    """
    return cast(
        "type[asyncio.Protocol]",
        functools.partial(GuardedHttpToolsProtocol, timeout_request=timeout_request),
    )
