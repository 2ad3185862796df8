"""Clever's rate limit as a budget: 1200 requests a minute per bearer token, spent knowingly.

Every login of a district spends Data API calls on the same district-app token, so a bell-time
wave of logins can empty that token's window. Rather than find out from a storm of 429s, the
client keeps, per *tracked* token (the district-app tokens; a user token's budget is its own
user's and is not tracked), what Clever last said in `X-RateLimit-Remaining`/`-Reset` and how
many calls are in flight on it, and lets a call start only while

    remaining - in_flight > reserve

Otherwise the call waits for the window to reopen when that is near (`max_wait`), or fails at
once with `BudgetExhausted` (the login answers "try again" with `Retry-After`). Clever counts per
token across all our replicas, so its headers already include what the other replicas spent; the
reserve covers what they have in flight. Until Clever has answered once on a token, at most
`first_calls` go out at once to learn the numbers (a login's calls still overlap; a process that
starts into a spent window risks that many 429s, not a wave's worth).

State lives in memory, per process, bounded (`max_tokens`); keys are digests, never tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.clever.ratelimit import rate_limit


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """`reserve` is the share of the limit left unspent; `max_wait` the longest a call queues."""

    reserve: float = 0.02
    max_wait: float = 3.0
    first_calls: int = 8
    max_tokens: int = 10_000
    clock: Callable[[], float] = field(default=time.time, repr=False)


@dataclass(frozen=True, slots=True)
class Headroom:
    """What is known of one tracked token's window (Clever's numbers, minus calls in flight)."""

    label: str
    limit: int
    remaining: int
    reset_at: float


class BudgetExhausted(Exception):
    """The token's budget is spent and the window reopens too late to wait: no call was made."""

    def __init__(self, reset_at: float | None) -> None:
        super().__init__("rate budget spent")
        self.reset_at = reset_at


@dataclass
class _Window:
    label: str
    limit: int | None = None
    remaining: int | None = None
    reset_at: float = 0.0
    in_flight: int = 0
    # Clever answered without rate-limit headers: nothing to go by, so nothing is held back.
    blind: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class RateBudget:
    """The rate windows of the tracked tokens of one process."""

    def __init__(self, policy: BudgetPolicy | None = None) -> None:
        self._policy = policy or BudgetPolicy()
        self._windows: OrderedDict[bytes, _Window] = OrderedDict()

    def track(self, token: str, label: str) -> None:
        """Spend `token`'s calls through this budget, reported under `label` (e.g. a district id)."""
        key = _key(token)
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(label=label)
            while len(self._windows) > self._policy.max_tokens:
                self._windows.popitem(last=False)
        else:
            window.label = label
            self._windows.move_to_end(key)

    def headroom(self, token: str) -> Headroom | None:
        window = self._windows.get(_key(token))
        if window is None or window.limit is None or window.remaining is None:
            return None
        return Headroom(window.label, window.limit, window.remaining - window.in_flight, window.reset_at)

    async def acquire(self, token: str | None, max_wait: float | None = None) -> _Window | None:
        """Waits until a call on `token` may start and counts it in flight; None if untracked.

        Waits at most the policy's `max_wait`, or `max_wait` seconds if that is shorter; raises
        BudgetExhausted when the window will not reopen in time.
        """
        if token is None:
            return None
        window = self._windows.get(_key(token))
        if window is None:
            return None
        policy = self._policy
        patience = policy.max_wait if max_wait is None else min(policy.max_wait, max_wait)
        give_up = policy.clock() + patience
        while not self._may_start(window):
            now = policy.clock()
            # Known numbers: wait for the window to reopen. Unknown: for the call learning them.
            until = window.reset_at if window.remaining is not None else give_up
            if until > give_up:
                raise BudgetExhausted(window.reset_at)
            if now >= give_up:
                raise BudgetExhausted(None)
            changed = window.changed
            # Woken by an answer on this token; else re-checked when the window reopens.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=max(0.01, until - now))
        window.in_flight += 1
        return window

    def release(self, window: _Window | None, headers: Mapping[str, str] | None) -> Headroom | None:
        """The call is over; `headers` are Clever's answer headers (None if no answer came)."""
        if window is None:
            return None
        window.in_flight -= 1
        if headers is not None and not _learn(window, headers):
            window.blind = window.remaining is None
        window.changed.set()
        window.changed = asyncio.Event()
        if window.limit is None or window.remaining is None:
            return None
        return Headroom(window.label, window.limit, window.remaining - window.in_flight, window.reset_at)

    def _may_start(self, window: _Window) -> bool:
        if window.blind:
            return True
        if window.remaining is None or window.limit is None:
            return window.in_flight < self._policy.first_calls
        if self._policy.clock() >= window.reset_at:
            window.remaining = window.limit  # a new window: Clever refilled it
        reserve = math.floor(window.limit * self._policy.reserve)
        return window.remaining - window.in_flight > reserve


def _learn(window: _Window, headers: Mapping[str, str]) -> bool:
    """Takes Clever's numbers from an answer's headers; False when it sent none."""
    said = rate_limit(headers)
    limit, remaining, reset = said.limit, said.remaining, said.reset_at
    if remaining is None or reset is None:
        return False
    window.blind = False
    if limit is not None:
        window.limit = int(limit)
    elif window.limit is None:
        window.limit = int(remaining)
    if window.remaining is None or reset != window.reset_at:
        # Another window, or a 429 saying when this one reopens: Clever's word wins.
        window.remaining, window.reset_at = int(remaining), reset
    else:
        # Answers overtake each other; within one window the count only goes down.
        window.remaining = min(window.remaining, int(remaining))
    return True


def _key(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=16).digest()
