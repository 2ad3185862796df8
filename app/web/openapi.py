"""`/openapi.json`: the backend's public contract (the README's "Endpoints"), written out by hand so it
says exactly what the service promises. Two parts are read from the code, so they cannot drift
from it: the error codes from `app.errors.PROBLEMS`, and the Principal's schema from its
types (`app.roster.principal`, with the session's times from `app.web.routes.sessions`)."""

from __future__ import annotations

import json
import types
import typing
from functools import cache
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from app.errors import PROBLEMS
from app.web.routes.districts import SyncRequested
from app.web.routes.sessions import SessionAnswer

_ERROR = {"$ref": "#/components/schemas/Error"}


def _answer(description: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


_TOO_MANY_PENDING = (
    "too_many_pending_logins (this browser, or this instance, started as many logins as it may "
    "within 10 minutes; Retry-After says when to try again)"
)


def _error(description: str) -> dict[str, Any]:
    return _answer(description, _ERROR)


_SESSION_AUTH: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"sessionBearer": []}]
_SERVICE_AUTH: list[dict[str, list[str]]] = [{"serviceClient": []}]
_STRING = {"type": "string"}
_THROTTLED = _error(
    "client_throttled: too many failed authentications as this client (or as any), "
    "with Retry-After; see SECURITY.md"
)
_STATUS = {"type": "object", "required": ["status"], "properties": {"status": _STRING}}
_NULLABLE_STRING = {"type": ["string", "null"]}
_STRINGS = {"type": "array", "items": _STRING}


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clever-login",
            "version": "1",
            "description": "Log in with Clever: the OAuth flow, roles and roster, and application sessions.",
        },
        "paths": {
            "/auth/login": {
                "get": {
                    "summary": "Start a login: redirects to Clever's authorize page.",
                    "parameters": [
                        {"name": "return_to", "in": "query", "schema": _STRING},
                        {"name": "district_id", "in": "query", "schema": _STRING},
                    ],
                    "responses": {
                        "302": {"description": "To Clever."},
                        "400": _error("invalid_return_to, invalid_district, invalid_request"),
                        "429": _error(_TOO_MANY_PENDING),
                        "503": _error("store_unavailable"),
                    },
                }
            },
            "/auth/callback": {
                "get": {
                    "summary": "Where Clever sends the browser back (also Clever Portal launches).",
                    "parameters": [
                        {"name": name, "in": "query", "schema": _STRING}
                        for name in ("code", "state", "error")
                    ],
                    "responses": {
                        "302": {"description": "To return_to, with the session cookie; or back to Clever."},
                        "400": _error("login_expired, login_cancelled, invalid_request"),
                        "403": _error(
                            "clever_denied, district_not_allowed, district_not_connected, role_not_allowed"
                        ),
                        "409": _error("login_in_progress"),
                        "429": _error(_TOO_MANY_PENDING),
                        "502": _error("clever_error, id_token_invalid"),
                        "503": _error("clever_unavailable, store_unavailable"),
                    },
                }
            },
            "/auth/session": {
                "get": {
                    "summary": "The Principal of this session.",
                    "security": _SESSION_AUTH,
                    "responses": {
                        "200": _answer("The Principal.", {"$ref": "#/components/schemas/Principal"}),
                        "401": _error("no_session"),
                        "503": _error("store_unavailable"),
                    },
                }
            },
            "/auth/session/refresh": {
                "post": {
                    "summary": "Read roles, sections and resources again for this session: from "
                    "the district's roster copy while it is fresh, else from Clever.",
                    "security": _SESSION_AUTH,
                    "parameters": [{"name": "X-Requested-With", "in": "header", "schema": _STRING}],
                    "responses": {
                        "200": _answer(
                            "The refreshed Principal.", {"$ref": "#/components/schemas/Principal"}
                        ),
                        "401": _error("no_session"),
                        "403": _error("csrf_header_missing, csrf_origin_denied, role_not_allowed"),
                        "409": _error(
                            "refresh_needs_login (a Clever Library session: its roster is read "
                            "again at each login)"
                        ),
                        "429": _error("refresh_too_soon (at most one refresh per session every 30 s)"),
                        "503": _error("clever_unavailable, store_unavailable"),
                    },
                }
            },
            "/auth/logout": {
                "post": {
                    "summary": "End the cookie's and the bearer token's sessions; clear the cookie.",
                    "security": _SESSION_AUTH,
                    "parameters": [{"name": "X-Requested-With", "in": "header", "schema": _STRING}],
                    "responses": {
                        "204": {"description": "Logged out."},
                        "403": _error("csrf_header_missing, csrf_origin_denied"),
                    },
                }
            },
            "/auth/verify": {
                "get": {
                    "summary": "Forward-auth for gateways.",
                    "security": _SESSION_AUTH,
                    "responses": {
                        "200": {
                            "description": "A live session.",
                            "headers": {
                                name: {"schema": _STRING}
                                for name in (
                                    "X-Clever-User-Id",
                                    "X-Clever-District-Id",
                                    "X-Clever-Roles",
                                    "X-Clever-Primary-Role",
                                    "X-Clever-Authorized-By",
                                )
                            },
                        },
                        "401": _error("no_session"),
                        "503": _error("store_unavailable"),
                    },
                }
            },
            "/auth/introspect": {
                "post": {
                    "summary": "RFC 7662 style introspection for backend services.",
                    "security": _SERVICE_AUTH,
                    "requestBody": {
                        "content": {
                            media: {"schema": {"type": "object", "properties": {"token": _STRING}}}
                            for media in ("application/x-www-form-urlencoded", "application/json")
                        }
                    },
                    "responses": {
                        "200": _answer("Introspection.", {"$ref": "#/components/schemas/Introspection"}),
                        "400": _error(
                            "invalid_request: a body over 4 KiB, JSON nested more than 8 deep, "
                            "or one that does not parse"
                        ),
                        "401": _error("unauthorized_client"),
                        "429": _THROTTLED,
                    },
                }
            },
            "/auth/users/{user_id}/sessions": {
                "delete": {
                    "summary": "End every session of a user.",
                    "security": _SERVICE_AUTH,
                    "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": _STRING}],
                    "responses": {
                        "200": _answer("How many ended.", {"$ref": "#/components/schemas/Ended"}),
                        "401": _error("unauthorized_client"),
                        "429": _THROTTLED,
                    },
                }
            },
            "/auth/districts/{district_id}/sessions": {
                "delete": {
                    "summary": "End every session of a district.",
                    "security": _SERVICE_AUTH,
                    "parameters": [
                        {"name": "district_id", "in": "path", "required": True, "schema": _STRING}
                    ],
                    "responses": {
                        "200": _answer("How many ended.", {"$ref": "#/components/schemas/Ended"}),
                        "401": _error("unauthorized_client"),
                        "429": _THROTTLED,
                    },
                }
            },
            "/auth/districts/{district_id}/sync": {
                "post": {
                    "summary": "Ask the events worker for a full sync of the district's roster copy now.",
                    "security": _SERVICE_AUTH,
                    "parameters": [
                        {"name": "district_id", "in": "path", "required": True, "schema": _STRING}
                    ],
                    "responses": {
                        "202": _answer(
                            "Asked for; `already_requested` when an earlier request is not yet taken.",
                            {"$ref": "#/components/schemas/SyncRequested"},
                        ),
                        "400": _error("invalid_district"),
                        "401": _error("unauthorized_client"),
                        "403": _error("district_not_allowed (not in ALLOWED_DISTRICTS)"),
                        "404": _error("district_not_found (Clever lists no token of this app for it)"),
                        "429": _THROTTLED,
                        "502": _error("clever_error"),
                        "503": _error("clever_unavailable, store_unavailable"),
                    },
                }
            },
            "/healthz": {"get": {"summary": "Liveness.", "responses": {"200": _answer("Alive.", _STATUS)}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness (Redis answers, and not shutting down).",
                    "responses": {
                        "200": _answer("Ready.", _STATUS),
                        "503": _error("redis_unavailable, or shutting_down once SIGTERM arrived"),
                    },
                }
            },
            "/metrics": {
                "get": {"summary": "Prometheus metrics.", "responses": {"200": {"description": "Text."}}}
            },
        },
        "components": {
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "__Host-clever_session"},
                "sessionBearer": {"type": "http", "scheme": "bearer"},
                "serviceClient": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "Principal": json_schema(SessionAnswer),
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"enum": sorted(PROBLEMS)},
                        "message": _STRING,
                    },
                },
                "Introspection": {
                    "type": "object",
                    "required": ["active"],
                    "properties": {
                        "active": {"type": "boolean"},
                        "sub": _STRING,
                        "district": {
                            **_NULLABLE_STRING,
                            "description": "null for a Clever Library login: no district.",
                        },
                        "authorized_by": {"enum": ["district", "teacher"]},
                        "roles": _STRINGS,
                        "primary_role": _NULLABLE_STRING,
                        "iat": {"type": "integer"},
                        "exp": {"type": "integer"},
                        "principal": {"$ref": "#/components/schemas/Principal"},
                    },
                },
                "Ended": {"type": "object", "properties": {"ended": {"type": "integer"}}},
                "SyncRequested": json_schema(SyncRequested),
            },
        },
    }


def json_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a type of the Principal's family (app.roster.principal): TypedDicts,
    str, int, float, bool, None, Literal, unions with None, list[...], dict[str, ...] and Any,
    with what an `Annotated` dict adds. Anything else is an error, not a guess."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return {**json_schema(args[0]), **args[1]}
    if origin in (Required, NotRequired):
        return json_schema(args[0])
    if typing.is_typeddict(tp):
        hints = get_type_hints(tp, include_extras=True)
        # From the hints, not `__required_keys__`: under postponed annotations Python 3.11 does
        # not see `NotRequired` there.
        required = [name for name, hint in hints.items() if _required(hint, total=tp.__total__)]
        return {
            "type": "object",
            **({"required": required} if required else {}),
            "properties": {name: json_schema(hint) for name, hint in hints.items()},
        }
    if origin in (Union, types.UnionType) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            inner = json_schema(rest[0])
            if list(inner) == ["type"] and isinstance(inner["type"], str):
                return {"type": [inner["type"], "null"]}
            if list(inner) == ["enum"]:
                return {"enum": [*inner["enum"], None]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if origin is dict and args[0] is str:
        values = json_schema(args[1])
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    if tp is Any:
        return {}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _required(hint: Any, *, total: bool) -> bool:
    origin = get_origin(hint)
    return origin is Required or (total and origin is not NotRequired)


_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _with_size_limits(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation may be refused for its size before it is routed (app.web.middleware.limits)."""
    for item in document["paths"].values():
        for operation in item.values():
            operation["responses"].setdefault("413", _error("body_too_large"))
            operation["responses"].setdefault("414", _error("uri_too_long"))
            operation["responses"].setdefault("431", _error("headers_too_large"))
    return document


@cache
def openapi_document() -> bytes:
    return json.dumps(_with_size_limits(_document()), separators=(",", ":")).encode()
