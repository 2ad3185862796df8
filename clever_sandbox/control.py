"""The sandbox's control API under `/sandbox/`: change the roster from a test, or reset it.

JSON in and out, no authentication (it is a test fixture, not part of Clever). Each change
emits the Events API event Clever would. Errors are `{"message": ...}` with 400 or 404.

No authentication must not mean that any web page a developer opens can drive it:
`ControlGuard` refuses a change under `/sandbox/` (the faults and OIDC switches included) that a
browser sends from another origin, and a body that is not JSON, which a cross-origin form or
`fetch` could send without a preflight (SECURITY.md, "The development stack").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clever_sandbox.errors import api_error
from clever_sandbox.state import Sandbox
from clever_sandbox.store import RecordError, RecordNotFound, SandboxStore

Record = dict[str, Any]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A page served by a name that resolves to 127.0.0.1 (DNS rebinding) is same-origin with what it
# calls by that name: a browser's change must also name the sandbox by a loopback host.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
_SAME_ORIGIN_FETCH = frozenset({"same-origin", "none"})


class ControlGuard:
    """Pure ASGI: refuses cross-origin and simple-request changes to the control API (403, 415).

    Programs (tests, helpers, curl) send no `Origin` and no `Sec-Fetch-Site` and pass; a browser
    passes only from the sandbox's own loopback origin, and any body must be `application/json`,
    which no cross-origin page can send without a preflight the sandbox never grants.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in _SAFE_METHODS
            and scope["path"].startswith("/sandbox/")
        ):
            refusal = _refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refusal(scope: Scope) -> Response | None:
    headers = {name: value.decode("latin-1") for name, value in scope["headers"]}
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _SAME_ORIGIN_FETCH:
        return api_error(403, "the sandbox's control API refuses requests from other sites")
    origin = headers.get(b"origin")
    if origin is not None:
        host = headers.get(b"host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if origin != f"{scope.get('scheme', 'http')}://{host}" or hostname not in _LOOPBACK_HOSTS:
            return api_error(403, "the sandbox's control API refuses requests from other origins")
    media_type = headers.get(b"content-type", "").partition(";")[0].strip().lower()
    has_body = headers.get(b"content-length", "0") != "0" or b"transfer-encoding" in headers
    if (media_type or has_body) and media_type != "application/json":
        return api_error(
            415, "the sandbox's control API takes JSON bodies only (Content-Type: application/json)"
        )
    return None


class _BadBody(Exception):
    pass


async def _json_object(request: Request) -> Mapping[str, Any]:
    body = await request.body()
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadBody(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _BadBody("the body must be a JSON object")
    return data


def _store(request: Request) -> SandboxStore:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox.store


async def _run(
    request: Request, change: Callable[[SandboxStore, Mapping[str, Any]], Record | None], status: int = 200
) -> Response:
    try:
        body = await _json_object(request) if request.method in ("POST", "PATCH") else {}
        record = change(_store(request), body)
    except _BadBody as exc:
        return api_error(400, str(exc))
    except RecordNotFound as exc:
        return api_error(404, str(exc))
    except RecordError as exc:
        return api_error(400, str(exc))
    if record is None:
        return Response(status_code=204)
    return JSONResponse(record, status_code=status)


Create = Callable[[SandboxStore, Mapping[str, Any]], Record]
Update = Callable[[SandboxStore, str, Mapping[str, Any]], Record]
Delete = Callable[[SandboxStore, str], Record]


def _record_routes(kind: str, create: Create, update: Update, delete: Delete) -> list[BaseRoute]:
    """POST /sandbox/{kind} (201 with the new record), PATCH (200 with it) and DELETE (204) by id."""

    async def post(request: Request) -> Response:
        return await _run(request, create, 201)

    async def patch(request: Request) -> Response:
        record_id = request.path_params["id"]
        return await _run(request, lambda store, body: update(store, record_id, body))

    async def remove(request: Request) -> Response:
        record_id = request.path_params["id"]
        return await _run(request, lambda store, _body: _deleted(delete(store, record_id)))

    return [
        Route(f"/sandbox/{kind}", post, methods=["POST"]),
        Route(f"/sandbox/{kind}/{{id}}", patch, methods=["PATCH"]),
        Route(f"/sandbox/{kind}/{{id}}", remove, methods=["DELETE"]),
    ]


def _deleted(_record: Record) -> None:
    return None


async def delete_district(request: Request) -> Response:
    """The district disconnects the app: `districts.deleted`, and its district token is revoked."""
    sandbox: Sandbox = request.app.state.sandbox
    district_id = request.path_params["id"]
    try:
        sandbox.store.delete_district(district_id)
    except RecordNotFound as exc:
        return api_error(404, str(exc))
    sandbox.tokens.revoke(sandbox.tokens.district_token(district_id, sandbox.config.client_id))
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    sandbox.reset()
    return Response(status_code=204)


def control_routes() -> list[BaseRoute]:
    """The control API's routes (faults and OIDC switches live with their own modules)."""
    return [
        *_record_routes(
            "users", SandboxStore.create_user, SandboxStore.update_user, SandboxStore.delete_user
        ),
        *_record_routes(
            "sections", SandboxStore.create_section, SandboxStore.update_section, SandboxStore.delete_section
        ),
        *_record_routes(
            "resources",
            SandboxStore.create_resource,
            SandboxStore.update_resource,
            SandboxStore.delete_resource,
        ),
        Route("/sandbox/districts/{id}", delete_district, methods=["DELETE"]),
        Route("/sandbox/reset", reset, methods=["POST"]),
    ]
