"""A sandbox app of its own for one test, reached in-process through httpx's ASGI transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

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
