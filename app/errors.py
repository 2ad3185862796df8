"""The base of every error the service answers with a stable code.

Each domain error names its code, as authlib's errors carry `error`: the login flow's, the
roster's and the Clever client's errors subclass `ServiceError` where they are defined, and one
handler (`app.web.problems.answer_error`) turns any of them into the answer through the one
table of codes, `PROBLEMS` below. This module imports nothing of the service, so the lowest
layers (`app.clever` included) can raise such errors, and the HTTP protocol (app.serving) can
answer a refusal, without reaching up to the web.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class ServiceError(Exception):
    """An error answered with `code`, one of the stable codes of `PROBLEMS`.

    Subclasses name their code as a class attribute, or set it per instance; `answer_headers`
    gives any header the answer carries (a `Retry-After`, a `WWW-Authenticate` challenge).
    """

    code: str = "internal_error"

    def answer_headers(self) -> dict[str, str]:
        return {}


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


def problem_body(code: str) -> bytes:
    """The JSON body every non-page answer of `code` carries: `{"error": code, "message": ...}`."""
    body = {"error": code, "message": PROBLEMS[code].message}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
