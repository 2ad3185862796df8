"""Oversized and unexpected requests: refused with a stable code before anything parses them, and
the service keeps answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.security.conftest import error_code
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET


async def _alive(shared_backend: str) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{shared_backend}/healthz")).status_code == 200


async def _raw(shared_backend: str, request: bytes) -> str:
    """Send `request` as it is; answers the status line and headers of the reply."""
    reader, writer = await asyncio.open_connection(*shared_backend.removeprefix("http://").split(":"))
    try:
        writer.write(request)
        await writer.drain()
        return (await reader.readuntil(b"\r\n\r\n")).decode()
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        pytest.param(
            {"Cookie": "clever_session=" + "A" * 64 * 1024}, 431, "headers_too_large", id="64kb-cookie"
        ),
        pytest.param(
            {"Cookie": "clever_session=" + "A" * 1024 * 1024}, 431, "headers_too_large", id="1mb-cookie"
        ),
        pytest.param(
            {"Cookie": "; ".join(f"c{i}=v{i}" for i in range(500))}, 401, "no_session", id="500-small-cookies"
        ),
        pytest.param(
            {"Cookie": "; ".join(f"c{i}={'v' * 60}" for i in range(500))},
            431,
            "headers_too_large",
            id="500-cookies",
        ),
        pytest.param({f"X-Pad-{i}": "v" for i in range(150)}, 431, "headers_too_large", id="150-headers"),
        pytest.param({"Authorization": "Bearer " + "A" * 20_000}, 431, "headers_too_large", id="20kb-bearer"),
        pytest.param({"Authorization": "Bearer " + "A" * 4_000}, 401, "no_session", id="4kb-bearer"),
    ],
)
async def test_oversized_headers_are_refused(
    headers: dict[str, str], status: int, code: str, shared_backend: str
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{shared_backend}/auth/session", headers=headers)
    assert (answer.status_code, error_code(answer)) == (status, code)
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    await _alive(shared_backend)


@pytest.mark.parametrize("size", [20 * 1024, 100 * 1024])
async def test_an_oversized_url_is_refused(size: int, shared_backend: str) -> None:
    # Sent as raw bytes: httpx itself refuses to build a URL this long.
    head = await _raw(
        shared_backend, f"GET /auth/login?return_to={'a' * size} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    assert head.startswith("HTTP/1.1 414 "), head
    await _alive(shared_backend)


async def test_a_long_but_sane_query_is_an_ordinary_bad_request(shared_backend: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{shared_backend}/auth/callback", params={"code": "a", "state": "s" * 10 * 1024}
        )
    assert (answer.status_code, error_code(answer)) == (400, "invalid_request")


@pytest.mark.parametrize("path", ["/auth/logout", "/auth/introspect", "/auth/login"])
async def test_a_large_declared_body_is_413_unread(path: str, shared_backend: str) -> None:
    # Only the head is sent: the answer must not wait for a megabyte that never comes.
    head = await _raw(
        shared_backend,
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Requested-With: x\r\n"
        f"Content-Length: {1024 * 1024}\r\n\r\n{{".encode(),
    )
    assert head.startswith("HTTP/1.1 413 "), head
    await _alive(shared_backend)


async def test_a_streamed_body_to_introspection_is_cut_off(shared_backend: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(256):
            yield b"{" * 4096

    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{shared_backend}/auth/introspect",
            content=chunks(),
            headers={"Content-Type": "application/json"},
            auth=(SERVICE_NAME, SERVICE_SECRET),
        )
    assert (answer.status_code, error_code(answer)) == (400, "invalid_request")
    await _alive(shared_backend)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "application/json", "application/x-www-form-urlencoded"],
)
async def test_bodies_to_the_login_routes_are_not_parsed(content_type: str, shared_backend: str) -> None:
    async with httpx.AsyncClient() as client:
        for path in ("/auth/login", "/auth/callback"):
            answer = await client.post(
                f"{shared_backend}{path}",
                content=b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--\r\n",
                headers={"Content-Type": content_type},
            )
            assert (answer.status_code, error_code(answer)) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(
            b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            id="bad-chunk",
        ),
        pytest.param(
            b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="length-and-chunked",
        ),
        pytest.param(b"GET /auth/session HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", id="space-in-name"),
        pytest.param(b"GET /auth/session HTTP/1.1\r\nHost: x\r\n\x00: y\r\n\r\n", id="nul-name"),
        pytest.param(b"GET /auth/session\x00 HTTP/1.1\r\nHost: x\r\n\r\n", id="nul-target"),
    ],
)
async def test_malformed_http_is_a_client_error(raw: bytes, shared_backend: str) -> None:
    reader, writer = await asyncio.open_connection(*shared_backend.removeprefix("http://").split(":"))
    writer.write(raw)
    await writer.drain()
    head = (await reader.read(4096)).decode(errors="replace")
    writer.close()
    await writer.wait_closed()
    if head:  # the server may also just close the connection
        status = int(head.split(" ", 2)[1])
        assert 400 <= status < 500, head
    await _alive(shared_backend)
