"""Prometheus metrics of one app instance, in a registry of its own.

A registry per instance (not prometheus_client's global one) lets several apps live in one
process, as they do in the tests. Label values are route templates and short codes from fixed
sets, never ids, paths or messages: labels must hold no personal data (SECURITY.md, requirement 38)
and must not grow without bound.

With several uvicorn workers in one pod, each worker counts on its own and a scrape sees one
of them; run one worker per pod and scale pods, or merge per-worker registries before relying
on the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from typing import Literal, TypeVar, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from app.clever.budget import Headroom
from app.roster.principal import ROSTER_PARTS, RosterPart
from app.roster.source import LIVE_REASONS, LiveReason
from app.settings import DISTRICT_ID

# Seconds; a session check is a few ms, a login with its Clever calls up to a few seconds.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# What a roster was read for (`roster_sources_total`).
RosterPurpose = Literal["login", "refresh"]
OTHER = "other"
NONE = "none"
# A guard on caches keyed by what callers pass in, should one ever pass something unbounded.
_MAX_BOUND_CHILDREN = 64

_Key = TypeVar("_Key", bound=Hashable)
_Child = TypeVar("_Child")


def _bound(
    children: dict[_Key, _Child],
    key: _Key,
    make: Callable[[], _Child],
    limit: int | None = _MAX_BOUND_CHILDREN,
) -> _Child:
    """The child collector(s) of `key`, bound by `make` at first use and then kept (up to `limit`
    keys, None for keys bounded by the code itself; past it, bound again on every call)."""
    child = children.get(key)
    if child is None:
        child = make()
        if limit is None or len(children) < limit:
            children[key] = child
    return child


def label_code(value: str) -> str:
    """`value` when it looks like a stable code (`clever_unavailable`), else `other`.

    A guard against a message or an id slipping into a label by mistake.
    """
    return value if _CODE.match(value) else OTHER


class Metrics:
    """The collectors of one app instance.

    `http_requests_total{route,method,status}` and `http_request_duration_seconds{route,method}`
    are fed by `RequestMetrics`; the login flow reports through `login`, the Clever client
    through `CleverMetrics` (its observer), session checks through `session_validation` and
    the error handler through `redis_error`.
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
            "Logins that ended, by outcome (success, or a stable error code) and login method.",
            ("outcome", "method"),
            registry=self.registry,
        )
        self._clever_calls = Counter(
            "clever_calls",
            "Requests to Clever (each retry counts), by operation, outcome and HTTP status "
            "(`none` when Clever did not answer or nothing was sent).",
            ("operation", "outcome", "status"),
            registry=self.registry,
        )
        self._clever_duration = Histogram(
            "clever_call_duration_seconds",
            "Time one request to Clever took, body included.",
            ("operation",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._rate_remaining = Gauge(
            "clever_rate_limit_remaining",
            "Calls left in the current rate-limit window of a district's token (Clever's count, "
            "minus calls in flight), as of the last answer.",
            ("district",),
            registry=self.registry,
        )
        self._rate_limit = Gauge(
            "clever_rate_limit_limit",
            "Calls allowed per window on a district's token, as Clever last said.",
            ("district",),
            registry=self.registry,
        )
        self._roster_sources = Counter(
            "roster_sources",
            "Rosters a login or a session refresh used, by purpose (`login`, `refresh`), source "
            "(`store`: the district's fresh copy; `live`: Clever's Data API) and, for `live`, why "
            "not the copy (`no_copy`, `stale`, `not_in_copy`, `unreadable`; `none` for `store`).",
            ("purpose", "source", "reason"),
            registry=self.registry,
        )
        # Every label set, bound at once: the vocabulary is fixed, and each shows from the start.
        self._roster_source_children = {
            (purpose, reason): self._roster_sources.labels(
                purpose=purpose, source="store" if reason is None else "live", reason=reason or NONE
            )
            for purpose in get_args(RosterPurpose)
            for reason in (None, *LIVE_REASONS)
        }
        self._parts_unavailable = Counter(
            "roster_parts_unavailable",
            "Parts of a roster Clever could not give a login or a session refresh (`purpose`), "
            "which went on without them: `part` is `sections`, `resources` or `students` (a "
            "contact's linked students).",
            ("purpose", "part"),
            registry=self.registry,
        )
        self._part_children = {
            (purpose, part): self._parts_unavailable.labels(purpose=purpose, part=part)
            for purpose in get_args(RosterPurpose)
            for part in ROSTER_PARTS
        }
        self._validations = Counter(
            "session_validations",
            "Session checks, by outcome: valid, invalid (unknown, expired or forged) or no_session.",
            ("outcome",),
            registry=self.registry,
        )
        self._security_events = Counter(
            "security_events",
            "Refused login requests and Clever-started logins, by event and stable code; each is "
            "counted here even when the rate-limited log leaves its line out.",
            ("event", "code"),
            registry=self.registry,
        )
        self._service_auth_failures = Counter(
            "service_auth_failures",
            "Service-client authentications refused, by client (a configured name, or `unknown`) "
            "and outcome: `rejected` (wrong credentials) or `throttled` (refused unchecked, 429).",
            ("client", "outcome"),
            registry=self.registry,
        )
        self._redis_errors = Counter(
            "redis_errors",
            "Requests that failed because Redis did, by error class.",
            ("error",),
            registry=self.registry,
        )
        # Children bound once per label set: `labels()` is a lock and a dict walk on every call,
        # too much for the request path (a login counts about 15). The label sets are bounded
        # (see the module docstring).
        self._http_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._validation_children: dict[str, Counter] = {}
        self._login_children: dict[tuple[str, str], Counter] = {}
        self._clever_children: dict[tuple[str, str, str], Counter] = {}
        self._clever_duration_children: dict[str, Histogram] = {}
        self._headroom_children: dict[str, tuple[Gauge, Gauge]] = {}

    def http_request(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count one answered request (`status` is its class, `2xx`) and how long it took."""
        # Routes are the app's own templates and methods and status classes a few: no cap needed.
        children = _bound(
            self._http_children,
            (route, method, status),
            lambda: (
                self.http_requests.labels(route=route, method=method, status=status),
                self.http_duration.labels(route=route, method=method),
            ),
            limit=None,
        )
        children[0].inc()
        children[1].observe(seconds)

    def login(self, outcome: str, method: str | None = None) -> None:
        """Count one finished login; `outcome` is `success` or a stable error code, `method` the
        login method (`clever_sso`, `clever_portal`) when it was known by then."""
        labels = (label_code(outcome), label_code(method or "unknown"))
        _bound(
            self._login_children,
            labels,
            lambda: self._logins.labels(outcome=labels[0], method=labels[1]),
        ).inc()

    def roster_source(self, purpose: RosterPurpose, live_reason: LiveReason | None) -> None:
        """Count one roster used by a login or refresh (`purpose`): from the store when
        `live_reason` is None, else fetched live for that reason (app.roster.source)."""
        self._roster_source_children[(purpose, live_reason)].inc()

    def roster_parts_unavailable(self, purpose: RosterPurpose, parts: Iterable[RosterPart]) -> None:
        """Count each part a login or refresh went without (app.roster.fetch)."""
        for part in parts:
            self._part_children[(purpose, part)].inc()

    def clever_call(
        self, operation: str, outcome: str, seconds: float | None = None, status: int | None = None
    ) -> None:
        """Count one request to Clever (`operation` as in `app.clever.errors`, e.g.
        `user_sections`; `outcome` as in `app.clever.observer.OUTCOMES`)."""
        operation = label_code(operation)
        code = str(status) if status is not None and 100 <= status <= 599 else NONE
        labels = (operation, label_code(outcome), code)
        _bound(
            self._clever_children,
            labels,
            lambda: self._clever_calls.labels(operation=labels[0], outcome=labels[1], status=labels[2]),
        ).inc()
        if seconds is not None:
            _bound(
                self._clever_duration_children,
                operation,
                lambda: self._clever_duration.labels(operation=operation),
            ).observe(seconds)

    def rate_headroom(self, district_id: str, remaining: int, limit: int) -> None:
        """What is left of a district token's window; an id that does not look like one is `other`."""
        # Clever district ids (24 hex digits; the sandbox's look alike): not personal data, and
        # bounded by the districts that connected the app.
        district = district_id if DISTRICT_ID.match(district_id) else OTHER
        gauges = _bound(
            self._headroom_children,
            district,
            lambda: (
                self._rate_remaining.labels(district=district),
                self._rate_limit.labels(district=district),
            ),
        )
        gauges[0].set(remaining)
        gauges[1].set(limit)

    def session_validation(self, outcome: str) -> None:
        """Count one session check: `valid`, `invalid` or `no_session`."""
        _bound(
            self._validation_children, outcome, lambda: self._validations.labels(outcome=label_code(outcome))
        ).inc()

    def security_event(self, event: str, code: str | None) -> None:
        """Count one security event (`login_rejected`, `invalid_request`)."""
        self._security_events.labels(event=label_code(event), code=label_code(code or NONE)).inc()

    def service_auth_failure(self, client: str, outcome: str) -> None:
        """Count one refused service-client authentication; `client` is a configured name or
        `unknown` (app.web.throttle), never what the caller sent."""
        # A configured name or `unknown`: bounded by the settings, and no personal data.
        self._service_auth_failures.labels(client=client, outcome=label_code(outcome)).inc()

    def redis_error(self, exc: BaseException) -> None:
        """Count one request failed by Redis, labelled by the error's class (`timeout_error`)."""
        self._redis_errors.labels(error=label_code(_CAMEL.sub("_", type(exc).__name__).lower())).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every collector."""
        return generate_latest(self.registry)


class CleverMetrics:
    """The Clever client's observer (`app.clever.observer.CleverObserver`), feeding `Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def attempt(self, operation: str, outcome: str, status: int | None, seconds: float) -> None:
        self._metrics.clever_call(operation, outcome, seconds, status)

    def headroom(self, headroom: Headroom) -> None:
        self._metrics.rate_headroom(headroom.label, headroom.remaining, headroom.limit)
