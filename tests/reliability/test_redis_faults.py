"""Redis faults under a running backend, on a redis-server this module starts for itself:
down at start, killed in the middle of a login, hung (SIGSTOP), and back again.

The rule in every case: fail closed. A request that needs Redis answers 503 `store_unavailable`
(never 401 "anonymous", never 500); liveness stays 200 and readiness turns 503; no session cookie
is handed out for a session that was not stored; and once Redis is back the same backend serves
again, with the sessions Redis kept, without being restarted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest

from app.redis_client import RETRIES
from tests.conftest import RunningSandbox
from tests.reliability.conftest import LEFT_CONNECTIONS
from tests.support.backend import backend_settings, running_backend
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.login_attempts import JSON, SESSION_COOKIE, attempt_login
from tests.support.redis_servers import RedisProcess, standalone_redis, wait_until

pytestmark = pytest.mark.filterwarnings(LEFT_CONNECTIONS)

SOCKET_TIMEOUT = 0.3
TIMEOUTS = f"?socket_timeout={SOCKET_TIMEOUT}&socket_connect_timeout={SOCKET_TIMEOUT}&pool_timeout=0.5"
# How long a request may take while Redis hangs: each attempt waits out both timeouts; the rest
# is slack for a loaded test machine. An answer slower than this fails the test (client timeout).
HUNG_BOUND = (RETRIES + 1) * 2 * SOCKET_TIMEOUT + 3.0
RECOVERY_BOUND = 10.0  # readiness results are reused for 2 s


@pytest.fixture(scope="module")
def server() -> Iterator[RedisProcess]:
    """A private Redis with an fsync-always AOF, so a restart brings back what it acknowledged."""
    with standalone_redis(persistent=True) as started:
        yield started


@pytest.fixture
def server_up(server: RedisProcess) -> Iterator[RedisProcess]:
    """The server, running; left running (resumed or restarted) whatever the test did to it."""
    if not server.running:
        server.start()
    yield server
    if server.running:
        server.resume()
    else:
        server.start()


@dataclass(frozen=True)
class Backends:
    """Starts backends (each a new process's worth of app) sharing one key prefix on the server."""

    sandbox: RunningSandbox
    server: RedisProcess
    prefix: str = field(default_factory=lambda: f"faults:{uuid.uuid4().hex}:")

    def __call__(self) -> AbstractContextManager[str]:
        url = self.server.url + TIMEOUTS
        config = self.sandbox.config
        return running_backend(
            backend_settings(self.sandbox.url, config, redis_url=url, key_prefix=self.prefix)
        )


@pytest.fixture
def backends(sandbox: RunningSandbox, server_up: RedisProcess) -> Backends:
    return Backends(sandbox, server_up)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


async def wait_ready(http: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + RECOVERY_BOUND
    while (await http.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, f"not ready again within {RECOVERY_BOUND} s"
        await asyncio.sleep(0.1)


def assert_store_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "store_unavailable"
    assert response.headers["Retry-After"]
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_redis_down_at_start_fails_closed_and_the_backend_recovers_when_it_returns(
    sandbox: RunningSandbox, server_up: RedisProcess, backends: Backends
) -> None:
    user_id = demo_user(sandbox.sandbox.store, "teacher")["id"]
    with backends() as first:
        outcome, token = await attempt_login(first, user_id)
    assert outcome == "ok"
    assert token

    server_up.kill()
    # Another backend comes up while Redis is down (a new pod during an outage).
    with backends() as url:
        async with httpx.AsyncClient(base_url=url, timeout=HUNG_BOUND) as http:
            assert (await http.get("/healthz")).status_code == 200
            readiness = await http.get("/readyz")
            assert readiness.status_code == 503
            assert readiness.json()["error"] == "redis_unavailable"
            # A session that may well exist cannot be checked: 503, never "not logged in".
            assert_store_unavailable(await http.get("/auth/session", headers=bearer(token)))
            assert_store_unavailable(await http.get("/auth/verify", headers=bearer(token)))
            assert_store_unavailable(await http.get("/auth/login", headers=JSON))
            # What needs no Redis still answers: no token, or a forged one, is plainly 401.
            assert (await http.get("/auth/session", headers=JSON)).status_code == 401
            assert (await http.get("/auth/session", headers=bearer("v1.forged.x"))).status_code == 401

            server_up.start()  # the same port and AOF: Redis restarted
            await wait_ready(http)
            # The same backend serves again, and the session made before the outage is valid.
            again = await http.get("/auth/session", headers=bearer(token))
            assert again.status_code == 200, again.text
            assert again.json()["user"]["id"] == user_id
        outcome, _ = await attempt_login(url, user_id)
        assert outcome == "ok"


async def test_redis_killed_mid_login_answers_503_with_no_cookie_and_no_half_session(
    sandbox: RunningSandbox, server_up: RedisProcess, backends: Backends
) -> None:
    store = sandbox.sandbox.store
    user_id, earlier_user = demo_user(store, "student")["id"], demo_user(store, "teacher")["id"]
    prefix = backends.prefix

    def keys(kind: str) -> list[bytes]:
        with server_up.client() as client:
            return sorted(client.scan_iter(match=f"{prefix}{kind}:*"))

    with backends() as url:
        # Someone logged in earlier (which also fills the district's token cache).
        outcome, earlier = await attempt_login(url, earlier_user)
        assert outcome == "ok"
        assert earlier
        sessions_before, indexes_before = keys("s"), keys("u")
        # Clever is slow to send the sections: the login is under way, past the one-time
        # transaction, when Redis dies.
        fault = {
            "path": "/v3.1/users/*/sections",
            "method": "GET",
            "status": None,
            "latency_ms": 1500,
            "count": 1,
        }
        async with httpx.AsyncClient(base_url=sandbox.url) as control:
            (await control.post("/sandbox/faults", json=fault)).raise_for_status()
        async with Browser(url) as browser:
            start = await browser.start_login()
            clever = await browser.sign_in_at_clever(start.location, user_id)
            callback = f"{url}/auth/callback?{urlsplit(clever.location).query}"
            landing = asyncio.create_task(browser.http.get(callback, headers=JSON))

            def transaction_taken() -> bool:
                with server_up.client() as client:
                    return any(client.get(key) == b"I" for key in client.scan_iter(match=f"{prefix}tx:*"))

            await asyncio.to_thread(wait_until, transaction_taken, 5.0, "the callback takes its transaction")
            server_up.kill()
            landed = await landing
            assert_store_unavailable(landed)
            assert SESSION_COOKIE not in browser.http.cookies

        server_up.start()  # AOF: Redis comes back with everything it acknowledged
        assert keys("s") == sessions_before, "a session without its cookie"
        assert keys("u") == indexes_before, "a user index entry without its session"
        async with httpx.AsyncClient(base_url=url) as http:
            await wait_ready(http)
            # The person logged in before the crash still is.
            assert (await http.get("/auth/session", headers=bearer(earlier))).status_code == 200
        outcome, _ = await attempt_login(url, user_id)
        assert outcome == "ok"


async def test_a_hung_redis_answers_503_within_the_timeouts_and_recovers_with_correct_replies(
    sandbox: RunningSandbox, server_up: RedisProcess, backends: Backends
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")["id"]
    student = demo_user(sandbox.sandbox.store, "student")["id"]
    with backends() as url:
        tokens = {}
        for user_id in (teacher, student):
            outcome, token = await attempt_login(url, user_id)
            assert outcome == "ok"
            assert token
            tokens[user_id] = token

        server_up.pause()
        try:
            async with httpx.AsyncClient(base_url=url, timeout=HUNG_BOUND) as http:
                assert (await http.get("/healthz")).status_code == 200
                # Several at once, so that several pooled connections are left waiting on Redis.
                answers = await asyncio.gather(
                    *(http.get(path, headers=bearer(token)) for token in tokens.values()
                      for path in ("/auth/session", "/auth/verify"))
                )  # fmt: skip
                for answer in answers:
                    assert_store_unavailable(answer)
                readiness = await http.get("/readyz")
                assert readiness.status_code == 503
        finally:
            server_up.resume()

        # Redis now answers the commands it was sent while hung; none of those late replies
        # may be taken for the answer to a later command.
        async with httpx.AsyncClient(base_url=url) as http:
            await wait_ready(http)
            for _ in range(3):
                for user_id, token in tokens.items():
                    answer = await http.get("/auth/session", headers=bearer(token))
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["user"]["id"] == user_id


async def test_a_burst_beyond_the_pool_waits_for_a_connection_instead_of_failing(
    sandbox: RunningSandbox, server_up: RedisProcess
) -> None:
    """The pool is bounded and blocking: with one connection, twenty validations at once all
    succeed, one after another, where a non-blocking pool would refuse nineteen."""
    settings = backend_settings(
        sandbox.url,
        sandbox.config,
        redis_url=f"{server_up.url}?max_connections=1&pool_timeout=5",
        key_prefix=f"faults:{uuid.uuid4().hex}:",
    )
    user_id = demo_user(sandbox.sandbox.store, "teacher")["id"]
    with running_backend(settings) as url:
        outcome, token = await attempt_login(url, user_id)
        assert outcome == "ok"
        assert token
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            answers = await asyncio.gather(
                *(http.get("/auth/session", headers=bearer(token)) for _ in range(20))
            )
    assert [answer.status_code for answer in answers] == [200] * 20
