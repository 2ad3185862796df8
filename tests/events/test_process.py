"""`clever-login events` as a process: settings from the environment, /healthz and /metrics,
a roster change applied, logs without personal data, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from app.events.metrics import EventMetrics
from app.events.process import metrics_app, serve_metrics
from tests.events.conftest import POLL, Rig, running, until
from tests.support.backend import backend_environ
from tests.support.demo import demo_user
from tests.support.processes import child_environ, free_port, start_cli, stop, wait_until_answers


async def test_the_events_command_follows_the_roster_and_stops_on_sigterm(rig: Rig) -> None:
    teacher = demo_user(rig.store, "teacher")
    person = await rig.log_in(teacher["id"])
    port = free_port()
    settings = backend_environ(
        rig.sandbox.url,
        rig.sandbox.config,
        redis_url=rig.redis_url,
        key_prefix=rig.key_prefix,
        extra={"EVENTS_POLL_INTERVAL": "1"},
    )
    proc = start_cli(
        "events", "--metrics-port", str(port), "--log-format", "text", env=child_environ(settings)
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", proc)

        async def started() -> bool:
            return await rig.cursor(teacher["district"]) is not None

        await until(started, deadline=10, what="the worker's first cursor")
        await rig.control("PATCH", f"/sandbox/users/{teacher['id']}", {"name": {"first": "Processed"}})

        async def renamed() -> bool:
            return bool((await person.principal())["user"]["name"]["first"] == "Processed")

        await until(renamed, deadline=10, what="the rename")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics = (await http.get("/metrics")).text
            missing = await http.get("/nope")
    finally:
        code, output = stop(proc, signal.SIGTERM, timeout=15)
    assert 'clever_events_processed_total{type="users.updated"} 1.0' in metrics
    assert f'clever_events_lag_seconds{{district="{teacher["district"]}"}}' in metrics
    assert 'clever_events_sessions_changed_total{change="refreshed"} 1.0' in metrics
    assert missing.status_code == 404
    assert code == 0, output
    assert "events worker stopped" in output
    assert 'applied={"users.updated": 1}' in output
    for personal in (teacher["id"], "Processed", teacher["name"]["last"]):
        assert personal not in output


def test_bad_settings_are_listed_before_anything_starts() -> None:
    proc = start_cli("events", env=child_environ({"EVENTS_POLL_INTERVAL": "0"}))
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "clever-login events: invalid settings:" in output
    for name in ("CLEVER_CLIENT_ID", "SESSION_SECRET", "REDIS_URL", "EVENTS_POLL_INTERVAL"):
        assert name in output


async def test_the_metrics_endpoint_answers_reads_only_and_closes_with_its_block(rig: Rig) -> None:
    metrics = EventMetrics()
    port = free_port()
    worker = rig.worker(metrics)
    async with (
        serve_metrics(metrics_app(worker, metrics, POLL, rig.health(worker, metrics)), "127.0.0.1", port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        health = await http.get("/healthz?probe=1")
        head = await http.head("/metrics")
        scrape = await http.get("/metrics")
        answers = [
            await http.request(method, path) for method, path in (("POST", "/metrics"), ("PUT", "/nope"))
        ]
        missing = await http.get("/nope")
    assert (health.status_code, health.headers["content-type"], health.content) == (
        200,
        "application/json",
        b'{"status":"ok"}',
    )
    assert (head.status_code, head.headers["content-type"], head.content) == (200, metrics.content_type, b"")
    assert scrape.headers["content-type"] == metrics.content_type
    assert "# TYPE clever_events_processed_total counter" in scrape.text
    for refused in answers:
        assert (refused.status_code, refused.headers["content-type"], refused.content) == (
            405,
            "text/plain",
            b"method not allowed\n",
        )
    assert (missing.status_code, missing.headers["content-type"], missing.content) == (
        404,
        "text/plain",
        b"not found\n",
    )
    async with httpx.AsyncClient() as after:
        with pytest.raises(httpx.ConnectError):
            await after.get(f"http://127.0.0.1:{port}/healthz")


async def test_healthz_answers_503_when_the_loop_has_not_turned_for_a_while(rig: Rig) -> None:
    metrics = EventMetrics()
    long_ago = time.time() - 3600
    worker = rig.worker(metrics, clock=lambda: long_ago)
    async with running(worker):

        async def cycled() -> bool:
            return worker.last_cycle_at is not None

        await until(cycled, what="a first cycle")
        port = free_port()
        async with (
            serve_metrics(metrics_app(worker, metrics, POLL, rig.health(worker, metrics)), "127.0.0.1", port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
        ):
            stalled = await http.get("/healthz")
    assert (stalled.status_code, stalled.content) == (503, b'{"status":"stalled"}')
