"""Sandboxes in the OAuth strictness modes the login tests run against (README, "Sandbox modes")."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from clever_sandbox.config import SandboxConfig
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox, remember_sandbox_secrets, running_sandbox

PKCE_MODES = ("ignored", "enforced")


@pytest.fixture(scope="session")
def enforcing_sandbox_server() -> Iterator[RunningSandbox]:
    """A sandbox that checks PKCE as an RFC 7636 server does, for the whole run."""
    with running_sandbox(SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,), pkce="enforced")) as running:
        yield running
    remember_sandbox_secrets(running.sandbox)


@pytest.fixture(params=PKCE_MODES)
async def pkce_sandbox(
    request: pytest.FixtureRequest, sandbox: RunningSandbox, enforcing_sandbox_server: RunningSandbox
) -> AsyncIterator[RunningSandbox]:
    """The shared sandbox (PKCE ignored, its default) or the enforcing one, put back to its
    seeded district after the test."""
    if request.param == "ignored":
        yield sandbox
        return
    yield enforcing_sandbox_server
    remember_sandbox_secrets(enforcing_sandbox_server.sandbox)
    async with httpx.AsyncClient(base_url=enforcing_sandbox_server.url) as client:
        (await client.post("/sandbox/reset")).raise_for_status()
