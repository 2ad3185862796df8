"""`clever-login events`: the worker process, built from the settings like `serve`.

SIGTERM (or SIGINT) lets the worker finish the event in hand, record its cursor and exit 0.
With a metrics port, a small Starlette app under uvicorn answers `GET /metrics` (Prometheus
text, the worker's own registry, with the districts' roster copies: app.events.health),
`GET /healthz` (200 while the polling loop keeps turning, 503 when it has not completed a cycle
for a while) and `GET /readyz` (200 while the worker keeps up: every district's event stream read
to its end within ROSTER_MAX_EVENTS_LAG; else 503 naming the districts behind), for the
Kubernetes probes and a scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.core import Core, open_core
from app.events.cursor import Cursors
from app.events.deltas import Deltas
from app.events.effects import ALL_ROLES, Effects
from app.events.health import RosterHealth
from app.events.metrics import EventMetrics
from app.events.worker import EventsWorker, RosterKeeping, WorkerOptions
from app.redis_client import REDIS_ERRORS
from app.roster.sync import SyncReport, sync_district
from app.serving.server import EmbeddedServer, listening_socket
from app.settings import Settings

logger = logging.getLogger("app.events")

MAX_REQUEST_BYTES = 8192
# A scrape or probe still in flight at SIGTERM gets this long to finish.
SHUTDOWN_SECONDS = 5


def stalled_after(poll_interval: float) -> float:
    """How long without a finished cycle before /healthz answers 503."""
    return max(120.0, 10 * poll_interval)


async def run_events(
    settings: Settings, *, metrics_host: str = "127.0.0.1", metrics_port: int | None = None
) -> None:
    """Run the worker until SIGTERM/SIGINT."""
    async with open_core(settings) as core:
        await _run(core, settings, metrics_host=metrics_host, metrics_port=metrics_port)


def build_worker(core: Core, settings: Settings, metrics: EventMetrics) -> EventsWorker:
    """The worker `clever-login events` runs (and `clever-login dev` beside its apps)."""

    async def sync(district_id: str) -> SyncReport:
        return await sync_district(
            core.clever,
            core.district_tokens,
            core.roster,
            district_id,
            student_fields=settings.student_fields,
        )

    return EventsWorker(
        clever=core.clever,
        tokens=core.district_tokens,
        cursors=Cursors(core.redis, prefix=settings.redis_key_prefix),
        effects=Effects(
            sessions=core.sessions,
            clever=core.clever,
            tokens=core.district_tokens,
            metrics=metrics,
            student_fields=settings.student_fields,
            accepted_roles=settings.allowed_roles or ALL_ROLES,
            roster=core.roster,
        ),
        metrics=metrics,
        options=WorkerOptions(
            poll_interval=settings.events_poll_interval, allowed_districts=settings.allowed_districts
        ),
        roster=RosterKeeping(
            store=core.roster,
            deltas=Deltas(store=core.roster, clever=core.clever, tokens=core.district_tokens),
            sync=sync,
            student_fields=settings.student_fields,
        ),
    )


async def _run(core: Core, settings: Settings, *, metrics_host: str, metrics_port: int | None) -> None:
    metrics = EventMetrics()
    worker = build_worker(core, settings, metrics)
    health = RosterHealth(
        store=core.roster,
        cursors=Cursors(core.redis, prefix=settings.redis_key_prefix),
        registry=metrics.registry,
        districts=lambda: worker.districts,
        started=lambda: worker.last_cycle_at is not None,
        max_events_lag=settings.roster_max_events_lag,
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics_port is not None:
                app = metrics_app(worker, metrics, settings.events_poll_interval, health)
                await stack.enter_async_context(serve_metrics(app, metrics_host, metrics_port))
            logger.info(
                "events worker started",
                extra={"event": "events_worker_started", "poll_interval": settings.events_poll_interval},
            )
            await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        logger.info("events worker stopped", extra={"event": "events_worker_stopped"})


def metrics_app(
    worker: EventsWorker, metrics: EventMetrics, poll_interval: float, health: RosterHealth
) -> Starlette:
    """`/metrics`, `/healthz` and `/readyz`, read with GET or HEAD; any other method is refused,
    whatever the path."""
    started = time.time()

    async def scrape(request: Request) -> Response:
        try:
            await health.refresh()
        except REDIS_ERRORS as exc:
            # The rest of the registry is still worth a scrape; the roster gauges keep their values.
            logger.warning(
                "reading the roster copies for metrics failed",
                extra={"event": "roster_health_failed", "error": type(exc).__name__, "probe": "metrics"},
            )
        return Response(metrics.render(), media_type=metrics.content_type)

    async def live(request: Request) -> Response:
        last = worker.last_cycle_at if worker.last_cycle_at is not None else started
        if time.time() - last <= stalled_after(poll_interval):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "stalled"}, status_code=503)

    async def ready(request: Request) -> Response:
        try:
            readiness = await health.refresh()
        except REDIS_ERRORS as exc:
            logger.warning(
                "reading the event cursors for readiness failed",
                extra={"event": "roster_health_failed", "error": type(exc).__name__, "probe": "readyz"},
            )
            return JSONResponse({"status": "redis_unavailable"}, status_code=503)
        if readiness.ready:
            return JSONResponse({"status": "ok"})
        body: dict[str, object] = {"status": readiness.status}
        if readiness.behind:
            body["behind"] = readiness.behind
        return JSONResponse(body, status_code=503)

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.method not in ("GET", "HEAD"):
            return await not_allowed(request, exc)
        return _plain(404, b"not found\n")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _plain(405, b"method not allowed\n")

    return Starlette(
        routes=[
            Route("/metrics", scrape, methods=["GET"]),
            Route("/healthz", live, methods=["GET"]),
            Route("/readyz", ready, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )


@contextlib.asynccontextmanager
async def serve_metrics(app: Starlette, host: str, port: int) -> AsyncIterator[None]:
    """`app` served on `host:port` while the block runs; PortInUseError before it when the port
    is taken. Leaving the block stops the server (signals are the worker's, not uvicorn's)."""
    sock = listening_socket(host, port)
    server = EmbeddedServer(
        uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,  # the worker's logging, as configured
            log_level="warning",
            access_log=False,
            server_header=False,
            http="h11",
            h11_max_incomplete_event_size=MAX_REQUEST_BYTES,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield
    finally:
        server.should_exit = True
        try:
            await serving
        finally:
            sock.close()


def _plain(status: int, body: bytes) -> Response:
    # Content-Type exactly `text/plain`: Starlette's media type would add a charset.
    return Response(body, status_code=status, headers={"Content-Type": "text/plain"})
