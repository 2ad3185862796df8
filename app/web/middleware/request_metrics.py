"""Request counts and latency by route template (see `app.web.metrics`)."""

from __future__ import annotations

import time

from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.metrics import OTHER, Metrics

UNMATCHED = "<unmatched>"
# Any other method string a client invents would be a new label value.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES = {status: f"{status // 100}xx" for status in range(100, 600)}


def route_label(route: BaseRoute | None) -> str:
    """The template a request was routed by (`/auth/users/{user_id}/sessions`), never its path."""
    if route is None:
        return UNMATCHED
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    if isinstance(route, Mount):
        return path + "/{path}"
    return path or "/"


class RequestMetrics:
    """Pure ASGI middleware counting HTTP requests and timing their answers.

    The route template is read from the `route` Starlette's router puts in the scope, so this
    layer may sit outside the app. A request no route took (404s, and ones a layer between
    here and the router refused, such as a CSRF refusal) is counted under `<unmatched>`; inside
    a mounted sub-router the template is the inner route's. An answer that never started because
    the app raised counts as 5xx.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            method = scope["method"]
            self.metrics.http_request(
                route_label(scope.get("route")),
                method if method in _METHODS else OTHER,
                _STATUS_CLASSES.get(status) or f"{status // 100}xx",
                time.perf_counter() - started,
            )

        async def send_and_observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record()

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            record()
