"""Prometheus metrics of one app instance, in a registry of its own.

A registry per instance (not prometheus_client's global one) lets several apps live in one
process, as they do in the tests. Label values are route templates and short codes from fixed
sets, never ids, paths or messages: labels must hold no personal data (security checklist 38)
and must not grow without bound.

With several uvicorn workers in one pod, each worker counts on its own and a scrape sees one
of them; run one worker per pod and scale pods, or merge per-worker registries before relying
on the numbers.
"""

from __future__ import annotations

import re

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

# Seconds; a session check is a few ms, a login with its Clever calls up to a few seconds.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
OTHER = "other"


def label_code(value: str) -> str:
    """`value` when it looks like a stable code (`clever_unavailable`), else `other`.

    A guard against a message or an id slipping into a label by mistake.
    """
    return value if _CODE.match(value) else OTHER


class Metrics:
    """The collectors of one app instance.

    `http_requests_total{route,method,status}` and `http_request_duration_seconds{route,method}`
    are fed by `RequestMetrics`; the login flow reports through `login` and `clever_call`.
    """

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status class.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer.",
            ("route", "method"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._logins = Counter(
            "logins",
            "Logins that ended, by outcome (success, or a stable error code).",
            ("outcome",),
            registry=self.registry,
        )
        self._clever_calls = Counter(
            "clever_calls",
            "Calls to Clever, by operation and outcome.",
            ("operation", "outcome"),
            registry=self.registry,
        )
        self._clever_duration = Histogram(
            "clever_call_duration_seconds",
            "Time a call to Clever took, retries included.",
            ("operation",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def login(self, outcome: str) -> None:
        """Count one finished login; `outcome` is `success` or a stable error code."""
        self._logins.labels(outcome=label_code(outcome)).inc()

    def clever_call(self, operation: str, outcome: str, seconds: float | None = None) -> None:
        """Count one call to Clever (`operation` as in `app.clever.errors`, e.g. `user_sections`;
        `outcome` e.g. `ok`, `unavailable`, `rate_limited`, `rejected`, `malformed`)."""
        operation = label_code(operation)
        self._clever_calls.labels(operation=operation, outcome=label_code(outcome)).inc()
        if seconds is not None:
            self._clever_duration.labels(operation=operation).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every collector."""
        return generate_latest(self.registry)
