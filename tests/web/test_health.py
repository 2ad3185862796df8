from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from types import FrameType

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from app.web.health import Readiness, health_routes
from app.web.metrics import Metrics
from tests.support.clock import Clock
from tests.support.redis import RecordingRedis

UNREACHABLE = "redis://127.0.0.1:1"


@pytest.fixture
async def recording(redis_url: str) -> AsyncIterator[RecordingRedis]:
    client = recording_client(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def unreachable() -> AsyncIterator[Redis]:
    client = Redis.from_url(UNREACHABLE, socket_connect_timeout=0.2, socket_timeout=0.2)
    try:
        yield client
    finally:
        await client.aclose()


def recording_client(redis_url: str) -> RecordingRedis:
    client = RecordingRedis.from_url(redis_url)
    assert isinstance(client, RecordingRedis)
    return client


def client(readiness: Readiness) -> httpx.AsyncClient:
    app = Starlette(routes=health_routes(readiness, Metrics()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://backend")


async def test_liveness_answers_while_redis_is_down(unreachable: Redis) -> None:
    async with client(Readiness(unreachable)) as http:
        live = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 503


async def test_ready_when_redis_answers(recording: RecordingRedis) -> None:
    async with client(Readiness(recording)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert recording.commands == ["PING"]


async def test_not_ready_when_redis_is_unreachable(unreachable: Redis) -> None:
    async with client(Readiness(unreachable)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "redis_unavailable"
    assert response.json()["message"]
    assert int(response.headers["retry-after"]) > 0
    assert UNREACHABLE not in response.text


async def test_a_redis_that_never_answers_is_given_up_on_after_the_timeout() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # read whatever comes, answer nothing, until the client hangs up
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = Redis(host="127.0.0.1", port=port)
    try:
        readiness = Readiness(silent, timeout=0.2)
        started = time.monotonic()
        assert await readiness.check() == "redis_unavailable"
        assert time.monotonic() - started < 1.5
    finally:
        await silent.aclose()
        server.close()
        await server.wait_closed()


async def test_not_ready_before_the_lifespan_made_the_client() -> None:
    services: dict[str, Redis] = {}
    readiness = Readiness(lambda: services["redis"], cache_seconds=0)
    async with client(readiness) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "redis_unavailable"


async def test_the_result_is_reused_for_a_couple_of_seconds(recording: RecordingRedis) -> None:
    clock = Clock()
    readiness = Readiness(recording, cache_seconds=2.0, clock=clock)
    async with client(readiness) as http:
        for _ in range(5):
            assert (await http.get("/readyz")).status_code == 200
        assert recording.commands == ["PING"]
        clock.now += 1.9
        assert (await http.get("/readyz")).status_code == 200
        assert recording.commands == ["PING"]
        clock.now += 0.2
        assert (await http.get("/readyz")).status_code == 200
    assert recording.commands == ["PING", "PING"]


async def test_concurrent_probes_share_one_ping(recording: RecordingRedis) -> None:
    readiness = Readiness(recording)
    results = await asyncio.gather(*(readiness.check() for _ in range(20)))
    assert set(results) == {"ready"}
    assert recording.commands == ["PING"]


async def test_a_failure_is_cached_too_and_recovery_is_seen_after_it(redis_url: str) -> None:
    clock = Clock()
    down = Redis.from_url(UNREACHABLE, socket_connect_timeout=0.2, socket_timeout=0.2)
    up = recording_client(redis_url)
    current: list[Redis] = [down]
    try:
        readiness = Readiness(lambda: current[0], clock=clock)
        assert await readiness.check() == "redis_unavailable"
        current[0] = up
        assert await readiness.check() == "redis_unavailable"
        assert up.commands == []
        clock.now += 2.0
        assert await readiness.check() == "ready"
        assert up.commands == ["PING"]
    finally:
        await down.aclose()
        await up.aclose()


async def test_draining_takes_the_instance_out_without_asking_redis(recording: RecordingRedis) -> None:
    readiness = Readiness(recording, cache_seconds=0)
    async with client(readiness) as http:
        assert (await http.get("/readyz")).status_code == 200
        readiness.mark_draining()
        assert readiness.draining
        response = await http.get("/readyz")
        live = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"] == "shutting_down"
    assert response.json()["message"]
    assert recording.commands == ["PING"]
    assert live.status_code == 200


async def test_a_signal_first_takes_the_instance_out_then_reaches_the_server(
    recording: RecordingRedis,
) -> None:
    seen: list[tuple[int, bool]] = []
    readiness = Readiness(recording, cache_seconds=0)

    def server_handler(signum: int, frame: FrameType | None) -> None:
        seen.append((signum, readiness.draining))  # the server's own shutdown starts here

    previous = signal.signal(signal.SIGUSR1, server_handler)
    try:
        restore = readiness.drain_on_signals((signal.SIGUSR1,))
        signal.raise_signal(signal.SIGUSR1)
        assert seen == [(signal.SIGUSR1, True)]
        assert await readiness.check() == "shutting_down"
        assert recording.commands == []
        restore()
        assert signal.getsignal(signal.SIGUSR1) is server_handler
    finally:
        signal.signal(signal.SIGUSR1, previous)


async def test_metrics_are_served_as_prometheus_text(recording: RecordingRedis) -> None:
    metrics = Metrics()
    metrics.login("success")
    app = Starlette(routes=health_routes(Readiness(recording), metrics))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://backend") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 'logins_total{method="unknown",outcome="success"} 1.0' in response.text
    assert recording.commands == []


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_only_answer_get(path: str, recording: RecordingRedis) -> None:
    async with client(Readiness(recording)) as http:
        response = await http.post(path)
    assert response.status_code == 405
