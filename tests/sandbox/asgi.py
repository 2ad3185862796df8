"""A sandbox app of its own for one test, reached in-process through httpx's ASGI transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from clever_sandbox.state import Sandbox

BASE_URL = "http://sandbox.test"


@dataclass(frozen=True)
class LocalSandbox:
    http: httpx.AsyncClient
    sandbox: Sandbox

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config


@contextlib.asynccontextmanager
async def local_sandbox(config: SandboxConfig | None = None) -> AsyncIterator[LocalSandbox]:
    app = create_sandbox_app(config or SandboxConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield LocalSandbox(http=http, sandbox=app.state.sandbox)


async def token_answer(local: LocalSandbox, user_id: str, **extra: str) -> dict[str, Any]:
    """The token endpoint's answer for a sign-in of `user_id` through authorize, back to the
    first redirect URI; `extra` goes to authorize."""
    redirect_uri = local.config.redirect_uris[0]
    params = {
        "response_type": "code",
        "client_id": local.config.client_id,
        "redirect_uri": redirect_uri,
        "login_hint": user_id,
        **extra,
    }
    authorize = await local.http.get("/oauth/authorize", params=params)
    assert authorize.status_code == 302, authorize.text
    code = httpx.URL(authorize.headers["location"]).params["code"]
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    response = await local.http.post(
        "/oauth/tokens", json=body, auth=(local.config.client_id, local.config.client_secret)
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
