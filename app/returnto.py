"""Where a browser may be sent after login or logout: allow-listed origins only.

A `return_to` is either a path (`/classes/7?tab=1`) on FRONTEND_URL's origin or an absolute
http(s) URL whose origin is in ALLOWED_RETURN_TO. Anything a browser could read differently from
us (backslashes, control characters, white space, user-info, protocol-relative `//`, non-ASCII)
is refused outright rather than cleaned up.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from app.settings import origin_of

MAX_RETURN_TO_LENGTH = 2048


def safe_return_to(
    candidate: str | None, *, frontend_url: str, allowed_origins: frozenset[str]
) -> str | None:
    """The absolute URL to send the browser to, or None when `candidate` is not allowed.

    An absent or empty candidate means FRONTEND_URL.
    """
    if candidate is None or candidate == "":
        return frontend_url
    if len(candidate) > MAX_RETURN_TO_LENGTH or not candidate.isascii():
        return None
    if any(ch <= " " or ch in "\\\x7f" for ch in candidate):
        return None
    if candidate.startswith("/"):
        if candidate.startswith("//"):
            return None
        return origin_of(frontend_url) + candidate
    parts = urlsplit(candidate)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return None
    try:
        origin = origin_of(candidate)
    except ValueError:
        return None
    if origin not in allowed_origins:
        return None
    host = origin.split("://", 1)[1]
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", parts.query, parts.fragment))
