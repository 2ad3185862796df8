"""The polling loop: every district of the app, one page of events after another, in order.

For each district the worker (1) takes the district's lock, or leaves the district to the
replica that has it; (2) reads the cursor; (3) on a first start records the newest event and
stops there; when the cursor is older than Clever's 30 days of events, says so loudly,
resynchronises the district's live sessions from the Data API and starts again from the newest
event; (4) otherwise applies each event after the cursor and records its id before the next:
after a crash at most the event in flight is applied again, which its effects allow.

A 429 or a Clever failure backs the district off (until Clever's reset time, or exponentially);
a 401 means the district token was revoked: with no token left for the district, the district
disconnected the app and every session in it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.clever import (
    CleverClient,
    CleverError,
    CleverRateLimited,
    CleverRejected,
    CleverUnauthorized,
    CleverUnavailable,
    in_background,
)
from app.clever.models import Event
from app.events.cursor import RETENTION_SECONDS, Cursor, Cursors
from app.events.effects import Effects
from app.events.lock import DistrictLock, LockLost
from app.events.metrics import EventMetrics
from app.roster.district_tokens import DistrictNotConnected, DistrictTokens
from app.settings import DISTRICT_ID

logger = logging.getLogger("app.events")

PAGE_SIZE = 100
MAX_PAGE = 10_000  # Clever's largest `limit`
MAX_BACKOFF = 300.0
# Keep this margin inside Clever's 30 days: events near the edge may already be gone.
RETENTION_MARGIN = 3600.0


@dataclass
class _District:
    next_poll: float = 0.0
    failures: int = 0
    caught_up_at: float | None = None


@dataclass
class WorkerOptions:
    poll_interval: float
    allowed_districts: frozenset[str] | None = None
    page_size: int = PAGE_SIZE
    # How often the list of districts is asked of Clever again (at least every poll).
    discovery_interval: float = 60.0
    lock_ttl: float | None = None  # default: three poll intervals, at least 2 s
    rng: random.Random = field(default_factory=random.Random)


class EventsWorker:
    def __init__(
        self,
        *,
        clever: CleverClient,
        tokens: DistrictTokens,
        cursors: Cursors,
        effects: Effects,
        metrics: EventMetrics,
        options: WorkerOptions,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clever = clever
        self._tokens = tokens
        self._cursors = cursors
        self._effects = effects
        self._metrics = metrics
        self._options = options
        self._clock = clock
        self._districts: dict[str, _District] = {}
        self._discovered_at: float | None = None
        self._stopping = asyncio.Event()
        self.last_cycle_at: float | None = None

    def stop(self) -> None:
        """Finish the district in hand (its current event) and return from `run`."""
        self._stopping.set()

    @in_background  # the worker's calls leave the district token's window to logins first
    async def run(self) -> None:
        """Poll until `stop`; failures are logged and retried, never fatal."""
        while not self._stopping.is_set():
            try:
                await self.cycle()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("events cycle failed; trying again after the poll interval")
            self.last_cycle_at = self._clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._options.poll_interval)

    async def cycle(self) -> None:
        """One pass: discover districts when due, then poll each district that is due."""
        await self._discover()
        now = self._clock()
        due = [d for d, state in self._districts.items() if state.next_poll <= now]
        # In no fixed order, so that replicas spread over the districts instead of queueing
        # behind each other's locks.
        self._options.rng.shuffle(due)
        for district_id in due:
            if self._stopping.is_set():
                return
            await self.poll(district_id)
        for district_id, state in self._districts.items():
            if state.caught_up_at is not None:
                self._metrics.lag(district_id, self._clock() - state.caught_up_at)

    async def poll(self, district_id: str) -> None:
        """Read the district's stream to its end (or until stopped), under its lock."""
        state = self._districts.setdefault(district_id, _District())
        ttl = self._options.lock_ttl or max(2.0, 3 * self._options.poll_interval)
        lock = self._cursors.lock(district_id, ttl=ttl)
        try:
            async with lock.hold() as held:
                if not held:
                    return  # another worker has it
                await self._consume(district_id, lock, state)
            state.failures = 0
            state.next_poll = 0.0
        except CleverRateLimited as exc:
            wait = self._backoff(state)
            if exc.reset_at is not None:
                wait = max(wait, exc.reset_at - self._clock())
            self._back_off(district_id, state, wait, "rate_limited")
        except CleverUnavailable:
            self._back_off(district_id, state, self._backoff(state), "clever_unavailable")
        except DistrictNotConnected:
            await self._disconnected(district_id)
        except LockLost:
            self._metrics.poll_error("lock_lost")
            logger.warning("district %s: lock lost mid-batch; another worker carries on", district_id)
        except CleverError as exc:
            self._back_off(district_id, state, self._backoff(state), "clever_error")
            logger.warning("district %s: %s", district_id, exc)

    # -- one district ---------------------------------------------------------------------

    async def _consume(self, district_id: str, lock: DistrictLock, state: _District) -> None:
        token = await self._tokens.get(district_id)
        try:
            await self._consume_with(district_id, lock, state, await self._cursors.read(district_id), token)
        except CleverUnauthorized:
            # Revoked: a fresh token if the district still has one, else DistrictNotConnected.
            await self._tokens.invalidate(district_id, token)
            token = await self._tokens.get(district_id)
            await self._consume_with(district_id, lock, state, await self._cursors.read(district_id), token)

    async def _consume_with(
        self, district_id: str, lock: DistrictLock, state: _District, cursor: Cursor | None, token: str
    ) -> None:
        now = self._clock()
        if cursor is None:
            newest = await self._newest(token)
            await self._cursors.write(district_id, Cursor(after=newest, seen_until=now), lock)
            state.caught_up_at = now
            logger.info("district %s: first start; events are followed from the newest one on", district_id)
            return
        behind = now - cursor.seen_until
        if behind > RETENTION_SECONDS - RETENTION_MARGIN:
            logger.error(
                "district %s: the event cursor is %.1f days old, past Clever's 30 days of events; "
                "events were lost, resynchronising its live sessions from the Data API",
                district_id,
                behind / 86400,
            )
            self._metrics.resync("behind")
            newest = await self._newest(token)
            await self._effects.resync(district_id)
            await self._cursors.write(district_id, Cursor(after=newest, seen_until=self._clock()), lock)
            state.caught_up_at = self._clock()
            return
        after, seen_until = cursor.after, cursor.seen_until
        applied: dict[str, int] = {}
        while not self._stopping.is_set():
            asked_at = self._clock()
            page = await self._clever.events(token, starting_after=after, limit=self._options.page_size)
            for event in page.events:
                if self._stopping.is_set():
                    break
                if lock.lost:
                    raise LockLost(district_id)
                await self._effects.apply(district_id, event)
                after = event.id
                seen_until = max(seen_until, _created_at(event) or seen_until)
                await self._cursors.write(district_id, Cursor(after=after, seen_until=seen_until), lock)
                self._metrics.processed(event.type)
                applied[_type_label(event)] = applied.get(_type_label(event), 0) + 1
            if self._stopping.is_set():
                break  # the rest of the page is for the next start
            if len(page.events) < self._options.page_size:
                # Read to its end: every event created before the request has been applied.
                await self._cursors.write(district_id, Cursor(after=after, seen_until=asked_at), lock)
                state.caught_up_at = asked_at
                break
        if applied:
            summary = ", ".join(f"{kind} {count}" for kind, count in sorted(applied.items()))
            logger.info("district %s: applied %s", district_id, summary)

    async def _newest(self, token: str) -> str | None:
        """The newest event's id: one call (`ending_before=last`), or, should Clever refuse that
        form, a walk to the end of the stream (30 days of events at most, 10000 a page)."""
        try:
            page = await self._clever.events(token, ending_before="last", limit=1)
            return page.events[-1].id if page.events else None
        except CleverRejected as exc:
            if isinstance(exc, CleverUnauthorized):
                raise
            logger.warning("events: ending_before=last refused (%s); walking to the newest event", exc)
        after: str | None = None
        while True:
            page = await self._clever.events(token, starting_after=after, limit=MAX_PAGE)
            if page.events:
                after = page.events[-1].id
            if len(page.events) < MAX_PAGE:
                return after

    async def _disconnected(self, district_id: str) -> None:
        self._metrics.poll_error("district_disconnected")
        await self._effects.end_district(district_id)
        self._districts.pop(district_id, None)
        self._metrics.forget_district(district_id)

    # -- districts and backoff ------------------------------------------------------------

    async def _discover(self) -> None:
        now = self._clock()
        interval = max(self._options.discovery_interval, self._options.poll_interval)
        if self._discovered_at is not None and now - self._discovered_at < interval:
            return
        try:
            tokens = await self._clever.district_tokens()
        except CleverError as exc:
            # Carry on with the districts already known; ask again next cycle.
            self._metrics.poll_error("discovery_failed")
            logger.warning("listing the app's districts failed (%s); using the ones known", exc)
            return
        self._discovered_at = now
        found: list[str] = []
        for token in tokens:
            district_id = token.owner.id
            if token.owner.type != "district" or not DISTRICT_ID.match(district_id):
                continue
            allowed = self._options.allowed_districts
            if allowed is not None and district_id not in allowed:
                continue
            found.append(district_id)
        for district_id in found:
            self._districts.setdefault(district_id, _District())
        for district_id in [d for d in self._districts if d not in found]:
            # No longer listed: the district disconnected the app while we were not looking.
            await self._disconnected(district_id)

    def _backoff(self, state: _District) -> float:
        state.failures += 1
        ceiling = min(MAX_BACKOFF, self._options.poll_interval * 2**state.failures)
        return self._options.poll_interval + self._options.rng.uniform(0, ceiling)

    def _back_off(self, district_id: str, state: _District, wait: float, error: str) -> None:
        self._metrics.poll_error(error)
        state.next_poll = self._clock() + wait
        logger.warning("district %s: %s; polling again in %.1f s", district_id, error, wait)


def _created_at(event: Event) -> float | None:
    if not event.created:
        return None
    try:
        return datetime.fromisoformat(event.created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _type_label(event: Event) -> str:
    return event.type if "." in event.type and len(event.type) <= 40 else "other"
