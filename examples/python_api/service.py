"""A partner's own API, learning who calls it from clever-login (docs/integrate.md).

It uses the package in clients/python (`pip install './clients/python[starlette]'`; the root
project's tests find it without installing). Run it beside a backend started with
`SERVICE_CLIENTS=reports:<secret>`:

    CLEVER_LOGIN_URL=http://127.0.0.1:8000 CLEVER_LOGIN_CLIENT=reports CLEVER_LOGIN_SECRET=<secret> \\
        uvicorn --factory examples.python_api.service:from_environment --port 8100

or, behind a gateway that checks `/auth/verify` and sets the `X-Clever-*` headers, with
`CLEVER_LOGIN_TRUST_GATEWAY=true` instead of the three others.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clever_login_client import CleverUser, Introspector, NotLoggedIn, from_gateway_headers
from clever_login_client.starlette import session_ticket, user_or_error


def create_api(introspector: Introspector | None) -> Starlette:
    """With an introspector, every request's ticket is checked with clever-login; without one, the
    gateway's headers are believed (so never expose this app except through that gateway)."""

    async def current_user(request: Request) -> CleverUser:
        if introspector is None:
            return from_gateway_headers(request.headers)
        return await introspector.user(session_ticket(request))

    async def me(request: Request) -> Response:
        user = await user_or_error(current_user(request))
        if isinstance(user, Response):
            return user
        return JSONResponse(
            {"user_id": user.user_id, "district_id": user.district_id, "roles": list(user.roles)}
        )

    async def teachers_only(request: Request) -> Response:
        user = await user_or_error(current_user(request))
        if isinstance(user, Response):
            return user
        if "teacher" not in user.roles:
            return JSONResponse({"error": "forbidden", "message": "For teachers."}, status_code=403)
        return JSONResponse({"gradebook": "open"})

    return Starlette(routes=[Route("/api/me", me), Route("/api/gradebook", teachers_only)])


def from_environment(environ: Mapping[str, str] | None = None) -> Starlette:
    env = os.environ if environ is None else environ
    if env.get("CLEVER_LOGIN_TRUST_GATEWAY", "").lower() == "true":
        return create_api(None)
    http = httpx.AsyncClient(timeout=3)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await http.aclose()

    introspector = Introspector(
        env["CLEVER_LOGIN_URL"], env["CLEVER_LOGIN_CLIENT"], env["CLEVER_LOGIN_SECRET"], http=http
    )
    api = create_api(introspector)
    api.router.lifespan_context = lifespan
    return api


__all__ = ["NotLoggedIn", "create_api", "from_environment"]
