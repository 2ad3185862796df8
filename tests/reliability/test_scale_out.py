"""Two backend processes over one Redis: any of them finishes what another started."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.support.backend import backend_environ
from tests.support.balancer import BackendProcess, backend_processes
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.redis_servers import RedisProcess, standalone_redis
from tests.support.session_flow import CSRF

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisProcess]:
    with standalone_redis() as started:
        yield started


@pytest.fixture
def prefix() -> str:
    return f"scale:{uuid.uuid4().hex}:"


@pytest.fixture
def pair(sandbox: RunningSandbox, server: RedisProcess, prefix: str) -> Iterator[list[BackendProcess]]:
    environ = backend_environ(sandbox.url, sandbox.config, redis_url=server.url, key_prefix=prefix)
    with backend_processes(environ, 2) as started:
        yield started


async def test_a_login_started_on_one_backend_finishes_on_the_other(
    sandbox: RunningSandbox, pair: list[BackendProcess]
) -> None:
    one, other = pair
    user_id = demo_user(sandbox.sandbox.store, "teacher")["id"]
    async with Browser(one.url) as browser:
        start = await browser.start_login()
        assert start.response.status_code == 302
        clever = await browser.sign_in_at_clever(start.location, user_id)
        # Clever sends the browser back; the load balancer picks the other process.
        browser.backend_url = other.url
        landed = await browser.callback(clever.location)
        assert landed.response.status_code == 302, landed.response.text
        # Either process answers for the session, and a logout on one ends it on both.
        for backend in (one, other):
            answer = await browser.http.get(f"{backend.url}/auth/session")
            assert answer.status_code == 200, answer.text
            assert answer.json()["user"]["id"] == user_id
        logout = await browser.http.post(f"{one.url}/auth/logout", headers=CSRF)
        assert logout.status_code == 204
        assert (await browser.http.get(f"{other.url}/auth/session")).status_code == 401


async def test_the_district_token_one_process_fetched_serves_the_other(
    sandbox: RunningSandbox, server: RedisProcess, prefix: str, pair: list[BackendProcess]
) -> None:
    """The district-app token is fetched once for the deployment, not once per process."""
    store = sandbox.sandbox.store
    teacher, student = demo_user(store, "teacher"), demo_user(store, "student")
    assert teacher["district"] == student["district"]
    cached: list[dict[bytes, bytes | None]] = []
    for backend, user in zip(pair, (teacher, student), strict=True):
        async with Browser(backend.url) as browser:
            landed = await browser.login(user["id"])
            assert landed.response.status_code == 302, landed.response.text
        with server.client() as client:
            cached.append({key: client.get(key) for key in client.scan_iter(match=f"{prefix}dt:*")})
    assert len(cached[0]) == 1
    assert cached[1] == cached[0]  # the same sealed token: the second process did not fetch again
