"""Open-redirect payloads for `return_to`, built from a handful of tricks applied to one allowed
origin (`ALLOWED`) and one foreign host (`EVIL`).

Each trick is a way a URL can be read differently by a validator and by a browser: other
schemes, protocol-relative and backslash forms, user-info, encodings of dots and slashes, case,
white space and control characters, odd hosts and ports, look-alike Unicode.
"""

from __future__ import annotations

ALLOWED_HOST = "app.partner.example"
ALLOWED = f"https://{ALLOWED_HOST}"
EVIL = "evil.example"

_SCHEMES = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "javascript://%0aalert(1)",
    "javascript://{A}/%0aalert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    " javascript:alert(1)",
    "\x00javascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://{E}/",
    "ws://{A}/",
    "blob:https://{A}/x",
    "mailto:x@{E}",
]
_PROTOCOL_RELATIVE = [
    "//{E}",
    "//{E}/",
    "///{E}",
    "////{E}",
    "/\\{E}",
    "\\\\{E}",
    "\\/{E}",
    "/\\/{E}",
    "/ /{E}",
    "/\t/{E}",
    "/\n/{E}",
    "/\r/{E}",
    "//{E}%2F..",
    "//{A}@{E}",
    "https:{E}",
    "https:/{E}",
    "https:\\\\{E}",
    "https:///{E}",
    "https:/\\/\\{E}",
    "http:\\{E}",
    "%2F%2F{E}",
    "%2f%2f{E}",
    "https%3A%2F%2F{E}",
    "http%3A//{E}",
    "{E}",
    "{E}/path",
    ".{E}",
]
_USERINFO = [
    "https://{A}@{E}",
    "https://{A}@{E}/",
    "https://{A}:443@{E}",
    "https://{A}:@{E}",
    "https://{A}%40{E}",
    "https://user:pass@{A}/",
    "https://{E}\\@{A}",
    "https://{E}\\\\@{A}/",
    "https://{E}#@{A}",
    "https://{E}?@{A}",
    "https://{E};@{A}",
    "https://{E}%23@{A}",
    "https://:@{E}",
    "https://{E}%40{A}",
    "https://{E}&@{A}",
]
_HOST_TRICKS = [
    "https://{E}",
    "https://{A}.{E}",
    "https://{A}.{E}/",
    "https://{A}%2e{E}",
    "https://{A}%00.{E}",
    "https://{A}%0d%0a.{E}",
    "https://{E}%2f{A}",
    "https://{E}/{A}",
    "https://{E}%23{A}",
    "https://{E}?{A}",
    "https://{A}-{E}",
    "https://sub.{A}/",
    "https://{A}./",
    "https://[{E}]/",
    "https://{A}]/",
    "http://[",
    "https://[::1/",
    "https://{A}:444/",
    "https://{A}:0/",
    "https://{A}:99999/",
    "https://{A}:443:80/",
    "https://{A}:-1/",
    "http://{A}/",
    "http://127.0.0.1:5174/",
    "http://127.0.0.1:5173.{E}/",
    "http://[::1]:5173/",
    "http://[::ffff:127.0.0.1]:5173/",
    "http://2130706433:5173/",
    "http://0x7f.0.0.1:5173/",
    "http://127.1:5173/",
    "http://localhost:5173/",
    "http://127.0.0.1:5173\\@{E}/",
]
_CASE = [
    "HTTPS://{E}/",
    "hTtPs://{E}/",
    "https://EVIL.EXAMPLE/",
    "HTTPS://{A}.{E}/",
]
_DOTS_AND_ENCODING = [
    "/%2e%2e/%2e%2e/{E}",
    "/%252e%252e/{E}",
    "/../{E}",
    "/..//{E}",
    "/.//{E}",
    "/%2F{E}",
    "/%5C{E}",
    "/%5c%5c{E}",
    "/%09/{E}",
    "https://{A}/%2e%2e%2f{E}",
    "https://{A}/..%2f..%2f{E}",
    "https://{A}%252f@{E}",
    "%68%74%74%70%73://{E}",
]
_WHITESPACE_AND_UNICODE = [
    " https://{E}",
    "https://{E} ",
    "\thttps://{E}",
    "\r\n//{E}",
    "https://{A}\n.{E}",
    "https://{A}\u3002{E}",
    "https://evil\u3002example",
    "https://\u24d4vil.example",
    "/\uff0f{E}",
    "/\u2215{E}",
    "https://{A}\u2025{E}",
    "https://{A}\u200b/",
    "\u202ehttps://{E}",
    "https://xn--{E}",
    "\x7f//{E}",
]

_TEMPLATES = (
    _SCHEMES
    + _PROTOCOL_RELATIVE
    + _USERINFO
    + _HOST_TRICKS
    + _CASE
    + _DOTS_AND_ENCODING
    + _WHITESPACE_AND_UNICODE
)
PAYLOADS: list[str] = sorted({t.replace("{A}", ALLOWED_HOST).replace("{E}", EVIL) for t in _TEMPLATES})

# Destinations that must be accepted, with where they lead: the allow-list is not just "refuse all".
ACCEPTED: dict[str, str] = {
    "": "http://127.0.0.1:5173/home",
    "/classes/7?tab=1": "http://127.0.0.1:5173/classes/7?tab=1",
    "/a%20b/c.d?e=%2F%2F..#/../": "http://127.0.0.1:5173/a%20b/c.d?e=%2F%2F..#/../",
    f"{ALLOWED}/next": f"{ALLOWED}/next",
    f"HTTPS://{ALLOWED_HOST.upper()}/x": f"{ALLOWED}/x",
    f"{ALLOWED}:443/x?y=1#z": f"{ALLOWED}/x?y=1#z",
    f"{ALLOWED}?next=//{EVIL}": f"{ALLOWED}/?next=//{EVIL}",
    "http://127.0.0.1:5173": "http://127.0.0.1:5173/",
}
