"""Clever's X-RateLimit-* headers (and a Retry-After), read by one parser for the rate budget and a
429's wait."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from app.clever.ratelimit import RateLimit, rate_limit


def lines(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    """Headers as an aiohttp answer holds them: a repeated header keeps its lines apart."""
    return CIMultiDictProxy(CIMultiDict(pairs))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (lines(), RateLimit(None, None, None)),
        (
            lines(
                ("X-RateLimit-Limit", "1200"),
                ("X-RateLimit-Remaining", "17"),
                ("X-RateLimit-Reset", "1800000060"),
            ),
            RateLimit(1200.0, 17.0, 1800000060.0),
        ),
        # Names in any case, in a plain mapping too.
        (
            {"x-ratelimit-remaining": "5", "X-RATELIMIT-RESET": "9"},
            RateLimit(None, 5.0, 9.0),
        ),
        # One value per bucket, in one line: the least limit and remaining, the latest reset.
        (
            lines(
                ("X-RateLimit-Limit", "1200, 600"),
                ("X-RateLimit-Remaining", "30,4"),
                ("X-RateLimit-Reset", "100,160"),
            ),
            RateLimit(600.0, 4.0, 160.0),
        ),
        # Or in several lines.
        (
            lines(
                ("X-RateLimit-Remaining", "30"),
                ("X-RateLimit-Remaining", "4"),
                ("X-RateLimit-Reset", "160"),
                ("X-RateLimit-Reset", "100"),
            ),
            RateLimit(None, 4.0, 160.0),
        ),
        # What is not a finite number of zero or more is dropped; the rest still counts.
        (lines(("X-RateLimit-Remaining", "-1"), ("X-RateLimit-Reset", "-5")), RateLimit(None, None, None)),
        (lines(("X-RateLimit-Reset", "inf")), RateLimit(None, None, None)),
        (lines(("X-RateLimit-Reset", "nan,120")), RateLimit(None, None, 120.0)),
        (lines(("X-RateLimit-Remaining", "soon, 0")), RateLimit(None, 0.0, None)),
        (lines(("X-RateLimit-Reset", "")), RateLimit(None, None, None)),
        (lines(("X-RateLimit-Limit", " 1200 ")), RateLimit(1200.0, None, None)),
        # Other headers are not read.
        (lines(("X-RateLimit-Resets", "7"), ("RateLimit-Reset", "7")), RateLimit(None, None, None)),
        # A Retry-After in seconds is kept (Clever documents none); its HTTP-date form is not read.
        (lines(("Retry-After", "30")), RateLimit(None, None, None, 30.0)),
        (lines(("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")), RateLimit(None, None, None)),
    ],
)
def test_rate_limit_headers(headers: Mapping[str, str], expected: RateLimit) -> None:
    assert rate_limit(headers) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (RateLimit(None, None, None), None),
        (RateLimit(None, 0.0, 1060.0), 1060.0),
        (RateLimit(None, None, None, 30.0), 1030.0),
        # Clever's reset wins over a Retry-After.
        (RateLimit(None, None, 1010.0, 30.0), 1010.0),
    ],
)
def test_when_the_window_reopens(said: RateLimit, expected: float | None) -> None:
    assert said.reopens_at(1000.0) == expected
