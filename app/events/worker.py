"""The polling loop: every district of the app, one page of events after another, in order.

For each district the worker (1) takes the district's lock, or leaves the district to the
replica that has it; (2) reads the cursor; (3) on a first start records the newest event and
stops there; when the cursor is older than Clever's 30 days of events, says so loudly,
resynchronises the district's live sessions from the Data API and starts again from the newest
event; (4) otherwise applies each event after the cursor and records its id before the next:
after a crash at most the event in flight is applied again, which its effects allow.

A 429 or a Clever failure backs the district off (until Clever's reset time, or exponentially);
a 401 means the district token was revoked: with no token left for the district, the district
disconnected the app and every session in it ends, and its roster copy is purged.

With a roster store (`RosterKeeping`), each event is first applied to the district's copy
(app.events.deltas), then its effects run (live sessions refreshed from the copy), then the
cursor moves: the cursor never passes an event the copy lacks. A full sync (app.roster.sync)
is started, as background work, when the district has no copy (first sight), when its copy is
older than a day or was written under other STUDENT_FIELDS, when the stream was lost (the
cursor past Clever's 30 days, or Clever no longer knowing the cursor's event), and when one was
asked for (`RosterStore.request_sync`). One sync at a time per process, each under the
district's events lock, so the district is not polled meanwhile; once it has switched, the
cursor is set back to the newest event at the sync's start (`events_after`) if it is past it,
so events that arrived during the sync are applied to the new copy too (again, harmlessly, if
the sync already saw them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.clever import (
    CleverClient,
    CleverError,
    CleverNotFound,
    CleverRateLimited,
    CleverRejected,
    CleverUnavailable,
    in_background,
)
from app.clever.models import Event
from app.events.cursor import RETENTION_SECONDS, Cursor, Cursors
from app.events.deltas import Deltas
from app.events.effects import Effects
from app.events.lock import DistrictLock, LockLost
from app.events.metrics import EventMetrics
from app.roster.district_tokens import DistrictNotConnected, DistrictTokens
from app.roster.events_cursor import newer
from app.roster.store import MAX_SYNC_AGE, RosterStore
from app.roster.sync import SyncReport, newest_event_id
from app.settings import DISTRICT_ID

logger = logging.getLogger("app.events")

PAGE_SIZE = 100
MAX_BACKOFF = 300.0
# Keep this margin inside Clever's 30 days: events near the edge may already be gone.
RETENTION_MARGIN = 3600.0


@dataclass
class _District:
    next_poll: float = 0.0
    failures: int = 0
    caught_up_at: float | None = None
    # The stream was lost: a full sync is due.
    lost: bool = False
    sync_failures: int = 0
    sync_not_before: float = 0.0


@dataclass(frozen=True)
class RosterKeeping:
    """What keeps the districts' roster copies: the store, the event deltas, and a full sync of
    one district (app.roster.sync, its client and tokens bound)."""

    store: RosterStore
    deltas: Deltas
    sync: Callable[[str], Awaitable[SyncReport]]
    student_fields: frozenset[str]


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
        roster: RosterKeeping | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._roster = roster
        self._syncing: asyncio.Task[None] | None = None
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

    @property
    def districts(self) -> list[str]:
        """The districts followed: listed by Clever and allowed (polled here or by a replica)."""
        return list(self._districts)

    def stop(self) -> None:
        """Finish the district in hand (its current event) and return from `run`."""
        self._stopping.set()

    @in_background  # the worker's calls leave the district token's window to logins first
    async def run(self) -> None:
        """Poll until `stop`; failures are logged and retried, never fatal. A sync still running
        at the end is cancelled (the district keeps its previous copy)."""
        try:
            while not self._stopping.is_set():
                try:
                    await self.cycle()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception(
                        "events cycle failed; trying again after the poll interval",
                        extra={"event": "events_cycle_failed"},
                    )
                self.last_cycle_at = self._clock()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._options.poll_interval)
        finally:
            if self._syncing is not None:
                self._syncing.cancel()
                await asyncio.wait([self._syncing])

    @property
    def syncing(self) -> asyncio.Task[None] | None:
        """The full sync running in this process, if any."""
        return self._syncing if self._syncing is not None and not self._syncing.done() else None

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
        sync_reason: str | None = None
        try:
            async with lock.hold() as held:
                if not held:
                    return  # another worker has it (or this one's sync)
                await self._consume(district_id, lock, state)
                sync_reason = await self._sync_due(district_id, state)
            state.failures = 0
            state.next_poll = 0.0
            if sync_reason is not None:
                self._start_sync(district_id, state, sync_reason)
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
            logger.warning(
                "district lock lost mid-batch; another worker carries on",
                extra={"event": "events_lock_lost", "district": district_id},
            )
        except CleverError as exc:
            self._back_off(district_id, state, self._backoff(state), "clever_error")
            logger.warning(
                "events poll failed at Clever",
                extra={"event": "events_poll_failed", "district": district_id, **_clever_fields(exc)},
            )

    # -- one district ---------------------------------------------------------------------

    async def _consume(self, district_id: str, lock: DistrictLock, state: _District) -> None:
        async def consume(token: str) -> None:
            await self._consume_with(district_id, lock, state, await self._cursors.read(district_id), token)

        await self._tokens.call(district_id, consume)

    async def _consume_with(
        self, district_id: str, lock: DistrictLock, state: _District, cursor: Cursor | None, token: str
    ) -> None:
        now = self._clock()
        if cursor is None:
            newest = await self._newest(token)
            await self._cursors.write(district_id, Cursor(after=newest, seen_until=now), lock)
            state.caught_up_at = now
            logger.info(
                "first start; events are followed from the newest one on",
                extra={"event": "events_first_start", "district": district_id},
            )
            return
        behind = now - cursor.seen_until
        if behind > RETENTION_SECONDS - RETENTION_MARGIN:
            logger.error(
                "the event cursor is older than Clever's 30 days of events; events were lost, "
                "resynchronising the district's live sessions from the Data API",
                extra={
                    "event": "events_cursor_too_old",
                    "district": district_id,
                    "days": round(behind / 86400, 1),
                },
            )
            self._metrics.resync("behind")
            await self._lost(district_id, lock, state, token)
            return
        after, seen_until = cursor.after, cursor.seen_until
        applied: dict[str, int] = {}
        while not self._stopping.is_set():
            asked_at = self._clock()
            try:
                page = await self._clever.events(token, starting_after=after, limit=self._options.page_size)
            except CleverNotFound:
                if after is None:
                    raise
                logger.error(
                    "Clever no longer knows the cursor's event; events were lost, "
                    "resynchronising the district's live sessions from the Data API",
                    extra={"event": "events_cursor_gone", "district": district_id},
                )
                self._metrics.resync("gone")
                await self._lost(district_id, lock, state, token)
                return
            for event in page.events:
                if self._stopping.is_set():
                    break
                if lock.lost:
                    raise LockLost(district_id)
                holders: list[str] | None = None
                if self._roster is not None:
                    holders = (await self._roster.deltas.apply(district_id, event, lock)).holders
                await self._effects.apply(district_id, event, holders=holders)
                after = event.id
                seen_until = max(seen_until, _created_at(event) or seen_until)
                await self._cursors.write(district_id, Cursor(after=after, seen_until=seen_until), lock)
                self._metrics.processed(event.type)
                applied[_type_label(event)] = applied.get(_type_label(event), 0) + 1
            if self._stopping.is_set():
                break  # the rest of the page is for the next start
            if page.skipped:
                # Events that do not parse are passed over (app.clever.client logs each), the
                # cursor with them, so that the ones after them are applied.
                self._metrics.passed_over(page.skipped)
                if page.cursor is not None and page.cursor != after:
                    after = page.cursor
                    await self._cursors.write(district_id, Cursor(after=after, seen_until=seen_until), lock)
            if page.read < self._options.page_size:
                # Read to its end: every event created before the request has been applied.
                await self._cursors.write(district_id, Cursor(after=after, seen_until=asked_at), lock)
                state.caught_up_at = asked_at
                break
        if applied:
            logger.info(
                "events applied",
                extra={
                    "event": "events_applied",
                    "district": district_id,
                    "applied": dict(sorted(applied.items())),
                },
            )

    async def _lost(self, district_id: str, lock: DistrictLock, state: _District, token: str) -> None:
        """The stream was lost: the cursor at the newest event, and live sessions brought in
        line with the Data API: at once without a store, else after the full sync now due (their
        Principals then come from the new copy)."""
        newest = await self._newest(token)
        if self._roster is None:
            await self._effects.resync(district_id)
        await self._cursors.write(district_id, Cursor(after=newest, seen_until=self._clock()), lock)
        state.caught_up_at = self._clock()
        state.lost = True

    # -- full syncs -----------------------------------------------------------------------

    async def _sync_due(self, district_id: str, state: _District) -> str | None:
        """Why the district needs a full sync now, or None. A request is taken only when this
        process can start the sync at once."""
        if self._roster is None or self.syncing is not None or self._clock() < state.sync_not_before:
            return None
        if state.lost:
            return "stream_lost"
        info = await self._roster.store.info(district_id)
        if info is None:
            return "first_sight"
        if not self._roster.store.can_unseal(info):
            return "unsealable"  # sealed under a secret no longer held (SESSION_SECRET rotated)
        if self._clock() - info.synced_at >= MAX_SYNC_AGE:
            return "daily"
        if info.student_fields != self._roster.student_fields:
            return "student_fields"
        if await self._roster.store.take_sync_request(district_id):
            return "requested"
        return None

    def _start_sync(self, district_id: str, state: _District, reason: str) -> None:
        self._syncing = asyncio.create_task(self._sync(district_id, state, reason))

    async def _sync(self, district_id: str, state: _District, reason: str) -> None:
        """One full sync under the district's lock; the district is not polled meanwhile."""
        assert self._roster is not None
        ttl = self._options.lock_ttl or max(2.0, 3 * self._options.poll_interval)
        lock = self._cursors.lock(district_id, ttl=ttl)
        logger.info(
            "district roster sync started",
            extra={"event": "roster_sync_started", "district": district_id, "reason": reason},
        )
        try:
            async with lock.hold() as held:
                if not held:
                    if reason == "requested":
                        await self._roster.store.request_sync(district_id)  # for whoever has it
                    return
                report = await self._roster.sync(district_id)
                await self._rewind(district_id, lock, report)
                if reason == "stream_lost":
                    await self._effects.resync(district_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            state.sync_failures += 1
            wait = min(MAX_BACKOFF, self._options.poll_interval * 2**state.sync_failures)
            state.sync_not_before = self._clock() + wait
            self._metrics.poll_error("sync_failed")
            # For a Clever answer the sync could not use, which call and why (a page that is not
            # JSON, lacks a field, or is over the sync's size limit), as `events_poll_failed` says.
            cause = _clever_fields(exc) if isinstance(exc, CleverError) else {"error": type(exc).__name__}
            logger.warning(
                "district roster sync failed; trying again later",
                extra={
                    "event": "roster_sync_failed",
                    "district": district_id,
                    **cause,
                    "retry_in": round(wait, 1),
                },
            )
            return
        state.lost = False
        state.sync_failures = 0
        state.sync_not_before = 0.0

    async def _rewind(self, district_id: str, lock: DistrictLock, report: SyncReport) -> None:
        """Set the cursor back to the newest event at the sync's start if it is past it: the
        events since are applied (again) to the new copy."""
        cursor = await self._cursors.read(district_id)
        start = report.info.events_after
        if cursor is None or cursor.after is None or not newer(cursor.after, start):
            return
        seen_until = min(cursor.seen_until, report.info.synced_at)
        await self._cursors.write(district_id, Cursor(after=start, seen_until=seen_until), lock)
        logger.info(
            "events since the sync began are applied again to the new copy",
            extra={"event": "events_rewound", "district": district_id},
        )

    async def _newest(self, token: str) -> str | None:
        """The newest event's id: one call (`ending_before=last`), or, should Clever refuse that
        form, a walk to the end of the stream (30 days of events at most, 10000 a page)."""

        def walk(exc: CleverRejected) -> bool:
            logger.warning(
                "ending_before=last refused; walking to the newest event",
                extra={"event": "events_newest_walk", **_clever_fields(exc)},
            )
            return True

        return await newest_event_id(self._clever, token, walk_on=walk)

    async def _disconnected(self, district_id: str) -> None:
        self._metrics.poll_error("district_disconnected")
        await self._effects.end_district(district_id)
        if self._roster is not None:
            await self._roster.store.purge(district_id)
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
            logger.warning(
                "listing the app's districts failed; using the ones known",
                extra={"event": "events_discovery_failed", **_clever_fields(exc)},
            )
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
        logger.warning(
            "events poll backed off",
            extra={"event": "events_backoff", "district": district_id, "code": error, "wait": round(wait, 1)},
        )


def _clever_fields(exc: CleverError) -> dict[str, object]:
    """What a log line says of a Clever error: its class, operation and status (the same fields
    as the backend's `clever_error` line), never a token or what Clever sent."""
    return {
        "error": type(exc).__name__,
        "operation": exc.operation,
        "detail": exc.detail,
        "status": exc.status,
    }


def _created_at(event: Event) -> float | None:
    if not event.created:
        return None
    try:
        return datetime.fromisoformat(event.created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _type_label(event: Event) -> str:
    return event.type if "." in event.type and len(event.type) <= 40 else "other"
