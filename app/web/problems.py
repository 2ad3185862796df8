"""Every error the backend answers, by stable code, and how it is shown.

`PROBLEMS` is the one table of codes: the handlers' errors, the middleware's refusals (size
limits, CORS and CSRF) and readiness all answer from it, and `/openapi.json` lists it. API
endpoints answer JSON `{"error": code, "message": ...}`; the browser endpoints (login and
callback) show a small friendly page instead, unless the client asks for JSON. Messages are
written for the person in front of the screen and never carry a token, a code or a name.

`answer_error` is the one exception handler: a `ServiceError` (app.errors) answers its own code;
the foreign exceptions that reach it (Redis down, Starlette's 404 and 405, anything unexpected)
are given theirs by `as_service_error`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from app.clever.errors import CleverError
from app.errors import ServiceError
from app.redis_client import REDIS_ERRORS

logger = logging.getLogger("app")

# The endpoints a browser is sent to: they answer a page rather than JSON.
BROWSER_PATHS = frozenset({"/auth/login", "/auth/callback"})


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    message: str
    # The heading of the page a browser is shown.
    title: str = "We could not sign you in"


PROBLEMS: dict[str, Problem] = {
    "invalid_request": Problem(400, "The request was not valid."),
    "invalid_return_to": Problem(400, "That page is not one this login may send you to."),
    "invalid_district": Problem(400, "That district id is not valid."),
    "login_expired": Problem(400, "This login has expired or was already used. Please log in again."),
    "login_in_progress": Problem(
        409, "This login is still being completed. Please wait a moment and reload."
    ),
    # The person chose Cancel at Clever (the callback's `error=access_denied`). Nothing failed, but
    # no login happened either: a 400 like the other unfinished logins, so monitoring and JSON
    # clients see no success, while the page speaks of the person's choice, not of a refusal.
    "login_cancelled": Problem(
        400,
        "Nobody was signed in. You can log in again whenever you like.",
        title="You cancelled signing in with Clever",
    ),
    "clever_denied": Problem(403, "Clever did not allow the login."),
    "clever_error": Problem(502, "Clever answered in a way we did not expect. Please try again."),
    "clever_unavailable": Problem(503, "Clever cannot be reached right now. Please try again in a moment."),
    "id_token_invalid": Problem(502, "Clever's answer could not be verified. Please try again."),
    # A Clever Library login (no district) while LIBRARY_LOGINS=refuse.
    "district_required": Problem(403, "This Clever account does not belong to a school district."),
    "district_not_allowed": Problem(403, "Your district is not set up to use this application."),
    "district_not_connected": Problem(403, "Your district has not connected this application in Clever."),
    "role_not_allowed": Problem(403, "This application is not available to your role."),
    "store_unavailable": Problem(503, "Sign-in is unavailable right now. Please try again in a moment."),
    "no_session": Problem(401, "You are not logged in."),
    "refresh_needs_login": Problem(
        409, "This session's classes are read again at each login. Please log in again to refresh them."
    ),
    "refresh_too_soon": Problem(429, "This session was refreshed moments ago. Please try again shortly."),
    "too_many_pending_logins": Problem(
        429, "Too many logins were started and not finished. Please wait a few minutes and try again."
    ),
    "unauthorized_client": Problem(401, "Client authentication failed."),
    "client_throttled": Problem(429, "Too many failed client authentications. Please try again later."),
    "district_not_found": Problem(404, "No district that connected this application has this id."),
    "not_found": Problem(404, "Not found."),
    "method_not_allowed": Problem(405, "Method not allowed."),
    "body_too_large": Problem(413, "The request body is too large."),
    "uri_too_long": Problem(414, "The address is too long."),
    "headers_too_large": Problem(431, "The request headers are too large."),
    "internal_error": Problem(500, "Something went wrong on our side."),
    # Refused by app.web.middleware.cors_csrf before any route runs.
    "cors_origin_denied": Problem(403, "This origin may not call this API from a browser."),
    "csrf_header_missing": Problem(403, "A browser request that changes state must send X-Requested-With."),
    "csrf_origin_denied": Problem(403, "Requests from this origin may not change state."),
    # `GET /readyz` when this instance should not receive traffic (app.web.health).
    "redis_unavailable": Problem(503, "Redis does not answer."),
    "shutting_down": Problem(503, "This instance is shutting down."),
}

# Seconds a client is asked to wait when Redis fails (the sessions cannot be read meanwhile).
STORE_RETRY_AFTER = 2


class AppError(ServiceError):
    """Raised by a handler to answer with one of the stable codes above."""

    def __init__(self, code: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.headers = dict(headers or {})

    def answer_headers(self) -> dict[str, str]:
        return dict(self.headers)


class StoreUnavailable(ServiceError):
    """Redis failed: fail closed, no session can be checked or written without it."""

    code = "store_unavailable"

    def answer_headers(self) -> dict[str, str]:
        return {"Retry-After": str(STORE_RETRY_AFTER)}


def as_service_error(exc: BaseException) -> ServiceError:
    """The error `exc` is answered as: itself when it is ours, else what it means here."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, REDIS_ERRORS):
        return StoreUnavailable()
    if isinstance(exc, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return AppError(code, headers=exc.headers)
    return ServiceError()  # internal_error


# What `answer_error` is registered for. Starlette answers the listed classes from inside the
# app, and `Exception` from its outermost layer (where the error is then raised on to the server).
HANDLED: tuple[type[Exception], ...] = (ServiceError, *REDIS_ERRORS, HTTPException, Exception)


async def answer_error(request: Request, exc: Exception) -> Response:
    """The one exception handler: any error, ours or foreign, as its stable code's answer."""
    error = as_service_error(exc)
    if isinstance(exc, CleverError):
        logger.warning(
            "Clever call failed",
            extra={
                "event": "clever_error",
                "error": type(exc).__name__,
                "operation": exc.operation,
                "detail": exc.detail,
                "status": exc.status,
                "attempts": exc.attempts,
            },
        )
    elif isinstance(exc, REDIS_ERRORS):
        request.app.state.services.metrics.redis_error(exc)
        logger.warning("Redis failed", extra={"event": "store_error", "error": type(exc).__name__})
    elif not isinstance(exc, ServiceError | HTTPException):
        logger.error("unexpected error", extra={"event": "internal_error", "error": type(exc).__name__})
    return problem(request, error.code, error.answer_headers())


def problem(request: Request, code: str, headers: Mapping[str, str] | None = None) -> Response:
    """A stable error code as the answer: a page for a browser endpoint, else JSON."""
    if request.url.path in BROWSER_PATHS and not wants_json(request):
        return page_problem(
            code,
            login_url="/auth/login",
            frontend_url=request.app.state.settings.frontend_url,
            headers=headers,
        )
    return json_problem(code, headers)


def json_problem(code: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    problem = PROBLEMS[code]
    return JSONResponse({"error": code, "message": problem.message}, problem.status, headers=headers)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def page_problem(
    code: str, *, login_url: str, frontend_url: str, headers: Mapping[str, str] | None = None
) -> Response:
    problem = PROBLEMS[code]
    body = _page().substitute(
        title=html.escape(problem.title),
        message=html.escape(problem.message),
        code=html.escape(code),
        login_url=html.escape(login_url, quote=True),
        frontend_url=html.escape(frontend_url, quote=True),
    )
    page_headers = {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    }
    page_headers.update(headers or {})
    return HTMLResponse(body, problem.status, headers=page_headers)


@cache
def _page() -> Template:
    return Template(files("app.web").joinpath("templates/problem.html").read_text(encoding="utf-8"))
