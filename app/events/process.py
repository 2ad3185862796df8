"""`clever-login events`: the worker process, built from the settings like `serve`.

SIGTERM (or SIGINT) lets the worker finish the event in hand, record its cursor and exit 0.
With a metrics port, a small HTTP endpoint answers `GET /metrics` (Prometheus text, the
worker's own registry) and `GET /healthz` (200 while the polling loop keeps turning, 503 when
it has not completed a cycle for a while), for the Kubernetes probes and a scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from app.events.cursor import Cursors
from app.events.effects import ALL_ROLES, Effects
from app.events.metrics import EventMetrics
from app.events.worker import EventsWorker, WorkerOptions
from app.settings import Settings
from app.web.services import Core, open_core

logger = logging.getLogger("app.events")

MAX_REQUEST_BYTES = 8192


def stalled_after(poll_interval: float) -> float:
    """How long without a finished cycle before /healthz answers 503."""
    return max(120.0, 10 * poll_interval)


async def run_events(
    settings: Settings, *, metrics_host: str = "127.0.0.1", metrics_port: int | None = None
) -> None:
    """Run the worker until SIGTERM/SIGINT."""
    async with open_core(settings) as core:
        await _run(core, settings, metrics_host=metrics_host, metrics_port=metrics_port)


async def _run(core: Core, settings: Settings, *, metrics_host: str, metrics_port: int | None) -> None:
    metrics = EventMetrics()
    worker = EventsWorker(
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
        ),
        metrics=metrics,
        options=WorkerOptions(
            poll_interval=settings.events_poll_interval, allowed_districts=settings.allowed_districts
        ),
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    server = None
    if metrics_port is not None:
        server = await serve_metrics(
            worker, metrics, settings.events_poll_interval, metrics_host, metrics_port
        )
    logger.info("events worker started; polling every %.1f s", settings.events_poll_interval)
    try:
        await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if server is not None:
            server.close()
            await server.wait_closed()
        logger.info("events worker stopped")


async def serve_metrics(
    worker: EventsWorker, metrics: EventMetrics, poll_interval: float, host: str, port: int
) -> asyncio.Server:
    """`/metrics` and `/healthz` on `host:port` (plain HTTP/1.1, one request per connection)."""
    started = time.time()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        method, _, rest = request[:MAX_REQUEST_BYTES].decode("latin-1").partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        status, content_type, body = _route(method, path)
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + (body if method != "HEAD" else b""))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def _route(method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", metrics.content_type, metrics.render()
        if path == "/healthz":
            last = worker.last_cycle_at if worker.last_cycle_at is not None else started
            if time.time() - last <= stalled_after(poll_interval):
                return "200 OK", "application/json", b'{"status":"ok"}'
            return "503 Service Unavailable", "application/json", b'{"status":"stalled"}'
        return "404 Not Found", "text/plain", b"not found\n"

    return await asyncio.start_server(answer, host, port, limit=MAX_REQUEST_BYTES)
