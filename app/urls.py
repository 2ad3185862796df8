"""A URL's origin, read in one place: settings, the CORS/CSRF checks, `return_to` and the Clever
client's link routing all compare origins this way."""

from __future__ import annotations

from urllib.parse import urlsplit

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
