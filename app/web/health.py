"""Liveness, readiness and metrics endpoints for Kubernetes and Prometheus.

SECURITY.md, requirement 31. Liveness touches nothing outside the process: a
Redis blip must not make Kubernetes restart every pod. Readiness asks Redis only, never Clever:
sessions can be checked without Clever, and failing readiness on a Clever outage would pull
every pod out of the load balancer, turning a degraded login into an outage of `/auth/verify`
and `/auth/session` too.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Literal

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.redis_client import RedisClient
from app.web.metrics import Metrics
from app.web.problems import json_problem

log = logging.getLogger(__name__)

ReadinessState = Literal["ready", "redis_unavailable", "shutting_down"]

DEFAULT_PING_TIMEOUT = 0.5
# Probes from the kubelet, the load balancer and people every second would otherwise each cost
# a Redis round trip; a couple of seconds of staleness is well inside any probe period.
DEFAULT_CACHE_SECONDS = 2.0
RETRY_AFTER_SECONDS = 2


class Readiness:
    """Whether this instance should receive traffic: Redis answers `PING`, and it is not draining.

    `redis` is the client, or a callable returning it (the client is made by the app's lifespan,
    after the routes). The `PING` result, good or bad, is reused for `cache_seconds`, and
    concurrent checks share one `PING`. `mark_draining()` (on SIGTERM, or at the start of the
    lifespan's shutdown) makes every later check answer `shutting_down` without asking Redis.
    """

    def __init__(
        self,
        redis: RedisClient | Callable[[], RedisClient],
        *,
        timeout: float = DEFAULT_PING_TIMEOUT,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._draining = False
        self._redis_ok: bool | None = None
        self._checked_at = 0.0

    @property
    def draining(self) -> bool:
        return self._draining

    def mark_draining(self) -> None:
        if not self._draining:
            log.info("shutting down: readiness now answers 503", extra={"event": "draining"})
        self._draining = True

    def drain_on_signals(
        self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
    ) -> Callable[[], None]:
        """Make SIGTERM (and Ctrl-C) take this instance out of rotation before anything else.

        Each signal first marks the instance draining, then reaches the handler installed before
        (the server's, which stops accepting and lets open requests finish). Answers a function
        that puts the previous handlers back. Signal handlers belong to the main thread: from
        any other (a server run in a thread by the tests) this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def handler(signum: int, frame: FrameType | None) -> None:
            self.mark_draining()
            before = previous.get(signum)
            if callable(before):
                before(signum, frame)
            elif before == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)

        for sig in signals:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, before in previous.items():
                if signal.getsignal(sig) is handler and before is not None:
                    signal.signal(sig, before)

        return restore

    async def check(self) -> ReadinessState:
        if self._draining:
            return "shutting_down"
        async with self._lock:
            if self._redis_ok is None or self._clock() - self._checked_at >= self._cache_seconds:
                ok = await self._ping()
                if ok != self._redis_ok and self._redis_ok is not None:
                    log.warning(
                        "readiness: Redis answers again" if ok else "readiness: Redis does not answer",
                        extra={"event": "readiness_changed", "redis_ok": ok},
                    )
                self._redis_ok = ok
                self._checked_at = self._clock()
        if self._draining:
            return "shutting_down"
        return "ready" if self._redis_ok else "redis_unavailable"

    async def _ping(self) -> bool:
        try:
            # Inside the `try`: before the lifespan has made the client, the getter may fail.
            redis = self._redis if isinstance(self._redis, Redis | RedisCluster) else self._redis()
            async with asyncio.timeout(self._timeout):
                await redis.ping()
        except Exception as exc:  # any failure means "not ready"; the probe must answer, not raise
            # The type only: a Redis error's text can name hosts or, for some, carry the URL.
            log.info(
                "readiness: Redis ping failed",
                extra={"event": "readiness_ping_failed", "error": type(exc).__name__},
            )
            return False
        return True


def health_routes(readiness: Readiness, metrics: Metrics) -> list[BaseRoute]:
    """`GET /healthz`, `GET /readyz` and `GET /metrics`.

    `/metrics` is meant for the in-cluster scraper: keep it off the public ingress.
    """

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state = await readiness.check()
        if state == "ready":
            return JSONResponse({"status": "ready"})
        # Not ready: the state is the stable code (app.web.problems).
        return json_problem(state, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    return [
        Route("/healthz", healthz, methods=["GET"], name="healthz"),
        Route("/readyz", readyz, methods=["GET"], name="readyz"),
        Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"),
    ]
