"""The pooled HTTP connection to one Clever host, and a bounded reader for its JSON bodies.

aiohttp, used directly: httpx's own pool collapses under concurrent use (encode/httpx#3215), and
httpx's API over aiohttp's pool cost about a sixth of a login's CPU (bench/). Its exceptions stop
here: a request, its body and its release raise `TransportFailed` instead.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
USER_AGENT = "clever-login"

# Query values as the client passes them: None is sent as an empty value, booleans as true/false.
Param = tuple[str, str | int | float | bool | None]
Params = Sequence[Param]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `pool` bounds waiting for a free connection *plus* connecting, `connect` the socket
    connect alone (keep pool >= connect), `read` each wait for more of an answer. What bounds a
    whole attempt is the client's `attempt_timeout`."""

    connect: float = 2.0
    pool: float = 3.0
    read: float = 5.0


DEFAULT_TIMEOUTS = Timeouts()
MAX_CONNECTIONS = 200
# A short keep-alive would re-handshake TLS on every sparse login.
KEEPALIVE_SECONDS = 60.0


class CleverHTTP:
    """A long-lived client for one Clever host; create it once (in the lifespan) and `aclose` it.

    Safe to create outside an event loop: aiohttp's session is made on the first request. No
    cookie is stored or sent (the client is shared by every login), no redirect is followed,
    and a proxy named by `HTTPS_PROXY`/`HTTP_PROXY` (unless `NO_PROXY` covers the host) is
    looked up once, here, not on every request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        max_connections: int = MAX_CONNECTIONS,
        keepalive: float = KEEPALIVE_SECONDS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.origin = origin(base_url)
        self.proxy = _env_proxy(parts.scheme, parts.hostname)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeouts.pool, sock_connect=timeouts.connect, sock_read=timeouts.read
        )
        self._max_connections = max_connections
        self._keepalive = keepalive
        self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._session

    def request(
        self,
        method: str,
        target: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Exchange:
        """`async with http.request(...) as answer:` for `target`, a path (with any query) on
        this host, already percent-encoded; `params` are appended to its query."""
        url = self.base_url + target
        if params:
            url += ("&" if "?" in target else "?") + urlencode([(k, _text(v)) for k, v in params])
        return Exchange(
            self.session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                json=json,
                allow_redirects=False,
                proxy=self.proxy,
            )
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> CleverHTTP:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()


class TransportFailed(Exception):
    """No answer came: the connection failed or timed out (aiohttp's error is the `__cause__`)."""

    def __init__(self, cause: BaseException) -> None:
        self.timed_out = isinstance(cause, TimeoutError)
        super().__init__("timed out" if self.timed_out else f"connection failed ({type(cause).__name__})")


# What aiohttp raises for a failed connection, send or read; its timeouts are TimeoutErrors.
_FOREIGN = (aiohttp.ClientError, OSError)


class Exchange:
    """One request in flight: entering it sends the request and yields the `Answer`; leaving it
    gives the connection back. Only what the transport raises is translated, not what the
    `async with` block does."""

    __slots__ = ("_pending",)

    def __init__(self, pending: Any) -> None:
        self._pending = pending

    async def __aenter__(self) -> Answer:
        try:
            return Answer(await self._pending.__aenter__())
        except _FOREIGN as exc:
            raise TransportFailed(exc) from exc

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            await self._pending.__aexit__(kind, error, trace)
        except _FOREIGN as exc:
            raise TransportFailed(exc) from exc


class Answer:
    """Clever's answer: status and headers (a repeated header keeps its lines apart), and the body,
    read in chunks or at once."""

    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status: int = response.status
        self.headers: CIMultiDictProxy[str] = response.headers

    def chunks(self) -> AsyncIterable[bytes]:
        return _Chunks(self._response)

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except _FOREIGN as exc:
            raise TransportFailed(exc) from exc


class _Chunks:
    __slots__ = ("_chunks",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._chunks = response.content.iter_any()

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except _FOREIGN as exc:
            raise TransportFailed(exc) from exc


# A URL's origin, read one way wherever one is compared: the settings, the CORS/CSRF checks,
# `return_to` and the client's link routing (here because the Clever client sits below them all).
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, host and port (the scheme's default when not given) of an absolute URL, lower-cased.

    Raises ValueError on a malformed port or host.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port
    return (
        scheme,
        (parts.hostname or "").lower(),
        port if port is not None else _DEFAULT_PORTS.get(scheme, 80),
    )


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, lower-cased, without the scheme's default port."""
    scheme, host, port = origin(url)
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{host}:{port}"


def _text(value: str | int | float | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _env_proxy(scheme: str, host: str) -> str | None:
    # NO_PROXY, read from the environment only (as the proxies are), on every platform.
    if urllib.request.proxy_bypass_environment(host):  # type: ignore[attr-defined]  # not in typeshed
        return None
    return urllib.request.getproxies_environment().get(scheme)


class BodyTooLarge(Exception):
    """The body passed the byte cap; nothing past the cap was read."""


class NotJSON(Exception):
    """The answer's Content-Type is not JSON (Clever sends HTML pages for some token mix-ups)."""


def is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json_body(
    headers: Mapping[str, str], chunks: AsyncIterable[bytes], limit: int = DEFAULT_BODY_LIMIT
) -> bytes:
    """A JSON body read from `chunks`, refusing a wrong content type or more than `limit` bytes.

    The cap applies to the decoded bytes (after any gzip), so a small compressed body cannot
    expand past it; a declared Content-Length over the cap is refused before reading.
    """
    if not is_json(headers.get("content-type")):
        raise NotJSON
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)
