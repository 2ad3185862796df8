from __future__ import annotations

import pytest

from app.login.returnto import MAX_RETURN_TO_LENGTH, safe_return_to

FRONTEND = "https://app.example.org/home"
ALLOWED = frozenset({"https://app.example.org", "http://localhost:5173"})


def check(candidate: str | None) -> str | None:
    return safe_return_to(candidate, frontend_url=FRONTEND, allowed_origins=ALLOWED)


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (None, FRONTEND),
        ("", FRONTEND),
        ("/classes/7?tab=1#top", "https://app.example.org/classes/7?tab=1#top"),
        ("/", "https://app.example.org/"),
        ("https://app.example.org/x", "https://app.example.org/x"),
        ("HTTPS://APP.EXAMPLE.ORG:443/x", "https://app.example.org/x"),
        ("https://app.example.org", "https://app.example.org/"),
        ("http://localhost:5173/dash", "http://localhost:5173/dash"),
    ],
)
def test_allowed_destinations(candidate: str | None, expected: str) -> None:
    assert check(candidate) == expected


OPEN_REDIRECTS = [
    "//evil.example",
    "//evil.example/path",
    "/%2F/evil.example",  # an encoded separator: a router that decodes it makes `//evil.example`
    "/..//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " /evil",
    "/ /evil.example",
    "https://evil.example",
    "https://evil.example/https://app.example.org",
    "https://app.example.org.evil.example",
    "https://app.example.org@evil.example",
    "https://user:pass@app.example.org/",
    "https://evil.example#@app.example.org",
    "https://evil.example?@app.example.org",
    "https:/\\evil.example",
    "https:evil.example",
    "https:///evil.example",
    "http://app.example.org/",  # the scheme is part of the origin
    "https://app.example.org:8443/",
    "http://localhost:5174/",
    "https://%61pp.example.org/",
    "https://app。example。org/",
    "https://аpp.example.org/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://app.example.org/",
    "app.example.org/x",
    "evil.example",
    "/x\x00",
    "/x\x7f",
    "https://app.example.org/\r\nSet-Cookie:x=1",
    "/" + "a" * MAX_RETURN_TO_LENGTH,
]


@pytest.mark.parametrize("candidate", OPEN_REDIRECTS)
def test_open_redirect_attempts_are_refused(candidate: str) -> None:
    assert check(candidate) is None
