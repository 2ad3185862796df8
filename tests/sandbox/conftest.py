"""Fixtures of the sandbox's own tests: its store, and a client holding a district-app token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from clever_sandbox.store import SandboxStore
from tests.conftest import RunningSandbox


@pytest.fixture
def store(sandbox: RunningSandbox) -> SandboxStore:
    return sandbox.sandbox.store


@pytest.fixture
async def http(sandbox: RunningSandbox, store: SandboxStore) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the sandbox with the main demo district's district-app token."""
    token = sandbox.sandbox.tokens.district_token(store.district_ids()[0], sandbox.config.client_id)
    async with httpx.AsyncClient(
        base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client
