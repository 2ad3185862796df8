"""The sandbox's control API under `/sandbox/`: change the roster from a test, or reset it.

JSON in and out, no authentication (it is a test fixture, not part of Clever). Each change
emits the Events API event Clever would. Errors are `{"message": ...}` with 400 or 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from clever_sandbox.errors import api_error
from clever_sandbox.state import Sandbox
from clever_sandbox.store import RecordError, RecordNotFound, SandboxStore

Record = dict[str, Any]


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
