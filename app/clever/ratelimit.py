"""Clever's rate-limit headers (`X-RateLimit-Limit`, `-Remaining`, `-Reset`), read once for the
budget and for a 429's wait."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_LIMIT, _REMAINING, _RESET = "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What an answer said of its token's window; None where it said nothing usable.

    `reset_at` is Unix seconds. Clever may send one value per bucket, in one line or several:
    the tightest is kept (the least limit and remaining, the latest reset).
    """

    limit: float | None
    remaining: float | None
    reset_at: float | None


def rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """The numbers in `headers` (names in any case; a repeated header as separate items, as an
    aiohttp answer keeps them). Only finite numbers of zero or more count."""
    values: dict[str, list[str]] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in (_LIMIT, _REMAINING, _RESET):
            values.setdefault(key, []).append(value)
    return RateLimit(
        limit=_number(values.get(_LIMIT), min),
        remaining=_number(values.get(_REMAINING), min),
        reset_at=_number(values.get(_RESET), max),
    )


def _number(lines: list[str] | None, pick: Callable[[list[float]], float]) -> float | None:
    if lines is None:
        return None
    numbers: list[float] = []
    for part in ",".join(lines).split(","):
        try:
            number = float(part)
        except ValueError:
            continue
        if math.isfinite(number) and number >= 0:
            numbers.append(number)
    return pick(numbers) if numbers else None
