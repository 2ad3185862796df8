"""What every request and answer is held to, whichever layer handles it: the size limits a
request may not pass and the security headers every answer carries (SECURITY.md, "Request limits
and slow clients", requirements 11 and 23).

The HTTP protocol (app.serving.http_protocol) applies them to a head as it arrives and to the
refusals it sends itself; the middleware (app.web.middleware.limits and .security_headers) to
what reaches the app.
"""

from __future__ import annotations

MAX_TARGET_BYTES = 16 * 1024  # path and query string
MAX_HEADER_BYTES = 8 * 1024  # one header line
MAX_HEADERS_BYTES = 32 * 1024  # all of them
MAX_HEADER_COUNT = 100
MAX_BODY_BYTES = 64 * 1024  # declared Content-Length; the one route that reads a body caps it lower
# A whole head as it arrives (request line, header lines, their separators): past this the HTTP
# protocol (app.serving.http_protocol) refuses it before it is read to the end.
MAX_HEAD_BYTES = MAX_TARGET_BYTES + MAX_HEADERS_BYTES + 8 * 1024

# Nothing this service sends needs to load, frame or submit anything; HTML error pages that need
# a style sheet set their own, looser policy.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
HSTS = "max-age=31536000; includeSubDomains"

# One right value each for this service, so a route's own value is replaced.
FIXED_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# Defaults a route may override by setting the header itself.
DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", DEFAULT_CSP.encode()),
    # Login and session answers carry cookies or personal data: no cache may keep them.
    (b"cache-control", b"no-store"),
)

# What an answer sent from below the app (app.serving.http_protocol) carries.
BASELINE_HEADERS: tuple[tuple[bytes, bytes], ...] = (*FIXED_HEADERS, *DEFAULT_HEADERS)
