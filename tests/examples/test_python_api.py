"""examples/python_api: a partner's Starlette API, against a real backend and the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from clever_login_client import Introspector
from examples.python_api.service import create_api, from_environment
from tests.clients.support import logged_in_ticket
from tests.conftest import RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.processes import free_port

CSRF = {"X-Requested-With": "test"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def api_client(introspector: Introspector | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_api(introspector)), base_url="http://api"
    )


async def test_the_api_learns_the_user_by_introspection_and_remembers_it_briefly(
    sandbox: RunningSandbox, backend: str, http: httpx.AsyncClient
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    clock = Clock()
    introspector = Introspector(
        backend, SERVICE_NAME, SERVICE_SECRET, http=http, cache_seconds=10, clock=clock
    )
    async with Browser(backend) as browser, api_client(introspector) as api:
        ticket = await logged_in_ticket(browser, teacher["id"])
        bearer = {"Authorization": f"Bearer {ticket}"}
        me = await api.get("/api/me", headers=bearer)
        assert me.status_code == 200, me.text
        assert me.json()["user_id"] == teacher["id"]
        assert "teacher" in me.json()["roles"]
        assert (await api.get("/api/gradebook", headers=bearer)).status_code == 200
        assert introspector.backend_calls == 1  # the second request was answered from the cache

        logout = await browser.http.post(f"{backend}/auth/logout", headers=CSRF)
        assert logout.status_code == 204
        clock.now += 11  # past the cache's lifetime: clever-login is asked again, and says no
        gone = await api.get("/api/me", headers=bearer)
        assert (gone.status_code, gone.json()["error"]) == (401, "no_session")
        assert introspector.backend_calls == 2


async def test_the_session_cookie_is_used_when_the_api_shares_the_login_host(
    sandbox: RunningSandbox, backend: str, http: httpx.AsyncClient
) -> None:
    student = demo_user(sandbox.sandbox.store, "student")
    introspector = Introspector(backend, SERVICE_NAME, SERVICE_SECRET, http=http)
    async with Browser(backend) as browser, api_client(introspector) as api:
        ticket = await logged_in_ticket(browser, student["id"])
        me = await api.get("/api/me", headers={"Cookie": f"clever_session={ticket}"})
        assert me.json()["user_id"] == student["id"]
        refused = await api.get("/api/gradebook", headers={"Cookie": f"clever_session={ticket}"})
        assert refused.status_code == 403


async def test_no_ticket_is_401_without_asking_the_backend(backend: str, http: httpx.AsyncClient) -> None:
    introspector = Introspector(backend, SERVICE_NAME, SERVICE_SECRET, http=http)
    async with api_client(introspector) as api:
        answer = await api.get("/api/me")
    assert (answer.status_code, answer.json()["error"]) == (401, "no_session")
    assert introspector.backend_calls == 0


async def test_a_backend_that_is_down_is_503_not_a_crash(http: httpx.AsyncClient) -> None:
    introspector = Introspector(f"http://127.0.0.1:{free_port()}", SERVICE_NAME, SERVICE_SECRET, http=http)
    async with api_client(introspector) as api:
        answer = await api.get("/api/me", headers={"Authorization": "Bearer some-ticket"})
    assert (answer.status_code, answer.json()["error"]) == (503, "login_unavailable")
    assert answer.headers["retry-after"] == "5"


async def test_a_refused_service_credential_is_503_not_the_callers_401(
    sandbox: RunningSandbox, backend: str, http: httpx.AsyncClient
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    introspector = Introspector(backend, SERVICE_NAME, "not-the-secret-0123456789abcdef", http=http)
    async with Browser(backend) as browser, api_client(introspector) as api:
        ticket = await logged_in_ticket(browser, teacher["id"])
        answer = await api.get("/api/me", headers={"Authorization": f"Bearer {ticket}"})
    assert (answer.status_code, answer.json()["error"]) == (503, "login_unavailable")


async def test_behind_the_gateway_the_api_reads_its_headers(sandbox: RunningSandbox, backend: str) -> None:
    """The headers as the gateway sets them: taken from the backend's own /auth/verify answer."""
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser, api_client(None) as api:
        await logged_in_ticket(browser, teacher["id"])
        verify = await browser.http.get(f"{backend}/auth/verify")
        assert verify.status_code == 200
        forwarded = {name: value for name, value in verify.headers.items() if name.startswith("x-clever-")}
        me = await api.get("/api/me", headers=forwarded)
        assert me.json()["user_id"] == teacher["id"]
        assert me.json()["roles"] == verify.headers["x-clever-roles"].split(",")
        nobody = await api.get("/api/me")
        assert nobody.status_code == 401


def test_the_service_is_configured_from_its_environment() -> None:
    assert from_environment({"CLEVER_LOGIN_TRUST_GATEWAY": "true"}).routes
    api = from_environment(
        {"CLEVER_LOGIN_URL": "http://127.0.0.1:8000", "CLEVER_LOGIN_CLIENT": "a", "CLEVER_LOGIN_SECRET": "b"}
    )
    assert [route.path for route in api.routes] == ["/api/me", "/api/gradebook"]  # type: ignore[attr-defined]
