"""Spoofed `Host` and `X-Forwarded-*`: nothing the service answers depends on them.

The redirect URI, every redirect target and the CSRF origin check come from the settings, never
from the request; and behind `clever-login serve`, forwarding headers are believed only from the
addresses in `--forwarded-allow-ips`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.serving.server import ServeOptions, uvicorn_options
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox
from tests.security.conftest import error_code
from tests.support.browser import Browser
from tests.support.demo import demo_user

SPOOFED: list[dict[str, str]] = [
    {"Host": "evil.example"},
    {"Host": "evil.example:443"},
    {"Host": "127.0.0.1/auth/callback?x="},  # a Host that once rebuilt request.url (starlette < 1.0.1)
    {"X-Forwarded-Host": "evil.example"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "443"},
    {"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3", "Forwarded": "for=10.1.2.3;host=evil.example"},
    {"X-Forwarded-Uri": "/healthz", "X-Original-URL": "/healthz", "X-Rewrite-URL": "/healthz"},
    {"X-Forwarded-Prefix": "/evil", "X-Script-Name": "/evil"},
]


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


@pytest.mark.parametrize("spoofed", SPOOFED)
async def test_the_authorize_redirect_ignores_spoofed_headers(
    spoofed: dict[str, str], sandbox_server: RunningSandbox, shared_backend: str
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{shared_backend}/auth/login", headers=spoofed)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(f"{sandbox_server.url}/oauth/authorize?")
    assert _query(location)["redirect_uri"] == [TEST_REDIRECT_URI]
    assert "evil" not in location


@pytest.mark.parametrize("spoofed", SPOOFED)
async def test_the_landing_ignores_spoofed_headers(
    spoofed: dict[str, str], sandbox_server: RunningSandbox, shared_backend: str
) -> None:
    user = demo_user(sandbox_server.sandbox.store, "teacher")
    async with Browser(shared_backend) as browser:
        start = await browser.start_login()
        clever = await browser.sign_in_at_clever(start.location, user["id"])
        query = urlsplit(clever.location).query
        landed = await browser.http.get(f"{shared_backend}/auth/callback?{query}", headers=spoofed)
    assert landed.status_code == 302
    assert landed.headers["location"] == "http://127.0.0.1:5173/home"


@pytest.mark.parametrize("spoofed", SPOOFED)
async def test_spoofed_headers_neither_open_the_api_nor_pass_csrf(
    spoofed: dict[str, str], logged_in: Browser
) -> None:
    backend = logged_in.backend_url
    async with httpx.AsyncClient() as anonymous:
        answer = await anonymous.get(f"{backend}/auth/session", headers=spoofed)
    assert (answer.status_code, error_code(answer)) == (401, "no_session")
    assert answer.headers["content-type"].startswith("application/json")
    host = spoofed.get("X-Forwarded-Host", spoofed.get("Host", "evil.example")).split("/")[0]
    forged = await logged_in.http.post(
        f"{backend}/auth/logout", headers={**spoofed, "Origin": f"http://{host}", "X-Requested-With": "x"}
    )
    assert (forged.status_code, error_code(forged)) == (403, "csrf_origin_denied")
    assert (await logged_in.session()).status_code == 200


@pytest.mark.parametrize(
    "name", [b"X_Forwarded_Host", b"x-forwarded-host ", b"X-FORWARDED-HOST", b"X-Forwarded-Host\t"]
)
async def test_header_name_variants_change_nothing(name: bytes, shared_backend: str) -> None:
    async with httpx.AsyncClient() as client:
        request = client.build_request("GET", f"{shared_backend}/auth/login")
        request.headers.raw.append((name.strip(), b"evil.example"))
        answer = await client.send(request)
    assert answer.status_code in (302, 400)
    if answer.status_code == 302:
        assert _query(answer.headers["location"])["redirect_uri"] == [TEST_REDIRECT_URI]


# -- behind `clever-login serve`: forwarding headers from an untrusted peer ------------------------


async def _echo(request: Request) -> JSONResponse:
    client = request.client
    return JSONResponse({"scheme": request.url.scheme, "client": client.host if client else None})


@contextlib.contextmanager
def _served_like_production(forwarded_allow_ips: str) -> Iterator[str]:
    """A probe app under uvicorn with the options `clever-login serve` uses."""
    options = uvicorn_options(ServeOptions(port=0, forwarded_allow_ips=forwarded_allow_ips))
    for name in ("factory", "workers", "log_config"):
        options.pop(name)
    options["log_level"] = "warning"
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", _echo)]), **options))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        loop.close()


@pytest.mark.parametrize(
    ("trusted", "expected"), [("10.0.0.1", ("http", "127.0.0.1")), ("127.0.0.1", ("https", "10.1.2.3"))]
)
async def test_forwarding_headers_count_only_from_a_trusted_proxy(
    trusted: str, expected: tuple[str, str]
) -> None:
    with _served_like_production(trusted) as url:
        async with httpx.AsyncClient() as client:
            answer = await client.get(
                url, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}
            )
    assert (answer.json()["scheme"], answer.json()["client"]) == expected
