from __future__ import annotations

import json

import httpx
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.web.openapi import openapi_document
from app.web.routes.login import login_routes
from app.web.routes.sessions import session_routes
from tests.support.openapi_check import OpenAPIConformance


def test_the_document_is_valid_openapi() -> None:
    validate(json.loads(openapi_document()))


def test_every_route_of_the_backend_is_described() -> None:
    documented = set(json.loads(openapi_document())["paths"])
    for route in [*login_routes(), *session_routes()]:
        assert getattr(route, "path", None) in documented


async def test_the_checker_catches_answers_that_stray_from_the_document() -> None:
    async def session(request: Request) -> Response:
        kind = request.query_params.get("kind")
        if kind == "good":
            return JSONResponse({"error": "no_session", "message": "You are not logged in."}, 401)
        if kind == "bad_code":
            return JSONResponse({"error": "made_up", "message": "x"}, 401)
        if kind == "undocumented_status":
            return JSONResponse({"error": "no_session", "message": "x"}, 418)
        return JSONResponse({"user": "not an object"}, 200)

    checked = OpenAPIConformance(Starlette(routes=[Route("/auth/session", session)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked), base_url="http://t") as client:
        await client.get("/auth/session", params={"kind": "good"})
        await client.get("/not/described")
        assert (checked.checked, checked.violations) == (1, [])
        for kind in ("bad_code", "undocumented_status", "bad_principal"):
            await client.get("/auth/session", params={"kind": kind})
    assert checked.checked == 4
    assert any("made_up" in violation for violation in checked.violations)
    assert any("418: status not documented" in violation for violation in checked.violations)
    assert any("$['user']" in violation for violation in checked.violations)
