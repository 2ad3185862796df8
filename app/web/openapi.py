"""`/openapi.json`: the backend's public contract (design section 4), written out by hand so it
says exactly what the service promises."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from app.web.health import ERROR_CODES as READINESS_CODES
from app.web.middleware.cors_csrf import ERROR_CODES as CSRF_CODES
from app.web.problems import PROBLEMS

_ERROR = {"$ref": "#/components/schemas/Error"}


def _answer(description: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


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
    principal = {
        "type": "object",
        "required": ["user", "roles", "sections", "resources", "session"],
        "properties": {
            "user": {
                "type": "object",
                "required": ["id", "district", "name", "email", "roles", "primary_role", "legacy_ids"],
                "properties": {
                    "id": _STRING,
                    "district": _STRING,
                    "name": {
                        "type": "object",
                        "properties": {"first": _STRING, "middle": _STRING, "last": _STRING},
                    },
                    "email": _NULLABLE_STRING,
                    "roles": {
                        "type": "array",
                        "items": {"enum": ["district_admin", "staff", "teacher", "student", "contact"]},
                    },
                    "primary_role": _NULLABLE_STRING,
                    "legacy_ids": {"type": "object", "additionalProperties": _STRING},
                },
            },
            "roles": {
                "type": "object",
                "description": "One entry per role held; the student entry holds only the fields "
                "STUDENT_FIELDS allows, as Clever sent them.",
                "additionalProperties": {"type": "object"},
            },
            "sections": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": _STRING,
                        "name": _STRING,
                        "subject": _STRING,
                        "grade": _STRING,
                        "period": _STRING,
                        "school": _STRING,
                        "course": _NULLABLE_STRING,
                        "term_id": _NULLABLE_STRING,
                        "role": {"enum": ["teacher", "student", None]},
                    },
                },
            },
            "resources": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": _STRING,
                        "resource_id": _STRING,
                        "title": _STRING,
                        "roles": _STRINGS,
                    },
                },
            },
            "roster": {
                "type": "object",
                "description": "Which roster this Principal reflects: when it was fetched from Clever, "
                "and the Events API event that caused the fetch (null for a login or a refresh). "
                "Absent from sessions made before this field existed.",
                "required": ["fetched_at", "event_id"],
                "properties": {
                    "fetched_at": {"type": "string", "format": "date-time"},
                    "event_id": _NULLABLE_STRING,
                },
            },
            "session": {
                "type": "object",
                "properties": {
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "idle_expires_at": {"type": "string", "format": "date-time"},
                    "login_method": {"enum": ["clever_sso", "clever_portal"]},
                },
            },
        },
    }
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
                        "400": _error("login_expired, invalid_request"),
                        "403": _error(
                            "clever_denied, district_not_allowed, district_not_connected, role_not_allowed"
                        ),
                        "409": _error("login_in_progress"),
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
                    "summary": "Fetch roles, sections and resources again for this session.",
                    "security": _SESSION_AUTH,
                    "parameters": [{"name": "X-Requested-With", "in": "header", "schema": _STRING}],
                    "responses": {
                        "200": _answer(
                            "The refreshed Principal.", {"$ref": "#/components/schemas/Principal"}
                        ),
                        "401": _error("no_session"),
                        "403": _error("csrf_header_missing, csrf_origin_denied, role_not_allowed"),
                        "429": _error("refresh_too_soon (at most one refresh per session every 30 s)"),
                        "503": _error("clever_unavailable, store_unavailable"),
                    },
                }
            },
            "/auth/logout": {
                "post": {
                    "summary": "End this session and clear its cookie.",
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
                "Principal": principal,
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"enum": sorted({*PROBLEMS, *CSRF_CODES, *READINESS_CODES})},
                        "message": _STRING,
                    },
                },
                "Introspection": {
                    "type": "object",
                    "required": ["active"],
                    "properties": {
                        "active": {"type": "boolean"},
                        "sub": _STRING,
                        "district": _STRING,
                        "roles": _STRINGS,
                        "primary_role": _NULLABLE_STRING,
                        "iat": {"type": "integer"},
                        "exp": {"type": "integer"},
                        "principal": {"$ref": "#/components/schemas/Principal"},
                    },
                },
                "Ended": {"type": "object", "properties": {"ended": {"type": "integer"}}},
            },
        },
    }


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
