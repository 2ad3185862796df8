"""The events worker's roster metrics and readiness (app.events.health): per district the copy's
age, records, last sync; /readyz 200 while every district's stream was read to its end within
ROSTER_MAX_EVENTS_LAG."""

from __future__ import annotations

import time

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from app.crypto.keyring import Keyring
from app.events.cursor import Cursors
from app.events.health import RosterHealth
from app.events.metrics import EventMetrics
from app.events.process import metrics_app, serve_metrics
from app.redis_client import close_redis, create_redis
from app.roster.events_cursor import Cursor, dump_cursor
from app.roster.fieldpolicy import parse_student_fields
from app.roster.store import RosterStore
from app.roster.sync import sync_district
from tests.events.conftest import POLL, Rig, running, until
from tests.support.processes import free_port

LAG = 120.0


def _sample(text: str, name: str, **labels: str) -> float | None:
    wanted = "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"
    for line in text.splitlines():
        if line.startswith(name + wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_show_each_copy_and_readyz_says_the_worker_keeps_up(rig: Rig) -> None:
    synced, unsynced = rig.store.district_ids()[:2]
    report = await sync_district(
        rig.clever, rig.tokens(), rig.roster(), synced, student_fields=parse_student_fields(None)
    )
    metrics = EventMetrics()
    worker = rig.worker(metrics)
    health = rig.health(worker, metrics, max_events_lag=LAG)
    assert (await health.refresh()).status == "starting"
    port = free_port()
    async with running(worker):

        async def cycled() -> bool:
            return worker.last_cycle_at is not None

        await until(cycled, what="a first cycle")
        async with (
            serve_metrics(metrics_app(worker, metrics, POLL, health), "127.0.0.1", port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
        ):
            ready = await http.get("/readyz")
            scrape = (await http.get("/metrics")).text
    assert set(worker.districts) >= {synced, unsynced}
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    assert _sample(scrape, "clever_roster_copy_present", district=synced) == 1.0
    assert _sample(scrape, "clever_roster_copy_present", district=unsynced) == 0.0
    for kind, count in report.info.counts.items():
        assert _sample(scrape, "clever_roster_records", district=synced, kind=kind) == count
    assert report.info.counts["users"] > 0
    assert _sample(scrape, "clever_roster_records", district=unsynced, kind="users") is None
    assert _sample(scrape, "clever_roster_last_sync_calls", district=synced) == report.info.calls
    assert _sample(scrape, "clever_roster_last_sync_duration_seconds", district=synced) == report.info.seconds
    age = _sample(scrape, "clever_roster_copy_age_seconds", district=synced)
    assert age is not None
    assert 0 <= age < LAG


async def test_readyz_names_the_districts_whose_stream_was_not_read_to_its_end_in_time(rig: Rig) -> None:
    metrics = EventMetrics()
    worker = rig.worker(metrics)
    async with running(worker):

        async def cycled() -> bool:
            return worker.last_cycle_at is not None

        await until(cycled, what="a first cycle")
    late, gone, *_ = sorted(worker.districts)
    long_ago = Cursor(after=None, seen_until=time.time() - LAG - 60)
    await rig.redis.set(rig.cursors().key(late), dump_cursor(long_ago))
    await rig.redis.delete(rig.cursors().key(gone))
    port = free_port()
    async with (
        serve_metrics(metrics_app(worker, metrics, POLL, rig.health(worker, metrics)), "127.0.0.1", port),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
    ):
        behind = await http.get("/readyz")
        live = await http.get("/healthz")
    assert (behind.status_code, behind.json()) == (503, {"status": "behind", "behind": [late, gone]})
    assert live.status_code == 200  # alive all the same: nothing to restart


async def test_only_listed_districts_with_a_district_id_are_labelled(rig: Rig) -> None:
    first, second = rig.store.district_ids()[:2]
    await sync_district(
        rig.clever, rig.tokens(), rig.roster(), first, student_fields=parse_student_fields(None)
    )
    listed = [first, second, 'not a "district" id']
    registry = CollectorRegistry()
    health = RosterHealth(
        store=rig.roster(),
        cursors=rig.cursors(),
        registry=registry,
        districts=lambda: listed,
        started=lambda: True,
        max_events_lag=LAG,
        refresh_seconds=0.0,
    )
    await health.refresh()
    before = generate_latest(registry).decode()
    listed.remove(first)  # the district disconnected
    await health.refresh()
    after = generate_latest(registry).decode()
    assert _sample(before, "clever_roster_copy_present", district=first) == 1.0
    assert _sample(before, "clever_roster_copy_present", district=second) == 0.0
    assert "not a" not in before
    assert first not in after
    assert _sample(after, "clever_roster_copy_present", district=second) == 0.0


async def test_with_redis_down_readyz_says_so_and_metrics_still_answer(rig: Rig) -> None:
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        metrics = EventMetrics()
        health = RosterHealth(
            store=RosterStore(dead, Keyring.from_secret("a health test secret, long enough to be one")),
            cursors=Cursors(dead),
            registry=metrics.registry,
            districts=lambda: rig.store.district_ids(),
            started=lambda: True,
            max_events_lag=LAG,
            refresh_seconds=0.0,
        )
        port = free_port()
        async with (
            serve_metrics(metrics_app(rig.worker(metrics), metrics, POLL, health), "127.0.0.1", port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            ready = await http.get("/readyz")
            scrape = await http.get("/metrics")
    finally:
        await close_redis(dead)
    assert (ready.status_code, ready.json()) == (503, {"status": "redis_unavailable"})
    assert scrape.status_code == 200
    assert "clever_events_processed" in scrape.text
