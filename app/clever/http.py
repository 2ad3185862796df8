"""The pooled HTTP client for one Clever host, and a bounded reader for its JSON bodies.

httpx's own connection pool collapses under concurrent use (encode/httpx#3215), so the
client keeps httpx's API over aiohttp's connection pool (the `httpx-aiohttp` transport).
"""

from __future__ import annotations

import ssl
from http.cookiejar import CookieJar, DefaultCookiePolicy

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

DEFAULT_BODY_LIMIT = 4 * 1024 * 1024

# Under the aiohttp transport `pool` bounds the wait for a free connection *plus* connecting
# (aiohttp's `connect`), while `connect` bounds the socket connect alone: keep pool >= connect.
DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=3.0)

# httpx's default keep-alive of 5 s would re-handshake TLS on every sparse login.
DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=60.0)

USER_AGENT = "clever-login"


def create_http_client(
    base_url: str,
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """A long-lived client for one Clever host; create it once (in the lifespan) and `aclose` it.

    Safe to call outside an event loop: aiohttp's session is made on the first request. Cookies
    are neither stored nor sent, on either layer: this client is shared by every login.
    """
    context = ssl_context if ssl_context is not None else ssl.create_default_context()

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=context,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    transport = AiohttpTransport(verify=context, limits=limits, client=session)
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


class BodyTooLarge(Exception):
    """The body passed the byte cap; nothing past the cap was read."""


class NotJSON(Exception):
    """The answer's Content-Type is not JSON (Clever sends HTML pages for some token mix-ups)."""


def is_json(response: httpx.Response) -> bool:
    media_type = str(response.headers.get("content-type", "")).partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json_body(response: httpx.Response, limit: int = DEFAULT_BODY_LIMIT) -> bytes:
    """The body of a streamed JSON response, refusing a wrong content type or more than `limit` bytes.

    The cap applies to the decoded bytes (after any gzip), so a small compressed body cannot
    expand past it; a declared Content-Length over the cap is refused before reading.
    """
    if not is_json(response):
        raise NotJSON
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
