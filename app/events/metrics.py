"""The events worker's Prometheus metrics, in a registry of its own (served by `process`).

Labels hold event types (a fixed vocabulary), district ids (organisations, bounded by the
districts that connected the app) and short codes: never a user id or a name.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from app.clever.models.vocabulary import EVENT_ACTIONS, EVENT_RECORD_TYPES

EVENT_TYPES = frozenset(f"{record}.{action}" for record in EVENT_RECORD_TYPES for action in EVENT_ACTIONS)


class EventMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._events = Counter(
            "clever_events_processed",
            "Events API events applied, by type.",
            ("type",),
            registry=self.registry,
        )
        self._lag = Gauge(
            "clever_events_lag_seconds",
            "Seconds since the district's event stream was last read to its end.",
            ("district",),
            registry=self.registry,
        )
        self._sessions = Counter(
            "clever_events_sessions_changed",
            "Live sessions changed by events: refreshed (a new Principal left for them) or ended.",
            ("change",),
            registry=self.registry,
        )
        self._resyncs = Counter(
            "clever_events_resyncs",
            "Resynchronisations of a district's live sessions from the Data API.",
            ("reason",),
            registry=self.registry,
        )
        self._unreadable = Counter(
            "clever_events_unreadable",
            "Events that did not parse and were passed over (a warning a page names the first type).",
            registry=self.registry,
        )
        self._errors = Counter(
            "clever_events_poll_errors",
            "Polls of a district that failed, by cause.",
            ("error",),
            registry=self.registry,
        )

    def processed(self, event_type: str) -> None:
        self._events.labels(type=event_type if event_type in EVENT_TYPES else "other").inc()

    def processed_count(self, event_type: str | None = None) -> float:
        """Events applied so far (of one type, or all): for health reports and tests."""
        total = 0.0
        for metric in self._events.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and event_type in (None, sample.labels.get("type")):
                    total += sample.value
        return total

    def lag(self, district_id: str, seconds: float) -> None:
        self._lag.labels(district=district_id).set(max(0.0, seconds))

    def forget_district(self, district_id: str) -> None:
        with contextlib.suppress(KeyError):
            self._lag.remove(district_id)

    def sessions_changed(self, change: str, count: int) -> None:
        if count:
            self._sessions.labels(change=change).inc(count)

    def resync(self, reason: str) -> None:
        self._resyncs.labels(reason=reason).inc()

    def passed_over(self, count: int) -> None:
        self._unreadable.inc(count)

    def poll_error(self, error: str) -> None:
        self._errors.labels(error=error).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
