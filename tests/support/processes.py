"""Run `python -m app.cli ...` as a child process and wait for it to answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping

import httpx

# Variables `load_settings` reads: dropped from the inherited environment so that the
# machine's own settings never leak into a test.
SETTINGS_NAMES = (
    "CLEVER_CLIENT_ID", "CLEVER_CLIENT_SECRET", "CLEVER_REDIRECT_URI", "CLEVER_OAUTH_URL",
    "CLEVER_API_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "SESSION_SECRET", "SESSION_IDLE_TIMEOUT",
    "SESSION_ABSOLUTE_TIMEOUT", "COOKIE_SECURE", "FRONTEND_URL", "ALLOWED_RETURN_TO", "CORS_ORIGINS",
    "STUDENT_FIELDS", "SERVICE_CLIENTS", "ALLOWED_DISTRICTS", "EVENTS_POLL_INTERVAL", "FORWARDED_ALLOW_IPS",
    "CLEVER_TIMEOUT", "ROSTER_MAX_EVENTS_LAG",
)  # fmt: skip


def child_environ(settings: Mapping[str, str]) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_NAMES}
    return {**env, **settings}


def cli_command(*args: str, open_files: int | None = None) -> list[str]:
    """`python -m app.cli ARGS`; with `open_files`, its soft limit on open files is first lowered
    to that (as on a machine whose default is low), the hard limit left as it is."""
    if open_files is None:
        return [sys.executable, "-m", "app.cli", *args]
    code = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({open_files:d}, "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[1])); "
        "sys.argv[0] = 'clever-login'; runpy.run_module('app.cli', run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", code, *args]


def start_cli(*args: str, env: Mapping[str, str], open_files: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        cli_command(*args, open_files=open_files),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_answers(url: str, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"exited with {proc.returncode} before answering:\n{output}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[str], sig: int, timeout: float) -> tuple[int, str]:
    """Send `sig`, wait up to `timeout`; the exit status and everything the process printed."""
    proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"did not stop within {timeout} s after signal {sig}:\n{output}") from None
    return proc.returncode, output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
