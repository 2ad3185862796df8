"""Shared pieces of the attack suite: a logged-in browser and reading error codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis

from tests.conftest import RunningSandbox
from tests.support.backend import backend_on
from tests.support.browser import Browser
from tests.support.demo import demo_user

SESSION_COOKIE = "clever_session"  # COOKIE_SECURE=false in the tests: no __Host- prefix
LOGIN_COOKIE = "clever_login"


def error_code(response: httpx.Response) -> str:
    """The stable error code of an answer, JSON or friendly page."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("error", ""))
    marker = "Error code: "
    return response.text.split(marker, 1)[1].split("<", 1)[0] if marker in response.text else ""


@pytest.fixture(scope="module")
def shared_prefix(redis_url: str) -> Iterator[str]:
    """The Redis key prefix of `shared_backend`; its keys are deleted after the module."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


@pytest.fixture(scope="module")
def shared_backend(sandbox_server: RunningSandbox, redis_url: str, shared_prefix: str) -> Iterator[str]:
    """One backend with the default test settings for a whole module of attacks that change
    nothing shared (a backend per case would make the corpora slow). Tests that arm sandbox
    faults still ask for `sandbox`, which resets it afterwards."""
    with backend_on(sandbox_server, redis_url=redis_url, key_prefix=shared_prefix) as url:
        yield url


@pytest.fixture
async def logged_in(sandbox_server: RunningSandbox, shared_backend: str) -> AsyncIterator[Browser]:
    """A browser in which a demo teacher has just logged in (on `shared_backend`)."""
    user = demo_user(sandbox_server.sandbox.store, "teacher")
    async with Browser(shared_backend) as browser:
        landed = await browser.login(user["id"])
        assert landed.response.status_code == 302, landed.response.text
        yield browser
