"""The districts' roster copies as the events worker's metrics, and its readiness: whether it
keeps up.

Per district (read from Redis at each scrape or probe, so a district another replica polls is
seen too): the copy's age (seconds since its sync began), its records per kind, the last sync's
duration and Clever calls, and whether there is a copy at all. Labels carry district ids only
when they look like one (app.settings.DISTRICT_ID) and kinds from a fixed vocabulary: never
anything from a record.

Keeping up means what a login needs to use a copy (app.roster.store, `is_fresh`): every
district's event stream was read to its end less than `max_events_lag` seconds ago
(ROSTER_MAX_EVENTS_LAG), by this worker or another replica. Until the worker has finished one
cycle it is starting, not ready.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge

from app.clever.models.vocabulary import EVENT_RECORD_TYPES
from app.events.cursor import Cursors
from app.roster.store import RosterStore
from app.settings import DISTRICT_ID

logger = logging.getLogger("app.events")

# Scrapes and probes within this many seconds share one reading of Redis.
REFRESH_SECONDS = 5.0

Status = Literal["ok", "behind", "starting"]


@dataclass(frozen=True, slots=True)
class Readiness:
    status: Status
    # Districts whose stream was not read to its end within the bound (ids that look like one).
    behind: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.status == "ok"


class RosterHealth:
    def __init__(
        self,
        *,
        store: RosterStore,
        cursors: Cursors,
        registry: CollectorRegistry,
        districts: Callable[[], Iterable[str]],
        started: Callable[[], bool],
        max_events_lag: float,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._cursors = cursors
        self._districts = districts
        self._started = started
        self.max_events_lag = max_events_lag
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._read_at: float | None = None
        self._behind: list[str] = []
        self._labelled: set[str] = set()
        self._present = Gauge(
            "clever_roster_copy_present",
            "1 when the district has a roster copy in Redis, else 0.",
            ("district",),
            registry=registry,
        )
        self._age = Gauge(
            "clever_roster_copy_age_seconds",
            "Seconds since the sync that wrote the district's roster copy began.",
            ("district",),
            registry=registry,
        )
        self._records = Gauge(
            "clever_roster_records",
            "Records in the district's roster copy, by kind.",
            ("district", "kind"),
            registry=registry,
        )
        self._sync_seconds = Gauge(
            "clever_roster_last_sync_duration_seconds",
            "How long the sync that wrote the district's roster copy took.",
            ("district",),
            registry=registry,
        )
        self._sync_calls = Gauge(
            "clever_roster_last_sync_calls",
            "Clever requests the sync that wrote the district's roster copy made.",
            ("district",),
            registry=registry,
        )

    async def refresh(self) -> Readiness:
        """Read every district's copy and cursor (at most once per `refresh_seconds`), set the
        gauges, and answer the readiness. Redis errors propagate."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh_seconds:
            self._behind = await self._read(now)
            self._read_at = now
        if not self._started():
            return Readiness("starting")
        return Readiness("behind", self._behind) if self._behind else Readiness("ok")

    async def _read(self, now: float) -> list[str]:
        """Set the gauges from Redis; the districts behind."""
        districts = sorted(d for d in self._districts() if DISTRICT_ID.match(d))
        behind: list[str] = []
        for district_id in districts:
            info = await self._store.info(district_id)
            cursor = await self._cursors.read(district_id)
            if cursor is None or now - cursor.seen_until >= self.max_events_lag:
                behind.append(district_id)
            self._present.labels(district=district_id).set(0 if info is None else 1)
            if info is None:
                self._forget_copy(district_id)
                continue
            self._age.labels(district=district_id).set(max(0.0, now - info.synced_at))
            self._sync_seconds.labels(district=district_id).set(info.seconds)
            self._sync_calls.labels(district=district_id).set(info.calls)
            for kind in sorted(EVENT_RECORD_TYPES):
                self._records.labels(district=district_id, kind=kind).set(info.counts.get(kind, 0))
        for gone in self._labelled - set(districts):
            self._forget_copy(gone)
            _remove(self._present, gone)
        self._labelled = set(districts)
        return behind

    def _forget_copy(self, district_id: str) -> None:
        for gauge in (self._age, self._sync_seconds, self._sync_calls):
            _remove(gauge, district_id)
        for kind in sorted(EVENT_RECORD_TYPES):
            _remove(self._records, district_id, kind)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # not every prometheus_client version ignores a missing one
        gauge.remove(*labels)
