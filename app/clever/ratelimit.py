"""Clever's rate-limit headers (`X-RateLimit-Limit`, `-Remaining`, `-Reset`, and a `Retry-After`
should Clever ever send one), read once per answer for both the budget and a 429's wait."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_LIMIT, _REMAINING, _RESET = "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"
_RETRY_AFTER = "retry-after"
_NAMES = (_LIMIT, _REMAINING, _RESET, _RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """What an answer said of its token's window; None where it said nothing usable.

    `reset_at` is Unix seconds. Clever may send one value per bucket, in one line or several:
    the tightest is kept (the least limit and remaining, the latest reset). `retry_after` is
    seconds from the answer (only the delta-seconds form; Clever documents no `Retry-After`).
    """

    limit: float | None
    remaining: float | None
    reset_at: float | None
    retry_after: float | None = None

    def reopens_at(self, now: float) -> float | None:
        """When the window reopens: Clever's reset, else `now` plus a Retry-After, else unknown."""
        if self.reset_at is not None:
            return self.reset_at
        return None if self.retry_after is None else now + self.retry_after


def rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """The numbers in `headers` (names in any case; a repeated header as separate items, as an
    aiohttp answer keeps them). Only finite numbers of zero or more count."""
    values: dict[str, list[str]] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in _NAMES:
            values.setdefault(key, []).append(value)
    return RateLimit(
        limit=_number(values.get(_LIMIT), min),
        remaining=_number(values.get(_REMAINING), min),
        reset_at=_number(values.get(_RESET), max),
        retry_after=_number(values.get(_RETRY_AFTER), max),
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
