from __future__ import annotations

import json
from typing import Any, get_type_hints

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.clever.models import ROLE_ORDER, Resource, Section, User
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from app.roster.principal import Principal, PrincipalUser, build_principal, roster_version
from app.web.openapi import json_schema, openapi_document
from app.web.routes.login import login_routes
from app.web.routes.sessions import SessionAnswer, session_routes
from tests.roster.test_principal import CONTACT, SECTIONS, STUDENT, TEACHER_STAFF
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


def _keys_outside_schema(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every key of `value` that the schema does not describe, where it describes properties."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += _keys_outside_schema(item, schema["properties"][key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += _keys_outside_schema(item, schema["items"], f"{path}[{index}]")
    return found


def _answer(principal: Principal) -> dict[str, Any]:
    times = {
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-01T08:00:00Z",
        "idle_expires_at": "2026-01-01T00:30:00Z",
        "login_method": "clever_sso",
    }
    return {**principal, "session": times}


def _built() -> list[Principal]:
    sections = [Section.model_validate(section) for section in SECTIONS]
    resources = [
        Resource.model_validate({"id": "r1", "resource_id": "rid", "title": "Book", "roles": ["teacher"]})
    ]
    return [
        build_principal(
            User.model_validate(user),
            sections,
            resources,
            login_user_type=None,
            student_fields=DEFAULT_STUDENT_FIELDS,
            roster=version,
        )
        for user in (TEACHER_STAFF, STUDENT, CONTACT)
        for version in (
            roster_version(1_800_000_000.0, "e1"),
            roster_version(1_800_000_000.0, source="store", synced_at=1_800_000_000.0),
        )
    ]


def test_the_principal_schema_is_the_typed_principal() -> None:
    """`/openapi.json` describes the Principal from its one definition (app.roster.principal)."""
    document = json.loads(openapi_document())
    schema = document["components"]["schemas"]["Principal"]
    assert schema == json.loads(json.dumps(json_schema(SessionAnswer)))
    hints = get_type_hints(SessionAnswer)
    assert list(schema["properties"]) == list(hints) == [*get_type_hints(Principal), "session"]
    assert schema["required"] == ["user", "roles", "sections", "resources", "session"]  # roster: NotRequired
    user = schema["properties"]["user"]
    assert list(user["properties"]) == list(get_type_hints(PrincipalUser))
    assert user["properties"]["roles"]["items"] == {"enum": list(ROLE_ORDER)}
    roster = schema["properties"]["roster"]
    assert roster["properties"]["fetched_at"] == {"type": "string", "format": "date-time"}
    assert roster["properties"]["synced_at"] == {"type": "string", "format": "date-time"}
    assert roster["properties"]["source"] == {"enum": ["store", "live"]}
    assert roster["required"] == ["fetched_at", "event_id"]  # absent from older sessions
    assert schema["properties"]["sections"]["items"]["properties"]["role"] == {
        "enum": ["teacher", "student", None]
    }


def test_what_the_builder_writes_is_what_the_schema_describes() -> None:
    schema = json.loads(openapi_document())["components"]["schemas"]["Principal"]
    for principal in _built():
        answer = _answer(principal)
        jsonschema.validate(answer, schema)
        assert _keys_outside_schema(answer, schema) == []
        # Every key the schema requires is written, here and in each nested object.
        missing = {**answer}
        missing["user"] = {key: value for key, value in answer["user"].items() if key != "legacy_ids"}
        with pytest.raises(jsonschema.ValidationError, match="legacy_ids"):
            jsonschema.validate(missing, schema)


def test_a_type_the_schema_cannot_say_is_refused() -> None:
    with pytest.raises(TypeError, match="no JSON Schema"):
        json_schema(set[str])
    with pytest.raises(TypeError, match="no JSON Schema"):
        json_schema(dict[int, str])
