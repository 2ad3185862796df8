"""The pooled client: transport, timeouts, keep-alive, cookies, and the bounded JSON reader."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from app.clever.http import (
    DEFAULT_LIMITS,
    BodyTooLarge,
    NotJSON,
    create_http_client,
    is_json,
    read_json_body,
)
from tests.conftest import RunningSandbox


async def test_the_client_uses_the_aiohttp_transport_with_explicit_timeouts() -> None:
    http = create_http_client("https://api.clever.com")
    try:
        assert isinstance(http._transport, AiohttpTransport)
        assert http.timeout.connect == 2.0
        assert http.timeout.read == 5.0
        assert http.timeout.pool is not None
        assert http.timeout.pool >= http.timeout.connect
        assert DEFAULT_LIMITS.keepalive_expiry == 60.0
        assert not http.follow_redirects
    finally:
        await http.aclose()


async def test_connections_are_reused(sandbox: RunningSandbox) -> None:
    http = create_http_client(sandbox.url)
    try:
        for _ in range(5):
            (await http.get("/.well-known/openid-configuration")).raise_for_status()
        transport = http._transport
        assert isinstance(transport, AiohttpTransport)
        session = transport.client
        assert session is not None
        assert not callable(session)
        connector = session.connector
        assert connector is not None
        # One keep-alive connection served every request, sequentially.
        assert sum(len(conns) for conns in connector._conns.values()) == 1
    finally:
        await http.aclose()


async def test_cookies_are_neither_kept_nor_sent(sandbox: RunningSandbox) -> None:
    from tests.support.oauth import authorize_params

    login = next(login for login in sandbox.sandbox.store.demo_logins() if login.user_type == "teacher")
    http = create_http_client(sandbox.url)
    try:
        # Authorize with a login_hint sets the sandbox's sign-in cookie, as Clever's does.
        response = await http.get("/oauth/authorize", params=authorize_params(sandbox.config, login.user_id))
        assert response.status_code == 302
        assert "set-cookie" in response.headers
        assert not http.cookies
        # Without a hint and without the cookie, the sandbox does not know who is signing in.
        params = authorize_params(sandbox.config, None)
        again = await http.get("/oauth/authorize", params=params)
        assert again.status_code == 200
        assert again.headers["content-type"].startswith("text/html")
    finally:
        await http.aclose()


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON", True),
        ("application/jwk-set+json", True),
        ("text/html; charset=utf-8", False),
        ("text/json", False),
        ("", False),
    ],
)
def test_is_json(content_type: str, expected: bool) -> None:
    response = httpx.Response(200, headers={"content-type": content_type} if content_type else {})
    assert is_json(response) is expected


async def test_the_reader_stops_at_the_cap() -> None:
    chunks_sent = 0

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            nonlocal chunks_sent
            while True:
                chunks_sent += 1
                yield b"x" * 1024

    response = httpx.Response(200, headers={"content-type": "application/json"}, stream=Endless())
    with pytest.raises(BodyTooLarge):
        await read_json_body(response, limit=10 * 1024)
    assert chunks_sent == 11


async def test_the_reader_trusts_a_declared_length_over_the_cap() -> None:
    response = httpx.Response(
        200, headers={"content-type": "application/json", "content-length": "999999"}, content=b"{}"
    )
    with pytest.raises(BodyTooLarge):
        await read_json_body(response, limit=1000)


async def test_the_reader_refuses_html() -> None:
    response = httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html></html>")
    with pytest.raises(NotJSON):
        await read_json_body(response)
