"""`clever-login serve` and `clever-login dev`, in this process where that is enough and as real
child processes where signals and exit statuses are the point."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis

from app import cli
from app.events.cursor import Cursors
from app.serving.server import GRACEFUL_SHUTDOWN_SECONDS, uvicorn_options
from app.web.asgi import APP_FACTORY
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig
from tests.clever.sandbox_control import add_fault
from tests.conftest import RunningSandbox
from tests.support.backend import SESSION_SECRET, backend_environ
from tests.support.partner import come_in_from_the_portal, log_in_through_the_demo_page
from tests.support.processes import (
    SETTINGS_NAMES,
    child_environ,
    cli_command,
    free_port,
    port_taken,
    start_cli,
    stop,
    wait_until_answers,
)

CLIENT_SECRET = "do-not-print-this-client-secret"
WEAK_SESSION_SECRET = "changeme-changeme-changeme-changeme"
REDIS_PASSWORD = "do-not-print-this-redis-password"
DEV_PORTS = (8700, 8000, 5173)


@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTINGS_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    return calls


def test_the_sandbox_commands_options_make_its_config() -> None:
    parser = cli.build_parser()
    logout = [
        "--post-logout-redirect-uri",
        "http://localhost:3000/",
        "--post-logout-redirect-uri",
        "http://x/",
    ]
    modes = ["--mode", "pkce=enforced", "--mode", "sparse_students=true", "--mode", "scopes=read:students"]
    config = cli.sandbox_config(parser.parse_args(["sandbox", *logout, *modes]))
    assert config.post_logout_redirect_uris == ("http://localhost:3000/", "http://x/")
    assert (config.pkce, config.sparse_students, config.scopes) == (
        "enforced",
        True,
        frozenset({"read:students"}),
    )
    assert config.previous_attributes == SandboxConfig().previous_attributes  # the rest as by default
    assert cli.sandbox_config(parser.parse_args(["sandbox"])).post_logout_redirect_uris == ()


@pytest.mark.parametrize("mode", ["pkce=sometimes", "sparse_students=yes", "students=3", "pkce"])
def test_a_sandbox_mode_that_is_not_one_is_refused_by_name(
    mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sandbox", "--mode", mode]) == 2
    said = capsys.readouterr().err
    assert said.startswith("clever-login sandbox: --mode ")
    assert mode.partition("=")[0] in said


def good_settings(sandbox_url: str, config: SandboxConfig, redis_url: str, key_prefix: str) -> dict[str, str]:
    return backend_environ(sandbox_url, config, redis_url=redis_url, key_prefix=key_prefix)


# --- serve -----------------------------------------------------------------------------------


def test_serve_reports_every_settings_problem_without_secrets_and_does_not_start(
    clean_environ: pytest.MonkeyPatch,
    uvicorn_calls: list[tuple[str, dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_environ.setenv("CLEVER_CLIENT_SECRET", CLIENT_SECRET)
    clean_environ.setenv("SESSION_SECRET", WEAK_SESSION_SECRET)
    clean_environ.setenv("REDIS_URL", f"memcached://:{REDIS_PASSWORD}@cache:11211")
    clean_environ.setenv("SESSION_IDLE_TIMEOUT", "soon")
    clean_environ.setenv("COOKIE_SECURE", "maybe")

    assert cli.main(["serve"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    for name in (
        "CLEVER_CLIENT_ID",
        "CLEVER_REDIRECT_URI",
        "FRONTEND_URL",
        "SESSION_SECRET",
        "REDIS_URL",
        "SESSION_IDLE_TIMEOUT",
        "COOKIE_SECURE",
    ):
        assert f"  {name}: " in err
    for secret in (CLIENT_SECRET, WEAK_SESSION_SECRET, REDIS_PASSWORD):
        assert secret not in err
    assert "Traceback" not in err
    assert uvicorn_calls == []


def test_serve_runs_the_factory_with_the_chosen_options(
    clean_environ: pytest.MonkeyPatch,
    uvicorn_calls: list[tuple[str, dict[str, Any]]],
) -> None:
    settings = good_settings("http://127.0.0.1:8700", SandboxConfig(), "redis://127.0.0.1:6379", "x:")
    for name, value in settings.items():
        clean_environ.setenv(name, value)
    clean_environ.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")

    argv = ["serve", "--host", "::1", "--port", "9001", "--workers", "3", "--limit-concurrency", "500"]
    assert cli.main(argv) == 0

    [(app, options)] = uvicorn_calls
    assert app == APP_FACTORY
    assert options["factory"] is True
    assert (options["host"], options["port"], options["workers"]) == ("::1", 9001, 3)
    assert options["forwarded_allow_ips"] == "10.0.0.0/8"
    assert options["limit_concurrency"] == 500
    assert options["server_header"] is False
    assert options["access_log"] is False
    assert options["timeout_graceful_shutdown"] == GRACEFUL_SHUTDOWN_SECONDS


def test_the_command_line_beats_the_environment_for_trusted_proxies(
    clean_environ: pytest.MonkeyPatch,
) -> None:
    clean_environ.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    args = cli.build_parser().parse_args(["serve", "--forwarded-allow-ips", "192.168.0.1", "--access-log"])
    options = cli.serve_options(args)
    assert options.forwarded_allow_ips == "192.168.0.1"
    assert options.access_log is True


def test_the_request_timeout_is_an_option() -> None:
    assert cli.serve_options(cli.build_parser().parse_args(["serve"])).timeout_request == 10
    args = cli.build_parser().parse_args(["serve", "--timeout-request", "3"])
    assert cli.serve_options(args).timeout_request == 3
    assert uvicorn_options(cli.serve_options(args))["http"].keywords == {"timeout_request": 3}


def test_serving_loads_none_of_the_other_commands_modules() -> None:
    # Every serving worker imports `app.cli` (with one worker, `serve` serves from its own process),
    # so what it imports, every worker carries. A fresh interpreter: this one has imported it all.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, app.web.asgi, app.cli; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "app.cli" in loaded
    # The development tools are not even in the production image (see .dockerignore).
    assert not [
        name for name in loaded if name.split(".")[0] == "clever_sandbox" or name.startswith("app.dev")
    ]
    assert "app.events.process" not in loaded


@pytest.mark.parametrize("argv", [["serve", "--workers", "0"], ["serve", "--port", "70000"]])
def test_bad_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_serve_serves_and_stops_cleanly_on_sigterm(
    sandbox: RunningSandbox, redis_url: str, key_prefix: str
) -> None:
    port = free_port()
    env = child_environ(good_settings(sandbox.url, sandbox.config, redis_url, key_prefix))
    proc = start_cli("serve", "--port", str(port), env=env)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", proc)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200
        assert "server" not in ready.headers
        login = httpx.get(f"http://127.0.0.1:{port}/auth/login", timeout=5)
        assert login.status_code == 302
        assert login.headers["location"].startswith(f"{sandbox.url}/oauth/authorize?")
    finally:
        status, output = stop(proc, signal.SIGTERM, timeout=GRACEFUL_SHUTDOWN_SECONDS + 5)
    assert status == 0, output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    assert SESSION_SECRET not in output


# --- sync ------------------------------------------------------------------------------------


def _run_sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        cli_command("sync", *args), env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_sync_syncs_the_district_now_and_prints_one_line(
    sandbox: RunningSandbox, redis_url: str, redis: Redis, key_prefix: str
) -> None:
    district = sandbox.sandbox.store.district_ids()[0]
    env = child_environ(good_settings(sandbox.url, sandbox.config, redis_url, key_prefix))
    done = _run_sync(env, "--district", district)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(rf"district {district} synced: (\d+ \w+, )+\d+ users; \d+ calls, \d+\.\d s", lines[0])
    users = sum(1 for user in sandbox.sandbox.store.all("users") if user["district"] == district)
    assert f" {users} users;" in lines[0]
    assert await redis.exists(f"{key_prefix}ro:{{{district}}}")  # the copy's pointer
    assert not await redis.exists(f"{key_prefix}ev:{{{district}}}:lock")  # released
    for login in sandbox.sandbox.store.demo_logins():
        assert login.user_id not in done.stdout + done.stderr
    assert SESSION_SECRET not in done.stdout + done.stderr


async def test_sync_refuses_while_the_worker_holds_the_district_and_can_ask_it_instead(
    sandbox: RunningSandbox, redis_url: str, redis: Redis, key_prefix: str
) -> None:
    district = sandbox.sandbox.store.district_ids()[0]
    env = child_environ(good_settings(sandbox.url, sandbox.config, redis_url, key_prefix))
    worker_lock = Cursors(redis, prefix=key_prefix).lock(district, ttl=60)
    assert await worker_lock.acquire()
    try:
        busy = _run_sync(env, "--district", district)
        asked = _run_sync(env, "--district", district, "--request")
        again = _run_sync(env, "--district", district, "--request")
    finally:
        await worker_lock.release()
    assert busy.returncode == cli.SYNC_BUSY
    assert "holds district" in busy.stderr
    assert "--request" in busy.stderr
    assert not await redis.exists(f"{key_prefix}ro:{{{district}}}")  # nothing synced
    assert (asked.returncode, asked.stdout) == (0, f"district {district}: sync requested\n")
    assert (again.returncode, again.stdout) == (0, f"district {district}: sync already requested\n")
    assert await redis.exists(f"{key_prefix}ro:{{{district}}}:sync")


async def test_a_failed_sync_exits_1_and_leaves_the_previous_copy_in_use(
    sandbox: RunningSandbox, redis_url: str, redis: Redis, key_prefix: str
) -> None:
    district = sandbox.sandbox.store.district_ids()[0]
    env = child_environ(good_settings(sandbox.url, sandbox.config, redis_url, key_prefix))
    assert _run_sync(env, "--district", district).returncode == 0
    pointer = f"{key_prefix}ro:{{{district}}}"
    before = await redis.get(pointer)
    await add_fault(sandbox.url, "/v3.1/users", status=500, count=None)
    failed = _run_sync(env, "--district", district)
    assert failed.returncode == 1
    assert "the previous copy stays" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert await redis.get(pointer) == before


async def test_sync_refuses_a_bad_a_not_allowed_and_an_unconnected_district(
    sandbox: RunningSandbox, redis_url: str, redis: Redis, key_prefix: str
) -> None:
    first, second = sandbox.sandbox.store.district_ids()[:2]
    settings = good_settings(sandbox.url, sandbox.config, redis_url, key_prefix)
    bad = _run_sync(child_environ(settings), "--district", "not an id")
    not_allowed = _run_sync(child_environ({**settings, "ALLOWED_DISTRICTS": first}), "--district", second)
    unknown = _run_sync(child_environ(settings), "--district", "0" * 24)
    assert (bad.returncode, "not a district id" in bad.stderr) == (2, True)
    assert (not_allowed.returncode, "ALLOWED_DISTRICTS" in not_allowed.stderr) == (2, True)
    assert (unknown.returncode, "no token" in unknown.stderr) == (cli.SYNC_NOT_CONNECTED, True)
    for refused in (bad, not_allowed, unknown):
        assert "Traceback" not in refused.stderr
    assert [key async for key in redis.scan_iter(match=f"{key_prefix}ro:*")] == []


# --- dev -------------------------------------------------------------------------------------


@pytest.fixture
def dev_ports_free() -> None:
    taken = [port for port in DEV_PORTS if port_taken(port)]
    if taken:
        pytest.skip(f"`clever-login dev` needs 127.0.0.1 ports {DEV_PORTS}; taken here: {taken}")


@pytest.fixture
def blocked_sandbox_port() -> Iterator[None]:
    """Something listening on the sandbox's port (8700), unless something already does."""
    sock = socket.socket()
    # SO_REUSEADDR as the dev command's own sockets: only a listener, not a connection left in
    # TIME_WAIT by an earlier test, may count as "in use".
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", DEV_PORTS[0]))
        sock.listen()
    except OSError:
        pass  # something listens there already: just as good
    try:
        yield
    finally:
        sock.close()


def test_dev_names_a_port_in_use_instead_of_a_traceback(
    blocked_sandbox_port: None,
    redis_url: str,
    clean_environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_environ.setenv("REDIS_URL", redis_url)
    assert cli.main(["dev"]) == 1
    err = capsys.readouterr().err
    assert "port 8700 (the Clever sandbox)" in err
    assert "on 127.0.0.1" in err
    assert "already in use" in err
    assert "Traceback" not in err


async def test_dev_runs_everything_for_a_first_look(
    dev_ports_free: None, redis_url: str, key_prefix: str
) -> None:
    env = child_environ({"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix})
    proc = start_cli("dev", env=env)
    try:
        wait_until_answers("http://127.0.0.1:5173/config.json", proc)
        wait_until_answers("http://127.0.0.1:8000/healthz", proc)
        # The same seed as the child's sandbox, so the same demo people.
        logins = create_sandbox_app(SandboxConfig()).state.sandbox.store.demo_logins()
        teacher = next(login for login in logins if login.user_type == "teacher")
        principal = await log_in_through_the_demo_page("http://127.0.0.1:5173/", teacher.user_id)
        assert principal["user"]["id"] == teacher.user_id
        contact = next(login for login in logins if login.user_type == "contact")
        principal = await come_in_from_the_portal("http://127.0.0.1:5173/", contact.user_id)
        assert principal["user"]["id"] == contact.user_id
        assert principal["roles"]["contact"]["student_relationships"]
    finally:
        status, output = stop(proc, signal.SIGINT, timeout=GRACEFUL_SHUTDOWN_SECONDS + 5)
    assert status == 0, output
    assert "http://127.0.0.1:5173/" in output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2-pw@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://app:hunter2-pw@redis:6380/1", "rediss://app:***@redis:6380/1"),
        (
            "redis+sentinel://:hunter2-pw@s1:26379,s2:26379/main?sentinel_password=s3cret-pw&socket_timeout=1",
            "redis+sentinel://:***@s1:26379,s2:26379/main?sentinel_password=***&socket_timeout=1",
        ),
    ],
)
def test_the_dev_banner_never_shows_a_redis_password(url: str, shown: str) -> None:
    assert cli._without_password(url) == shown


def test_dev_refuses_a_frontend_url_that_is_not_one(
    redis_url: str, clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environ.setenv("REDIS_URL", redis_url)
    assert cli.main(["dev", "--frontend-url", "javascript:alert(1)"]) == 2
    err = capsys.readouterr().err
    assert "--frontend-url" in err
    assert "Traceback" not in err


def test_dev_refuses_one_port_for_two_apps(
    redis_url: str, clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environ.setenv("REDIS_URL", redis_url)
    port = str(free_port())
    assert cli.main(["dev", "--backend-port", port, "--demo-port", port]) == 2
    assert "ports must differ" in capsys.readouterr().err


def test_dev_listens_on_the_ports_asked_for(
    redis_url: str, clean_environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_environ.setenv("REDIS_URL", redis_url)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    taken = sock.getsockname()[1]
    try:
        assert cli.main(["dev", "--sandbox-port", str(free_port()), "--backend-port", str(taken)]) == 1
    finally:
        sock.close()
    err = capsys.readouterr().err
    assert f"port {taken} (the login backend) on 127.0.0.1 is already in use" in err


async def test_dev_serves_ones_own_frontend_on_the_ports_asked_for(redis_url: str, key_prefix: str) -> None:
    backend, sandbox, demo = free_port(), free_port(), free_port()
    frontend = "http://localhost:3000/app/"
    env = child_environ({"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": key_prefix})
    ports = ("--backend-port", str(backend), "--sandbox-port", str(sandbox), "--demo-port", str(demo))
    proc = start_cli("dev", "--frontend-url", frontend, *ports, env=env)
    try:
        wait_until_answers(f"http://127.0.0.1:{backend}/healthz", proc)
        wait_until_answers(f"http://127.0.0.1:{demo}/config.json", proc)
        async with httpx.AsyncClient() as client:
            # A login started without return_to lands on one's own frontend, through the sandbox
            # on its port.
            login = await client.get(f"http://127.0.0.1:{backend}/auth/login")
            assert login.headers["location"].startswith(f"http://127.0.0.1:{sandbox}/oauth/authorize?")
            for origin in ("http://localhost:3000", f"http://127.0.0.1:{demo}"):
                preflight = await client.options(
                    f"http://127.0.0.1:{backend}/auth/session",
                    headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
                )
                assert preflight.headers.get("access-control-allow-origin") == origin
            back = await client.get(
                f"http://127.0.0.1:{backend}/auth/login", params={"return_to": "http://localhost:3000/x"}
            )
            assert back.status_code == 302
    finally:
        status, output = stop(proc, signal.SIGINT, timeout=GRACEFUL_SHUTDOWN_SECONDS + 5)
    assert status == 0, output
    assert "Traceback" not in output
