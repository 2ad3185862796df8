"""Every error the backend answers, by stable code, and how it is shown.

`app.errors.PROBLEMS` is the one table of codes: the handlers' errors, the middleware's and the
HTTP protocol's refusals (size limits, CORS and CSRF) and readiness all answer from it, and
`/openapi.json` lists it. API endpoints answer JSON `{"error": code, "message": ...}`; the
browser endpoints (login and callback) show a small friendly page instead, unless the client asks
for JSON. Messages are written for the person in front of the screen and never carry a token, a
code or a name.

`answer_error` is the one exception handler: a `ServiceError` (app.errors) answers its own code;
the foreign exceptions that reach it (Redis down, Starlette's 404 and 405, anything unexpected)
are given theirs by `as_service_error`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from string import Template

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.clever.errors import CleverError
from app.errors import PROBLEMS, ServiceError, problem_body
from app.redis_client import REDIS_ERRORS

logger = logging.getLogger("app")

# The endpoints a browser is sent to: they answer a page rather than JSON.
BROWSER_PATHS = frozenset({"/auth/login", "/auth/callback"})


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
            # Known once the failing login's district directory was (app.web.routes.login).
            portal_url=getattr(request.state, "portal_url", None),
        )
    return json_problem(code, headers)


def json_problem(code: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(problem_body(code), PROBLEMS[code].status, headers, media_type="application/json")


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def page_problem(
    code: str,
    *,
    login_url: str,
    frontend_url: str,
    headers: Mapping[str, str] | None = None,
    portal_url: str | None = None,
) -> Response:
    """The friendly page; with `portal_url` (the district's Clever Portal, an https URL from the
    district directory) it also offers the way back there."""
    problem = PROBLEMS[code]
    portal_link = (
        f'<a class="plain" href="{html.escape(portal_url, quote=True)}">Back to Clever</a>'
        if portal_url
        else ""
    )
    body = _page().substitute(
        title=html.escape(problem.title),
        message=html.escape(problem.message),
        code=html.escape(code),
        login_url=html.escape(login_url, quote=True),
        frontend_url=html.escape(frontend_url, quote=True),
        portal_link=portal_link,
    )
    page_headers = {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    }
    page_headers.update(headers or {})
    return HTMLResponse(body, problem.status, headers=page_headers)


@cache
def _page() -> Template:
    return Template(files("app.web").joinpath("templates/problem.html").read_text(encoding="utf-8"))
