"""Security headers on every route of the backend, for every kind of answer it gives."""

from __future__ import annotations

import json

import httpx
import pytest

from app.web.openapi import openapi_document
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user

ROUTES = sorted(
    (method.upper(), path)
    for path, item in json.loads(openapi_document())["paths"].items()
    for method in item
)
# Answers that carry a session, a cookie or personal data, and so must never be cached.
PERSONAL = {path for _, path in ROUTES if path.startswith("/auth/")}


def _concrete(path: str, user_id: str, district_id: str) -> str:
    return path.replace("{user_id}", user_id).replace("{district_id}", district_id)


def _check(response: httpx.Response, *, hsts: bool) -> list[str]:
    problems = []
    headers = response.headers
    expected = {
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
    }
    for name, value in expected.items():
        if headers.get(name) != value:
            problems.append(f"{name}: {headers.get(name)!r}")
    if "frame-ancestors 'none'" not in headers.get("content-security-policy", ""):
        problems.append(f"content-security-policy: {headers.get('content-security-policy')!r}")
    if hsts != ("max-age=31536000" in headers.get("strict-transport-security", "")):
        problems.append(f"strict-transport-security: {headers.get('strict-transport-security')!r}")
    path = response.request.url.path
    if (path.startswith("/auth/") or "set-cookie" in headers) and headers.get("cache-control") != "no-store":
        problems.append(f"cache-control: {headers.get('cache-control')!r}")
    return problems


async def _every_route(
    backend: str, client: httpx.AsyncClient, user_id: str, district_id: str, *, hsts: bool
) -> list[str]:
    problems = []
    for method, path in ROUTES:
        url = f"{backend}{_concrete(path, user_id, district_id)}"
        auth = (SERVICE_NAME, SERVICE_SECRET) if path.endswith(("/sessions", "introspect")) else None
        for headers in ({"X-Requested-With": "x"}, {"Accept": "application/json", "X-Requested-With": "x"}):
            response = await client.request(method, url, headers=headers, auth=auth)
            problems += [f"{method} {path} {response.status_code}: {p}" for p in _check(response, hsts=hsts)]
    return problems


def test_the_route_list_is_the_whole_api() -> None:
    assert len(ROUTES) >= 12
    assert ("GET", "/auth/callback") in ROUTES
    assert ("DELETE", "/auth/users/{user_id}/sessions") in ROUTES


@pytest.mark.parametrize("secure", [False, True])
async def test_anonymous_answers_on_every_route(
    secure: bool, sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    with make_backend(COOKIE_SECURE=str(secure).lower()) as backend:
        async with httpx.AsyncClient() as client:
            problems = await _every_route(backend, client, user["id"], user["district"], hsts=secure)
            error = await client.get(f"{backend}/no/such/route")
            problems += _check(error, hsts=secure)
    assert problems == []


async def test_logged_in_answers_on_every_route(sandbox: RunningSandbox, backend: str) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser(backend) as browser:
        landed = await browser.login(user["id"], return_to="/x")
        problems = _check(landed.response, hsts=False)
        problems += await _every_route(backend, browser.http, user["id"], user["district"], hsts=False)
    assert problems == []


async def test_the_session_cookie_and_login_cookie_attributes(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    """With COOKIE_SECURE (the default), both cookies are `__Host-`, Secure, HttpOnly, Path=/, no Domain."""
    with make_backend(COOKIE_SECURE="true") as backend:
        async with httpx.AsyncClient() as client:
            start = await client.get(f"{backend}/auth/login")
            logout = await client.post(f"{backend}/auth/logout", headers={"X-Requested-With": "x"})
    for response, name in ((start, "__Host-clever_login"), (logout, "__Host-clever_session")):
        cookie = response.headers["set-cookie"]
        attributes = {part.strip().split("=", 1)[0].lower() for part in cookie.split(";")[1:]}
        assert cookie.startswith(f"{name}=")
        assert {"secure", "httponly", "path", "samesite"} <= attributes
        assert "domain" not in attributes
        assert "path=/" in cookie.lower().replace(" ", "")
        assert response.headers["cache-control"] == "no-store"
