"""A URL's origin: the one reading the settings, CORS/CSRF, return_to and the Clever client share."""

from __future__ import annotations

import pytest

from app.urls import origin, origin_of


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
