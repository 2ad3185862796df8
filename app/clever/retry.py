"""How often, and after how long, an idempotent GET to Clever is tried again."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# 501 means "unsupported request": no retry cures it.
RETRY_STATUSES = frozenset({500, 502, 503, 504})

# Clever documents no Retry-After: without X-RateLimit-Reset, assume the one-minute window.
UNKNOWN_RESET_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff.

    `attempts` counts every request, the first included. A 429 waits until Clever's
    `X-RateLimit-Reset` when that is at most `max_rate_limit_wait` seconds away, else gives up
    at once. `sleep`, `clock` (Unix time, for the reset) and `rng` are injectable for tests.
    """

    attempts: int = 3
    base_backoff: float = 0.1
    max_backoff: float = 2.0
    max_rate_limit_wait: float = 5.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_backoff, self.base_backoff * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def rate_limit_wait(self, reset_at: float | None) -> float | None:
        """Seconds until the rate-limit window reopens, or None when that is too long to wait."""
        wait = UNKNOWN_RESET_WAIT if reset_at is None else max(0.0, reset_at - self.clock())
        return wait if wait <= self.max_rate_limit_wait else None
