"""A circuit breaker per Clever host, so that a dead Clever costs a login milliseconds, not timeouts.

Why our own small module rather than a library: the maintained asyncio breakers on PyPI
(purgatory; aiobreaker has had no release since 2021) decide failure by exception type around
a whole call and keep named circuits in a shared factory. Here one *attempt* is the unit (a call
that retries three times is three samples), only `CleverUnavailable` counts as a failure (a 4xx
or a 429 proves the host is up), and the answer needs the time until the next probe for
`Retry-After`. That is a few dozen lines with an injectable clock; a dependency would not be
smaller.

    closed ──(threshold consecutive failures)──▶ open ──(open_seconds)──▶ half-open
      ▲                                                                       │
      └──────────────── the one probe succeeds ◀──────────────────────────────┘
                        (it fails: open again)

In half-open state one attempt (the probe) goes through; the others wait for its outcome, so
that a login's concurrent calls do not fail the login (and cancel the probe) while it is out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a host's circuit opens and for how long. `clock` is monotonic seconds."""

    failure_threshold: int = 10
    open_seconds: float = 5.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)


class CircuitOpen(Exception):
    """The circuit is open: no request was sent. `retry_after` is seconds until the next probe."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open, next probe in {retry_after:.1f} s")
        self.retry_after = retry_after


class CircuitBreaker:
    """The breaker of one host. Await `admit()` ahead of an attempt, then call `succeeded()` or
    `failed()` once it is over (or `abandoned()` if it ended without telling either)."""

    def __init__(self, policy: BreakerPolicy | None = None) -> None:
        self._policy = policy or BreakerPolicy()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._probe_over: asyncio.Event | None = None

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() >= self._reopen_at() else "open"

    async def admit(self, max_wait: float) -> None:
        """Returns when this attempt may go to the host; raises CircuitOpen if it may not.

        While a probe is out, waits up to `max_wait` seconds for its outcome.
        """
        while self._opened_at is not None:
            now = self._clock()
            if now < self._reopen_at():
                raise CircuitOpen(self._reopen_at() - now)
            if not self._probing:
                self._probing = True
                self._probe_over = asyncio.Event()
                return
            assert self._probe_over is not None
            try:
                await asyncio.wait_for(self._probe_over.wait(), timeout=max(0.0, max_wait))
            except TimeoutError:
                raise CircuitOpen(self._policy.open_seconds) from None

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_ended()

    def failed(self) -> bool:
        """Counts a failed attempt; True if it opened the circuit (or kept it open after a probe)."""
        self._failures += 1
        opened = self._probing or (
            self._opened_at is None and self._failures >= self._policy.failure_threshold
        )
        if opened:
            self._opened_at = self._clock()
        self._probe_ended()
        return opened

    def abandoned(self) -> None:
        """The attempt was cancelled: it proves nothing either way, but frees the probe."""
        self._probe_ended()

    def _probe_ended(self) -> None:
        # Any attempt's end may be the probe's; waking the waiters early costs one re-check.
        self._probing = False
        if self._probe_over is not None:
            self._probe_over.set()
            self._probe_over = None

    def _reopen_at(self) -> float:
        assert self._opened_at is not None
        return self._opened_at + self._policy.open_seconds

    def _clock(self) -> float:
        return self._policy.clock()
