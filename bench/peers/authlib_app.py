"""The usual Python do-it-yourself "Log in with Clever", as a benchmark peer.

    python -m bench.peers.authlib_app PORT      (settings from the environment, see `_env`)

Written the way authlib's Starlette guide and Clever's own tutorial lead one to: authlib's
Starlette client for the code flow (its state kept in Starlette's SessionMiddleware, a signed
cookie), then `/v3.0/me`, the user record, sections and resources, one after another.

The application session is kept in Redis, not in the SessionMiddleware cookie, so that this peer
does the same job as the backend (a server-side session that can be ended, under a sliding idle
timeout): a random id in a cookie, the session as JSON under `authlib:s:<id>`, and `/verify`
reading it with GET then sliding it with EXPIRE. Served by uvicorn with the backend's own options.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from authlib.integrations.starlette_client import OAuth
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.serving.server import ServeOptions, uvicorn_options

COOKIE = "peer_session"
IDLE_SECONDS = 30 * 60
PREFIX = "authlib:s:"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is required")
    return value


def create_app() -> Starlette:
    clever = _env("CLEVER_URL")
    callback_url = _env("CALLBACK_URL")
    oauth = OAuth()
    oauth.register(
        "clever",
        client_id=_env("CLIENT_ID"),
        client_secret=_env("CLIENT_SECRET"),
        authorize_url=f"{clever}/oauth/authorize",
        access_token_url=f"{clever}/oauth/tokens",
        api_base_url=clever,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name, no secret
    )
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = Redis.from_url(_env("REDIS_URL"))
        # The district-app token, fetched once at start (Sections and Resources need it).
        auth = (_env("CLIENT_ID"), _env("CLIENT_SECRET"))
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"{clever}/oauth/tokens", params={"owner_type": "district"}, auth=auth)
        state["district_token"] = {
            "access_token": answer.json()["data"][0]["access_token"],
            "token_type": "bearer",
        }
        state["redis"] = redis
        yield
        await redis.aclose()

    async def login(request: Request) -> Response:
        response: Response = await oauth.clever.authorize_redirect(request, callback_url)
        return response

    async def callback(request: Request) -> Response:
        token = await oauth.clever.authorize_access_token(request)
        me = (await oauth.clever.get("/v3.0/me", token=token)).json()["data"]
        user_id = me["id"]
        user = (await oauth.clever.get(f"/v3.1/users/{user_id}", token=token)).json()["data"]
        district = state["district_token"]
        sections = await oauth.clever.get(f"/v3.1/users/{user_id}/sections?limit=10000", token=district)
        resources = await oauth.clever.get(f"/v3.1/users/{user_id}/resources?limit=10000", token=district)
        record = {
            "id": user_id,
            "district": user["district"],
            "name": user["name"],
            "roles": list(user.get("roles", {})),
            "sections": [item["data"] for item in sections.json()["data"]],
            "resources": [item["data"] for item in resources.json()["data"]],
        }
        session_id = secrets.token_urlsafe(32)
        await state["redis"].set(PREFIX + session_id, json.dumps(record), ex=IDLE_SECONDS)
        response = RedirectResponse("/", status_code=302)
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="lax")
        return response

    async def verify(request: Request) -> Response:
        key = PREFIX + request.cookies.get(COOKIE, "")
        raw = await state["redis"].get(key) if key != PREFIX else None
        if raw is None:
            return Response(status_code=401)
        await state["redis"].expire(key, IDLE_SECONDS)
        record = json.loads(raw)
        return Response(
            status_code=200,
            headers={
                "X-Clever-User-Id": record["id"],
                "X-Clever-District-Id": record["district"],
                "X-Clever-Roles": ",".join(record["roles"]),
            },
        )

    return Starlette(
        routes=[
            Route("/login", login),
            Route("/callback", callback),
            Route("/verify", verify),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=_env("SESSION_SECRET"), https_only=False)],
        lifespan=lifespan,
    )


def main() -> None:
    port = int(sys.argv[1])
    uvicorn.run(
        "bench.peers.authlib_app:create_app", **uvicorn_options(ServeOptions(port=port, log_level="warning"))
    )


if __name__ == "__main__":
    main()
