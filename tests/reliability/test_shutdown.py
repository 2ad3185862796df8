"""Graceful shutdown of real `clever-login serve` processes: on SIGTERM readiness fails at once,
logins in flight finish, the pools close, and a worker restarted under load fails no request."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from app.serving.server import GRACEFUL_SHUTDOWN_SECONDS
from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.support.backend import backend_environ
from tests.support.balancer import RoundRobin, backend_processes, launch, stop_process
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.login_attempts import JSON, SESSION_COOKIE, attempt_login
from tests.support.processes import wait_until_answers
from tests.support.redis_servers import RedisProcess, standalone_redis, wait_until

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)

log = logging.getLogger(__name__)

STOP_BOUND = GRACEFUL_SHUTDOWN_SECONDS + 5


@pytest.fixture(scope="module")
def server() -> Iterator[RedisProcess]:
    with standalone_redis() as started:
        yield started


@pytest.fixture
def environ(sandbox: RunningSandbox, server: RedisProcess) -> dict[str, str]:
    return backend_environ(
        sandbox.url, sandbox.config, redis_url=server.url, key_prefix=f"stop:{uuid.uuid4().hex}:"
    )


async def slow_sections(sandbox: RunningSandbox, latency_ms: int) -> None:
    """Every login now waits `latency_ms` on Clever: it is in flight for that long."""
    fault = {"path": "/v3.1/users/*/sections", "method": "GET", "status": None, "latency_ms": latency_ms}
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        (await control.post("/sandbox/faults", json=fault)).raise_for_status()


async def test_on_sigterm_readiness_fails_at_once_and_logins_in_flight_finish(
    sandbox: RunningSandbox, server: RedisProcess, environ: dict[str, str]
) -> None:
    users = [demo_user(sandbox.sandbox.store, kind)["id"] for kind in ("teacher", "student", "contact")]
    prefix = environ["REDIS_KEY_PREFIX"]
    with backend_processes(environ, 1) as (backend,):
        await slow_sections(sandbox, 1500)
        browsers = [Browser(backend.url) for _ in users]
        stopping: asyncio.Task[tuple[int, str]] | None = None
        try:
            callbacks = []
            for browser, user_id in zip(browsers, users, strict=True):
                start = await browser.start_login()
                clever = await browser.sign_in_at_clever(start.location, user_id)
                url = f"{backend.url}/auth/callback?{urlsplit(clever.location).query}"
                callbacks.append(asyncio.create_task(browser.http.get(url, headers=JSON)))

            def all_taken() -> bool:
                with server.client() as client:
                    values = [client.get(key) for key in client.scan_iter(match=f"{prefix}tx:*")]
                return values.count(b"I") == len(users)

            await asyncio.to_thread(wait_until, all_taken, 5.0, "every callback is in flight")
            signalled = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(backend.terminate, STOP_BOUND))

            # New connections are refused at once: the instance is out of rotation.
            async def refused() -> bool:
                try:
                    async with httpx.AsyncClient(timeout=2) as http:
                        await http.get(f"{backend.url}/readyz")
                except httpx.ConnectError:
                    return True
                return False

            while not await refused():
                assert time.monotonic() - signalled < 5, "still accepting connections after SIGTERM"
                await asyncio.sleep(0.05)

            # The logins that were in flight complete, with their sessions.
            landed = await asyncio.gather(*callbacks)
            for answer, browser in zip(landed, browsers, strict=True):
                assert answer.status_code == 302, answer.text
                assert browser.http.cookies.get(SESSION_COOKIE)
            status, output = await stopping
        finally:
            for browser in browsers:
                await browser.http.aclose()
            if stopping is not None and not stopping.done():
                await asyncio.wait([stopping])  # it reaps the process, or kills it after STOP_BOUND

    assert status == 0, output
    assert "Traceback" not in output
    # Readiness turned at the signal, before the server began its own shutdown; the pools were
    # closed by the lifespan, whose end is the last thing the server reports.
    assert output.index("readiness now answers 503") < output.index("Shutting down")
    assert output.index("Waiting for connections to close") < output.index("Application shutdown complete")
    assert "Unclosed" not in output

    # The sessions the stopping process made are real: another process serves them.
    with backend_processes(environ, 1) as (successor,):
        for browser, user_id in zip(browsers, users, strict=True):
            token = browser.http.cookies[SESSION_COOKIE]
            async with httpx.AsyncClient() as http:
                answer = await http.get(
                    f"{successor.url}/auth/session", headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 200
                assert answer.json()["user"]["id"] == user_id


async def test_a_worker_restarted_under_load_fails_no_request(
    sandbox: RunningSandbox, environ: dict[str, str]
) -> None:
    store = sandbox.sandbox.store
    users = [demo_user(store, kind)["id"] for kind in ("teacher", "student", "contact", "staff")]
    with backend_processes(environ, 2) as (first, second):
        await slow_sections(sandbox, 600)  # logins stay in flight long enough to meet the SIGTERM
        tokens = []
        for user_id in users:
            outcome, token = await attempt_login(first.url, user_id)
            assert outcome == "ok"
            assert token
            tokens.append((user_id, token))

        async with RoundRobin([first.port, second.port]) as balancer:
            failures: list[str] = []
            done = {"logins": 0, "validations": 0}
            stop = asyncio.Event()

            async def log_in_repeatedly(user_id: str) -> None:
                while not stop.is_set():
                    outcome, _ = await attempt_login(balancer.url, user_id)
                    if outcome != "ok":
                        failures.append(f"login: {outcome}")
                    done["logins"] += 1

            async def validate_repeatedly() -> None:
                # A new connection per request, so that each one is balanced afresh.
                limits = httpx.Limits(max_keepalive_connections=0)
                async with httpx.AsyncClient(base_url=balancer.url, limits=limits) as http:
                    while not stop.is_set():
                        for user_id, token in tokens:
                            try:
                                answer = await http.get(
                                    "/auth/session", headers={"Authorization": f"Bearer {token}"}
                                )
                            except httpx.TransportError as exc:
                                failures.append(f"validation: {type(exc).__name__}")
                                continue
                            if answer.status_code != 200 or answer.json()["user"]["id"] != user_id:
                                failures.append(f"validation: {answer.status_code}")
                            done["validations"] += 1
                        await asyncio.sleep(0.01)

            load = [asyncio.create_task(log_in_repeatedly(u)) for u, _ in tokens[:2]]
            load += [asyncio.create_task(validate_repeatedly()) for _ in range(2)]
            try:
                await asyncio.to_thread(
                    wait_until,
                    lambda: balancer.active[first.port] > 0,
                    10.0,
                    "requests in flight on the first",
                )
                # Kubernetes: the endpoint is removed, preStop waits, then SIGTERM; open requests finish.
                balancer.remove(first.port)
                await asyncio.sleep(0.2)
                in_flight = balancer.active[first.port]
                status, output = await asyncio.to_thread(first.terminate, STOP_BOUND)
                # Its replacement starts, and joins the rotation once ready.
                replacement = launch(environ)
                try:
                    await asyncio.to_thread(wait_until_answers, f"{replacement.url}/readyz", replacement.proc)
                    balancer.add(replacement.port)
                    await asyncio.to_thread(
                        wait_until, lambda: balancer.served[replacement.port] > 5, 10.0, "the new one serves"
                    )
                    stop.set()
                    await asyncio.gather(*load)
                finally:
                    stop_process(replacement)
            finally:
                stop.set()
                await asyncio.gather(*load, return_exceptions=True)

    log.info("restart under load: %s, %d in flight at SIGTERM, %d failed", done, in_flight, len(failures))
    assert in_flight > 0, "the test restarted an idle worker"
    assert status == 0, output
    assert "Traceback" not in output
    assert done["logins"] > 0
    assert done["validations"] > 0
    assert failures == []
