"""Every error the backend answers, by stable code, and how it is shown.

API endpoints answer JSON `{"error": code, "message": ...}`; the browser endpoints (login and
callback) show a small friendly page instead, unless the client asks for JSON. Messages are
written for the person in front of the screen and never carry a token, a code or a name.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    message: str


PROBLEMS: dict[str, Problem] = {
    "invalid_request": Problem(400, "The request was not valid."),
    "invalid_return_to": Problem(400, "That page is not one this login may send you to."),
    "invalid_district": Problem(400, "That district id is not valid."),
    "login_expired": Problem(400, "This login has expired or was already used. Please log in again."),
    "login_in_progress": Problem(
        409, "This login is still being completed. Please wait a moment and reload."
    ),
    "clever_denied": Problem(403, "Clever did not allow the login."),
    "clever_error": Problem(502, "Clever answered in a way we did not expect. Please try again."),
    "clever_unavailable": Problem(503, "Clever cannot be reached right now. Please try again in a moment."),
    "id_token_invalid": Problem(502, "Clever's answer could not be verified. Please try again."),
    "district_required": Problem(403, "This Clever account does not belong to a school district."),
    "district_not_allowed": Problem(403, "Your district is not set up to use this application."),
    "district_not_connected": Problem(403, "Your district has not connected this application in Clever."),
    "role_not_allowed": Problem(403, "This application is not available to your role."),
    "store_unavailable": Problem(503, "Sign-in is unavailable right now. Please try again in a moment."),
    "no_session": Problem(401, "You are not logged in."),
    "refresh_too_soon": Problem(429, "This session was refreshed moments ago. Please try again shortly."),
    "unauthorized_client": Problem(401, "Client authentication failed."),
    "client_throttled": Problem(429, "Too many failed client authentications. Please try again later."),
    "not_found": Problem(404, "Not found."),
    "method_not_allowed": Problem(405, "Method not allowed."),
    "body_too_large": Problem(413, "The request body is too large."),
    "uri_too_long": Problem(414, "The address is too long."),
    "headers_too_large": Problem(431, "The request headers are too large."),
    "internal_error": Problem(500, "Something went wrong on our side."),
}


class AppError(Exception):
    """Raised by a handler to answer with one of the stable codes above."""

    def __init__(self, code: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.headers = headers or {}


def json_problem(code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    problem = PROBLEMS[code]
    return JSONResponse({"error": code, "message": problem.message}, problem.status, headers=headers)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def page_problem(
    code: str, *, login_url: str, frontend_url: str, headers: dict[str, str] | None = None
) -> Response:
    problem = PROBLEMS[code]
    body = _page().substitute(
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
