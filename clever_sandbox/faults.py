"""Injected faults: slow, failing or garbled answers on chosen paths, for resilience tests.

A fault rule (`POST /sandbox/faults`) matches requests by method and an fnmatch path pattern in
which `*` also crosses `/`. A matching request waits `latency_ms`, then either goes on to the
real handler (`status` null) or gets the fault's answer. `count` null keeps a rule until the
faults are cleared; a number lets it fire that many times. `every` N (default 1) makes a rule
fire on every Nth request it matches only; the others go on to the next rule, or the real
handler: occasional failures in a steady stream. The control API itself (`/sandbox/*`) is
never faulted, so a test can always clear what it set.

Two body kinds shape the delivery rather than the content, and need no status:
- `drip`: the answer (the real one when `status` is null) comes with its headers at once and
  its body a few bytes at a time (`DRIP_BYTES` every `DRIP_INTERVAL` seconds), as from a
  stalled network or an overloaded proxy;
- `reset`: the connection is cut part way through the body, as a crashing proxy leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from fnmatch import fnmatchcase
from typing import Any, Literal, cast

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clever_sandbox.errors import api_error, oauth_error

BodyKind = Literal["html", "malformed", "huge", "drip", "reset"]
BODY_KINDS: tuple[BodyKind, ...] = ("html", "malformed", "huge", "drip", "reset")
# Kinds that change how an answer is delivered, not what it says: they need no status.
DELIVERY_KINDS = frozenset({"drip", "reset"})
DRIP_BYTES = 8
DRIP_INTERVAL = 0.1
# A drip gives up trickling (and sends the rest) after this long, so no task outlives a test run.
DRIP_MAX_SECONDS = 60.0
MAX_LATENCY_MS = 120_000
HUGE_BODY_BYTES = 20 * 1024 * 1024
_FIELDS = frozenset({"path", "method", "status", "latency_ms", "body", "count", "every"})


class FaultError(ValueError):
    """A fault rule that cannot be accepted; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    path: str
    method: str = "*"
    status: int | None = None
    latency_ms: float = 0
    body: BodyKind | None = None
    count: int | None = None
    every: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatchcase(path, self.path)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_fault(data: object) -> FaultRule:
    """A FaultRule from its JSON form; absent fields count as null (method: `*`, latency: 0)."""
    if not isinstance(data, dict):
        raise FaultError("a fault is a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise FaultError(f"unknown field(s): {', '.join(unknown)}")

    path = data.get("path")
    # A path without its leading slash could never match: refuse it rather than arm a dud.
    if not isinstance(path, str) or not path.startswith(("/", "*")):
        raise FaultError("path: a pattern starting with '/' (or '*') is required")

    method = data.get("method", "*")
    if method is None:
        method = "*"
    if not isinstance(method, str) or not (method == "*" or (method.isascii() and method.isalpha())):
        raise FaultError("method: an HTTP method or '*'")

    status = data.get("status")
    if status is not None and not (_is_int(status) and 200 <= status <= 599):
        raise FaultError("status: null or an HTTP status from 200 to 599")

    latency = data.get("latency_ms", 0)
    if latency is None:
        latency = 0
    if (
        not isinstance(latency, int | float)
        or isinstance(latency, bool)
        or not math.isfinite(latency)
        or not 0 <= latency <= MAX_LATENCY_MS
    ):
        raise FaultError(f"latency_ms: a number from 0 to {MAX_LATENCY_MS}")

    body = data.get("body")
    if body is not None and body not in BODY_KINDS:
        raise FaultError(f"body: null or one of {', '.join(BODY_KINDS)}")
    if body is not None and status is None and body not in DELIVERY_KINDS:
        raise FaultError("body: needs a status to answer with")
    if body == "reset" and status is not None:
        raise FaultError("body: reset sends no status (the connection is cut)")
    if body is None and status is not None and status < 400:
        raise FaultError("body: a success status needs a body kind (null means Clever's error body)")

    count = data.get("count")
    if count is not None and not (_is_int(count) and count >= 1):
        raise FaultError("count: null (until cleared) or a positive integer")

    every = data.get("every", 1)
    if every is None:
        every = 1
    if not (_is_int(every) and 1 <= every <= 1_000_000):
        raise FaultError("every: a positive integer (the rule fires on every Nth matching request)")

    return FaultRule(
        path=path,
        every=every,
        method=method.upper(),
        status=status,
        latency_ms=latency,
        body=cast("BodyKind | None", body),
        count=count,
    )


class FaultSet:
    """The active fault rules, first added first matched.

    Tests may add rules from another thread than the server's, hence the lock.
    """

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._armed.append(_Armed(rule, rule.count))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def active(self) -> list[FaultRule]:
        """The rules still armed, each with its remaining count."""
        with self._lock:
            return [replace(armed.rule, count=armed.remaining) for armed in self._armed]

    def match(self, method: str, path: str) -> FaultRule | None:
        """The first rule for this request, spending one of its count."""
        with self._lock:
            for index, armed in enumerate(self._armed):
                if not armed.rule.matches(method, path):
                    continue
                armed.matched += 1
                if armed.matched % armed.rule.every:
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        del self._armed[index]
                return armed.rule
        return None


@dataclass(slots=True)
class _Armed:
    rule: FaultRule
    remaining: int | None
    matched: int = 0


def is_control_path(path: str) -> bool:
    return path == "/sandbox" or path.startswith("/sandbox/")


# --- answers -------------------------------------------------------------------------------

_OAUTH_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    403: "access_denied",
    503: "temporarily_unavailable",
}


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def clever_error_body(status: int, path: str) -> Response:
    """Clever's own error answer for `status` on `path`: OAuth shape on /oauth, else the Data API's."""
    if path.startswith("/oauth/"):
        error = _OAUTH_ERRORS.get(status, "server_error" if status >= 500 else "invalid_request")
        return oauth_error(status, error, _phrase(status))
    if status == 401:
        return api_error(401, "Your OAuth2 token is incorrect or has expired")
    return api_error(status, _phrase(status))


def _html_page(status: int) -> Response:
    phrase = _phrase(status)
    page = (
        f"<!DOCTYPE html><html><head><title>Clever | {status} {phrase}</title></head>"
        f"<body><h1>{status} {phrase}</h1><p>Something went wrong. Please try again later.</p></body></html>"
    )
    return HTMLResponse(page, status_code=status)


# JSON that stops part way, as a cut connection or a broken proxy leaves it.
_MALFORMED = b'{"data": [{"data": {"id": "5f1b2c3d4e", "name": {"first": "Tru'


def _malformed(status: int) -> Response:
    return Response(_MALFORMED, status_code=status, media_type="application/json")


_HUGE_ITEM = b'{"data": {"id": "000000000000000000000000", "padding": "' + b"x" * 1000 + b'"}}'


class _HugeJSON:
    """A valid JSON list answer of about `HUGE_BODY_BYTES`, written in chunks as it is sent.

    No Content-Length: the client only learns the size by reading, so only a read cap saves it.
    """

    def __init__(self, status: int, headers: dict[str, str], total: int = HUGE_BODY_BYTES) -> None:
        self.status = status
        self.headers = headers
        self.total = total

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        chunk = b",".join([_HUGE_ITEM] * 64)
        rounds = max(1, self.total // (len(chunk) + 1))
        await send({"type": "http.response.body", "body": b'{"data": [' + chunk, "more_body": True})
        for _ in range(rounds - 1):
            await send({"type": "http.response.body", "body": b"," + chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b'], "links": []}', "more_body": False})


def fault_answer(
    rule: FaultRule, path: str, rate_limit: int, now: Callable[[], float] = time.time
) -> ASGIApp:
    """What a fault rule with a status sends back for `path`."""
    assert rule.status is not None
    status = rule.status
    headers: dict[str, str] = {}
    if status == 429:
        headers = {
            "X-RateLimit-Limit": str(rate_limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(now()) + 1),
        }
    if rule.body == "huge":
        return _HugeJSON(status, headers)
    if rule.body == "html":
        response = _html_page(status)
    elif rule.body == "malformed":
        response = _malformed(status)
    else:
        response = clever_error_body(status, path)
    response.headers.update(headers)
    return response


class FaultMiddleware:
    """Applies the FaultSet to every HTTP request outside `/sandbox/`."""

    def __init__(self, app: ASGIApp, faults: FaultSet, rate_limit: int = 1200) -> None:
        self.app = app
        self.faults = faults
        self.rate_limit = rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_control_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        rule = self.faults.match(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.latency_ms:
            await anyio.sleep(rule.latency_ms / 1000)
        if rule.body == "reset":
            await _cut(send)
            return
        answer = self.app if rule.status is None else fault_answer(rule, scope["path"], self.rate_limit)
        if rule.body == "drip":
            await answer(scope, receive, _dripping(send, receive))
            return
        await answer(scope, receive, send)


async def _cut(send: Send) -> None:
    """Headers promising a body, part of it, then the connection closes (the server sees an
    unfinished answer and drops the connection)."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})


def _dripping(send: Send, receive: Receive) -> Send:
    """`send`, with every body split into small pieces sent slowly, until the client hangs up."""
    gone = asyncio.Event()
    watchers: list[asyncio.Task[None]] = []
    started = time.monotonic()

    async def watch() -> None:
        # Once the answer has started, the handler reads nothing more: what comes is the hang-up.
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    async def drip(message: Message) -> None:
        if message["type"] == "http.response.start":
            await send(message)
            watchers.append(asyncio.create_task(watch()))
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        try:
            for offset in range(0, len(body), DRIP_BYTES):
                if gone.is_set():
                    return  # nobody is waiting for the rest
                if time.monotonic() - started > DRIP_MAX_SECONDS:
                    await send({"type": "http.response.body", "body": body[offset:], "more_body": more})
                    return
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[offset : offset + DRIP_BYTES],
                        "more_body": True,
                    }
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), DRIP_INTERVAL)
            await send({"type": "http.response.body", "body": b"", "more_body": more})
        finally:
            if not more:
                for watcher in watchers:
                    watcher.cancel()

    return drip


# --- control routes ------------------------------------------------------------------------


def _control_error(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"error": error, "message": message}, status_code=status)


def _fault_set(request: Request) -> FaultSet:
    return cast("FaultSet", request.app.state.sandbox.faults)


async def add_fault(request: Request) -> Response:
    """Accepts one fault object or a list of them; all are checked before any is armed."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        return _control_error(400, "invalid_json", "the body must be a JSON fault object")
    try:
        rules = [parse_fault(item) for item in data] if isinstance(data, list) else [parse_fault(data)]
    except FaultError as exc:
        return _control_error(400, "invalid_fault", str(exc))
    faults = _fault_set(request)
    for rule in rules:
        faults.add(rule)
    return JSONResponse({"data": [rule.as_json() for rule in faults.active()]}, status_code=201)


async def list_faults(request: Request) -> Response:
    return JSONResponse({"data": [rule.as_json() for rule in _fault_set(request).active()]})


async def clear_faults(request: Request) -> Response:
    _fault_set(request).clear()
    return Response(status_code=204)


def fault_routes() -> list[BaseRoute]:
    return [
        Route("/sandbox/faults", add_fault, methods=["POST"]),
        Route("/sandbox/faults", list_faults, methods=["GET"]),
        Route("/sandbox/faults", clear_faults, methods=["DELETE"]),
    ]
