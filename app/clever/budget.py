"""Clever's rate limit as a budget: 1200 requests a minute per bearer token, spent knowingly, with
logins first.

Every login of a district that is not served from the roster copy spends Data API calls on the
district-app token, and so do the district's full syncs and event handling. The client keeps,
per *tracked* token (the district-app tokens; a user token's budget is its own user's and is not
tracked), an estimate of what is left of Clever's current window and when it reopens, and lets a
call start only while

    left > reserve            interactive calls (`app.clever.priority`): a login, a live refresh
    left > background_reserve background calls: a sync, an event's effects

so background work stops while a quarter of the window is still there for logins, and waits for
the window to reopen (up to `background_max_wait`, a little over Clever's minute); an
interactive call waits only when the window reopens that soon (`max_wait`), else fails at once
with `BudgetExhausted` (the login answers "try again" with `Retry-After`).

Clever documents its `X-RateLimit-*` headers on 429 answers only, so the estimate does not rely
on them: each call started on the token counts against the window, which opens with our first
call and lasts `window` seconds, at `limit` calls (Clever's documented 1200 a minute; README,
"Clever's rate limit", lists these assumptions). Whatever Clever does say wins: a 429 empties the
window until its reset (and teaches the limit), and numbers on any other answer replace the
estimate (within one window they only ever lower it).

The counts are kept per process and, with a `SharedCount` (app.redis_budget: in Redis, as the
backend and the events worker build it, app.core), across every process on the same Redis: a call
starts only when both allow it, so the events worker's syncs stop at their reserve of what every
replica has spent, not of their own calls only, and a 429 one process meets holds the others back
until its reset. Without the shared count (or while Redis does not answer), a replica sees what
the others spend only through Clever's numbers.

State lives in memory, per process, bounded (`max_tokens`), and in the shared count; keys are
digests, never tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from app.clever.priority import Priority, current_priority
from app.clever.ratelimit import RateLimit

# Clever's documented rule: 1200 requests per minute per token, a fixed count reset every minute.
CLEVER_LIMIT = 1200
CLEVER_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """The budget's rules; shares are of the window's limit.

    `limit` and `window` are what is assumed of a token until Clever says otherwise. `reserve`
    is left unspent by every call (other replicas' calls in flight), `background_reserve` by
    background calls (the logins'). `max_wait` is the longest an interactive call queues for the
    window, `background_max_wait` a background call's (not counted against its call timeout).
    Until Clever has answered once on a token, at most `first_calls` go out at once.
    """

    limit: int = CLEVER_LIMIT
    window: float = CLEVER_WINDOW
    reserve: float = 0.02
    background_reserve: float = 0.25
    max_wait: float = 3.0
    background_max_wait: float = 75.0
    first_calls: int = 8
    # Interactive calls count themselves in the shared count this many at a time (one Redis round
    # trip per lease, not per call); a lease unspent when the window ends counts as spent.
    shared_lease: int = 8
    max_tokens: int = 10_000
    clock: Callable[[], float] = field(default=time.time, repr=False)


@dataclass(frozen=True, slots=True)
class Headroom:
    """What is known of one tracked token's window: calls left (those in flight counted as
    spent) and when it reopens (None before our first call in it)."""

    label: str
    limit: int
    remaining: int
    reset_at: float | None


class SharedCount(Protocol):
    """The calls on each tracked token counted across every process (`key`: the token's digest,
    hex). An implementation that cannot reach its store answers as if it were not there."""

    async def take(self, key: str, *, cap: int, window: float, want: int = 1) -> tuple[int, float]:
        """Count up to `want` calls, as many as keep the count of the token's current shared
        window (which opens with the first call and lasts `window` seconds) within `cap`: how
        many were counted (0 when the window is spent, or when the count cannot be reached: see
        `reachable`), and when that window ends (epoch seconds)."""
        ...

    @property
    def reachable(self) -> bool:
        """False while the store does not answer (each process then counts its own only)."""
        ...

    async def spend_all(self, key: str, *, limit: int, until: float) -> None:
        """Clever said the token's window is spent: every process holds back until `until`."""
        ...


class BudgetExhausted(Exception):
    """The token's budget is spent and the window reopens too late to wait: no call was made."""

    def __init__(self, reset_at: float | None) -> None:
        super().__init__("rate budget spent")
        self.reset_at = reset_at


@dataclass
class _Window:
    label: str
    limit: int
    # The token's digest as the shared count names it.
    shared_key: str
    # Calls left in Clever's current window, each call started counted at once.
    remaining: int
    # When the current window ends; None while none is open (it opens with the next call).
    reset_at: float | None = None
    in_flight: int = 0
    answered: bool = False
    # Calls counted in the shared count and not started yet, good until `leased_until`.
    leased: int = 0
    leased_until: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class RateBudget:
    """The rate windows of the tracked tokens of one process."""

    def __init__(self, policy: BudgetPolicy | None = None, *, shared: SharedCount | None = None) -> None:
        self._policy = policy or BudgetPolicy()
        self._shared = shared
        self._windows: OrderedDict[bytes, _Window] = OrderedDict()

    @property
    def policy(self) -> BudgetPolicy:
        return self._policy

    def track(self, token: str, label: str) -> None:
        """Spend `token`'s calls through this budget, reported under `label` (e.g. a district id)."""
        key = _key(token)
        window = self._windows.get(key)
        if window is None:
            limit = self._policy.limit
            self._windows[key] = _Window(label=label, limit=limit, shared_key=key.hex(), remaining=limit)
            while len(self._windows) > self._policy.max_tokens:
                self._windows.popitem(last=False)
        else:
            window.label = label
            self._windows.move_to_end(key)

    def headroom(self, token: str) -> Headroom | None:
        window = self._windows.get(_key(token))
        return None if window is None else _headroom(window)

    async def acquire(
        self, token: str | None, max_wait: float | None = None, priority: Priority | None = None
    ) -> _Window | None:
        """Waits until a call on `token` may start and counts it; None if untracked.

        `priority` is the task's (`current_priority`) unless given. Waits at most the policy's
        wait for that class, or `max_wait` seconds if that is shorter; raises BudgetExhausted
        when the window will not reopen in time.
        """
        if token is None:
            return None
        window = self._windows.get(_key(token))
        if window is None:
            return None
        policy = self._policy
        background = (priority or current_priority()) is Priority.BACKGROUND
        patience = policy.background_max_wait if background else policy.max_wait
        if max_wait is not None:
            patience = min(patience, max_wait)
        give_up = policy.clock() + patience
        while True:
            while not self._may_start(window, background):
                now = policy.clock()
                # Before Clever's first answer: wait for it. Else for the window to reopen.
                until = window.reset_at if window.answered and window.reset_at is not None else give_up
                if until > give_up:
                    raise BudgetExhausted(window.reset_at)
                if now >= give_up:
                    raise BudgetExhausted(None)
                changed = window.changed
                # Woken by an answer that may leave room; else re-checked when the window reopens.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=max(0.01, until - now))
            # Counted at once, before the shared count is asked (an await): no other call passes
            # the gate on this unit meanwhile.
            if window.reset_at is None:
                window.reset_at = policy.clock() + policy.window  # our first call opens a window
            window.in_flight += 1
            window.remaining -= 1
            if self._shared is None:
                return window
            if not background and window.leased > 0 and policy.clock() < window.leased_until:
                window.leased -= 1
                return window
            share = policy.background_reserve if background else policy.reserve
            cap = window.limit - math.floor(window.limit * share)
            want = 1 if background else max(1, policy.shared_lease)
            try:
                granted, ends = await self._shared.take(
                    window.shared_key, cap=cap, window=policy.window, want=want
                )
            except BaseException:
                self.release(window, None, sent=False)
                raise
            if granted:
                if not background:
                    self._keep_lease(window, granted - 1, ends)
                return window
            if not self._shared.reachable:
                return window  # our own count stands alone until the shared one answers again
            self.release(window, None, sent=False)
            # Every process together has spent this much of the window: wait for it to reopen.
            if ends > give_up:
                raise BudgetExhausted(ends)
            await asyncio.sleep(max(0.01, ends - policy.clock()))

    def release(
        self, window: _Window | None, said: RateLimit | None, *, status: int | None = None, sent: bool = True
    ) -> Headroom | None:
        """The call is over. `said` is what Clever's answer headers said (None if no answer
        came), `status` the answer's; `sent` is False when the request never left."""
        if window is None:
            return None
        before, gated = window.remaining, not window.answered
        window.in_flight -= 1
        if not sent:
            window.remaining = min(window.limit, window.remaining + 1)
        elif said is not None:
            window.answered = True
            self._learn(window, said, status)
        if window.remaining > before or gated:
            window.changed.set()
            window.changed = asyncio.Event()
        return _headroom(window)

    async def share_spent(self, token: str | None) -> None:
        """After a 429 on `token`: tell the other processes its window is spent until the reset
        this one learned (nothing without a shared count, or for an untracked token)."""
        if self._shared is None or token is None:
            return
        window = self._windows.get(_key(token))
        if window is None or window.reset_at is None:
            return
        window.leased = 0
        await self._shared.spend_all(window.shared_key, limit=window.limit, until=window.reset_at)

    def _keep_lease(self, window: _Window, units: int, ends: float) -> None:
        """Keep `units` more calls counted in the shared count, good until `ends`.

        Calls that found no lease ask the shared count at once (a login's sections and resources
        do), and each answer's units are counted there: they add to the lease, else all but the
        last answer's would count as spent and never start. Kept until the earliest end, so no
        unit outlives the shared window it was counted in.
        """
        if window.leased > 0 and self._policy.clock() < window.leased_until:
            window.leased += units
            window.leased_until = min(window.leased_until, ends)
        else:
            window.leased, window.leased_until = units, ends

    def _may_start(self, window: _Window, background: bool) -> bool:
        policy = self._policy
        if window.reset_at is not None and policy.clock() >= window.reset_at:
            # The window is over: Clever refilled it, and the next call opens another.
            window.remaining, window.reset_at = window.limit, None
        if not window.answered:
            return window.in_flight < policy.first_calls
        share = policy.background_reserve if background else policy.reserve
        return window.remaining > math.floor(window.limit * share)

    def _learn(self, window: _Window, said: RateLimit, status: int | None) -> None:
        now = self._policy.clock()
        if said.limit is not None:
            window.limit = int(said.limit)
        if status == 429:
            # Spent, whatever else the answer says, until Clever's reset (or a window from now).
            reopens = said.reopens_at(now)
            if reopens is None or reopens <= now:
                known = window.reset_at
                reopens = known if known is not None and known > now else now + self._policy.window
            window.remaining, window.reset_at = 0, reopens
            return
        if said.remaining is None or said.reset_at is None or said.reset_at <= now:
            return  # nothing said, or of a window already over: our own count stands
        told = int(said.remaining) - window.in_flight
        if window.reset_at is None or said.reset_at != window.reset_at:
            # Another window, or our estimate of this one: Clever's word wins.
            window.remaining, window.reset_at = told, said.reset_at
        else:
            # Answers overtake each other; within one window the count only goes down.
            window.remaining = min(window.remaining, told)


def _headroom(window: _Window) -> Headroom:
    return Headroom(window.label, window.limit, max(0, window.remaining), window.reset_at)


def _key(token: str) -> bytes:
    return hashlib.blake2b(token.encode(), digest_size=16).digest()
