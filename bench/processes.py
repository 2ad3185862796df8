"""The processes a benchmark run starts, each on a free loopback port, pinned to chosen CPUs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXPRESS_DIR = Path(__file__).resolve().parent / "peers" / "express"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_layout() -> tuple[set[int], set[int]]:
    """(the CPUs for the server under test, the CPUs for everything else).

    With two or more CPUs the server gets one to itself and the load generator, Redis and the
    sandbox share the rest; on one CPU everything shares it.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    return {cpus[-1]}, set(cpus[:-1])


def pinned(command: list[str], cpus: Iterable[int] | None) -> list[str]:
    if cpus is None or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", ",".join(str(cpu) for cpu in sorted(cpus)), *command]


class Process:
    """A child process with its CPU time and memory readable from /proc."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        cpus: Iterable[int] | None,
        env: Mapping[str, str] | None = None,
        cwd: Path = ROOT,
        log: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        out = log.open("wb") if log is not None else subprocess.DEVNULL
        self.popen = subprocess.Popen(  # noqa: S603 - our own commands, no shell
            pinned(command, cpus),
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not isinstance(out, int):
            out.close()  # the child holds its own copy

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """utime + stime of the process (taskset execs in place, so the pid is the server's)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(url, timeout=1)
                return
            except httpx.HTTPError:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited while starting{self._tail()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not start within {timeout:g} s{self._tail()}"
                    ) from None
                time.sleep(0.1)

    def _tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        lines = self.log.read_text(errors="replace").splitlines()[-15:]
        return ":\n  " + "\n  ".join(lines)


def python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start_redis(port: int, cpus: set[int], logs: Path) -> Process:
    command = [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]
    process = Process("redis", command, cpus=cpus, log=logs / "redis.log")
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if time.monotonic() > deadline or not process.alive():
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)


PROFILE_DIR = "BENCH_PROFILE_DIR"  # set: `serve` runs under cProfile, its stats written there


def serve_command(port: int, name: str = "serve") -> list[str]:
    """`clever-login serve` on `port`, one worker, as an operator runs it. With BENCH_PROFILE_DIR
    set, under cProfile (the worker serves from this very process), its stats written to
    `<dir>/<name>.prof` when it stops (`python -m pstats` reads them)."""
    args = ("serve", "--port", str(port), "--log-level", "warning")
    folder = os.environ.get(PROFILE_DIR)
    if not folder:
        return python("app.cli", *args)
    Path(folder).mkdir(parents=True, exist_ok=True)
    profile = Path(folder) / f"{name}.prof"
    return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "app.cli", *args]
