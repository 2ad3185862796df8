"""Where a browser may be sent after login or logout: allow-listed origins only.

A `return_to` is either a path (`/classes/7?tab=1`) on FRONTEND_URL's origin or an absolute
http(s) URL whose origin is in ALLOWED_RETURN_TO. Anything a browser could read differently from
us (backslashes, control characters, white space, user-info, protocol-relative `//`, non-ASCII)
is refused outright rather than cleaned up. So is a path with an empty or dot segment, raw or
percent-encoded (`//`, `/../`, `%2e%2e`, `%2f`, `%5c`): a browser or the frontend's router may
normalise it into a protocol-relative `//host`, and no page of ours needs one.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from app.clever.http import origin_of

# Each pending login stores its return_to: its length bounds what a login can leave in Redis.
MAX_RETURN_TO_LENGTH = 1024
# In a path: `//`, a `.` or `..` segment, or an encoded `.`, `/` or `\`.
_AMBIGUOUS_PATH = re.compile(r"//|/\.\.?(?:/|$)|%2e|%2f|%5c", re.IGNORECASE)


def _path_of(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


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
        if _AMBIGUOUS_PATH.search(_path_of(candidate)):
            return None
        return origin_of(frontend_url) + candidate
    try:
        parts = urlsplit(candidate)  # raises on an unbalanced `[` or `]` in the host
        origin = origin_of(candidate)  # raises on a bad port or a scheme other than http(s)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return None
    if origin not in allowed_origins or _AMBIGUOUS_PATH.search(parts.path):
        return None
    host = origin.split("://", 1)[1]
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", parts.query, parts.fragment))
