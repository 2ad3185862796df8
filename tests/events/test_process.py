"""`clever-login events` as a process: settings from the environment, /healthz and /metrics,
a roster change applied, logs without personal data, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal

import httpx

from tests.events.conftest import Rig, until
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
    assert "users.updated 1" in output
    for personal in (teacher["id"], "Processed", teacher["name"]["last"]):
        assert personal not in output


def test_bad_settings_are_listed_before_anything_starts() -> None:
    proc = start_cli("events", env=child_environ({"EVENTS_POLL_INTERVAL": "0"}))
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "clever-login events: invalid settings:" in output
    for name in ("CLEVER_CLIENT_ID", "SESSION_SECRET", "REDIS_URL", "EVENTS_POLL_INTERVAL"):
        assert name in output
