"""The Starlette (and FastAPI) part: the ticket a request carries, and the answer to send when
there is no user. Needs the `starlette` extra (`pip install './clients/python[starlette]'`)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from clever_login_client import CleverUser, LoginBackendUnavailable, NotLoggedIn, ticket_from

# How long a client should wait before asking again when clever-login cannot be asked.
RETRY_AFTER_SECONDS = 5


def session_ticket(request: Request) -> str | None:
    """The ticket `request` carries: `Authorization: Bearer`, else clever-login's session cookie
    (present only when this service is served on the login backend's own host)."""
    return ticket_from(request.headers.get("authorization", ""), request.cookies)


async def user_or_error(find: Awaitable[CleverUser]) -> CleverUser | Response:
    """The user, or the response to send instead: 401 `no_session`, 503 `login_unavailable`.
    These are this service's own answers (clients/python/README.md), not clever-login's codes."""
    try:
        return await find
    except NotLoggedIn:
        return JSONResponse({"error": "no_session", "message": "Log in first."}, status_code=401)
    except LoginBackendUnavailable:
        return JSONResponse(
            {"error": "login_unavailable", "message": "Cannot check who you are right now; try again soon."},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


__all__ = ["RETRY_AFTER_SECONDS", "session_ticket", "user_or_error"]
