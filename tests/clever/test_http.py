"""The pooled connection: timeouts, keep-alive, cookies, redirects, proxies, and the bounded JSON reader."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from app.clever.http import (
    DEFAULT_TIMEOUTS,
    KEEPALIVE_SECONDS,
    BodyTooLarge,
    CleverHTTP,
    NotJSON,
    is_json,
    origin,
    origin_of,
    read_json_body,
)
from tests.conftest import RunningSandbox


async def test_the_session_has_explicit_timeouts_and_keeps_connections_alive() -> None:
    async with CleverHTTP("https://api.clever.com") as http:
        session = http.session
        assert session.timeout.total is None  # the client's attempt deadline bounds the whole
        assert session.timeout.sock_connect == DEFAULT_TIMEOUTS.connect == 2.0
        assert session.timeout.sock_read == DEFAULT_TIMEOUTS.read == 5.0
        assert session.timeout.connect is not None
        assert session.timeout.connect >= session.timeout.sock_connect
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector._keepalive_timeout == KEEPALIVE_SECONDS == 60.0
        assert not session.trust_env  # no netrc or proxy lookups per request (see the proxy test)
        assert http.origin == ("https", "api.clever.com", 443)


def test_a_base_url_must_be_absolute_http() -> None:
    for bad in ("api.clever.com", "ftp://api.clever.com", "https://"):
        with pytest.raises(ValueError, match="absolute http"):
            CleverHTTP(bad)


async def test_connections_are_reused(sandbox: RunningSandbox) -> None:
    async with CleverHTTP(sandbox.url) as http:
        for _ in range(5):
            async with http.request("GET", "/.well-known/openid-configuration") as response:
                assert response.status == 200
                await response.read()
        connector = http.session.connector
        assert connector is not None
        # One keep-alive connection served every request, sequentially.
        assert sum(len(conns) for conns in connector._conns.values()) == 1


async def test_cookies_are_neither_kept_nor_sent_and_redirects_not_followed(sandbox: RunningSandbox) -> None:
    from tests.support.oauth import authorize_params

    login = next(login for login in sandbox.sandbox.store.demo_logins() if login.user_type == "teacher")
    async with CleverHTTP(sandbox.url) as http:
        # Authorize with a login_hint sets the sandbox's sign-in cookie, as Clever's does.
        params = list(authorize_params(sandbox.config, login.user_id).items())
        async with http.request("GET", "/oauth/authorize", params=params) as response:
            assert response.status == 302
            assert "set-cookie" in response.headers
        assert len(http.session.cookie_jar) == 0
        # Without a hint and without the cookie, the sandbox does not know who is signing in.
        params = list(authorize_params(sandbox.config, None).items())
        async with http.request("GET", "/oauth/authorize", params=params) as again:
            assert again.status == 200
            assert again.headers["content-type"].startswith("text/html")


@contextlib.asynccontextmanager
async def json_server() -> AsyncIterator[tuple[int, list[str]]]:
    """A bare HTTP server on loopback answering `{}` to anything; yields its port and the request
    lines it received, exactly as they arrived."""
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append((await reader.readline()).decode())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()


async def test_params_extend_a_query_and_keep_an_encoded_path() -> None:
    """What reaches the server: the path as given (already percent-encoded), our params after
    the link's own query, None as an empty value and booleans as words."""
    async with json_server() as (port, seen), CleverHTTP(f"http://127.0.0.1:{port}/") as http:
        target = "/v3.1/users/a%2Fb/sections?starting_after=x"
        params = [("limit", 5), ("flag", True), ("empty", None), ("q", "a b&c")]
        async with http.request("GET", target, params=params) as response:
            assert response.status == 200
    assert seen == [
        "GET /v3.1/users/a%2Fb/sections?starting_after=x&limit=5&flag=true&empty=&q=a+b%26c HTTP/1.1\r\n"
    ]


async def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP(S)_PROXY is honoured (looked up once, when the connection is made), NO_PROXY too."""
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    async with json_server() as (port, seen):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "bypassed.example")
        assert CleverHTTP("http://bypassed.example").proxy is None
        async with CleverHTTP("http://clever.example") as http:
            assert http.proxy == f"http://127.0.0.1:{port}"
            async with http.request("GET", "/v3.0/me") as response:
                assert response.status == 200
    assert seen == ["GET http://clever.example/v3.0/me HTTP/1.1\r\n"]


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
        (None, False),
    ],
)
def test_is_json(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected


JSON = {"content-type": "application/json"}


async def test_the_reader_stops_at_the_cap() -> None:
    chunks_sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        while True:
            chunks_sent += 1
            yield b"x" * 1024

    with pytest.raises(BodyTooLarge):
        await read_json_body(JSON, endless(), limit=10 * 1024)
    assert chunks_sent == 11


async def once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def test_the_reader_trusts_a_declared_length_over_the_cap() -> None:
    with pytest.raises(BodyTooLarge):
        await read_json_body({**JSON, "content-length": "999999"}, once(b"{}"), limit=1000)


async def test_the_reader_refuses_html() -> None:
    with pytest.raises(NotJSON):
        await read_json_body({"content-type": "text/html"}, once(b"<html></html>"))


async def test_the_reader_joins_the_chunks() -> None:
    async def two() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b"1}"

    assert await read_json_body({**JSON, "content-length": "7"}, two(), limit=7) == b'{"a":1}'


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://a.example.org/x?y", "https://a.example.org"),
        ("HTTP://A.example.org:80", "http://a.example.org"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("https://API.clever.com/v3.0/users?x", ("https", "api.clever.com", 443)),
        ("https://api.clever.com:443", ("https", "api.clever.com", 443)),
        ("http://[::1]:8000/", ("http", "::1", 8000)),
    ],
)
def test_origin(url: str, parts: tuple[str, str, int]) -> None:
    assert origin(url) == parts


@pytest.mark.parametrize("url", ["ftp://a.example.org", "https://", "/path", "mailto:a@example.org"])
def test_only_an_http_url_has_an_origin(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        origin_of(url)


def test_a_malformed_port_is_an_error() -> None:
    with pytest.raises(ValueError, match="Port out of range"):
        origin("https://a.example.org:99999/")
