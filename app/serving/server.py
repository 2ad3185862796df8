"""How uvicorn runs our apps: production options for `serve`, logging, listening sockets, and a
server to run inside a process that handles its own signals."""

from __future__ import annotations

import contextlib
import copy
import errno
import resource
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from app.serving.http_protocol import protocol_factory

# Kubernetes waits 30 s (terminationGracePeriodSeconds) before SIGKILL; finish well inside it.
GRACEFUL_SHUTDOWN_SECONDS = 20
DEFAULT_FORWARDED_ALLOW_IPS = "127.0.0.1"
# A request must arrive whole (head and body) within this long of its first byte.
REQUEST_TIMEOUT_SECONDS = 10


class PortInUseError(OSError):
    """Other processes listen on addresses we need: `ports` names every one that is taken
    (`port` is the first)."""

    def __init__(self, host: str, port: int, *more: int) -> None:
        ports = (port, *more)
        taken = " and ".join(", ".join(f"{host}:{p}" for p in ports).rsplit(", ", 1))
        super().__init__(errno.EADDRINUSE, f"{taken} {'is' if len(ports) == 1 else 'are'} already in use")
        self.host = host
        self.port = port
        self.ports = ports


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What `clever-login serve` lets an operator choose."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    forwarded_allow_ips: str = DEFAULT_FORWARDED_ALLOW_IPS
    access_log: bool = False
    log_level: str = "info"
    limit_concurrency: int | None = None
    timeout_keep_alive: int = 5
    timeout_request: int = REQUEST_TIMEOUT_SECONDS
    timeout_graceful_shutdown: int = GRACEFUL_SHUTDOWN_SECONDS


def uvicorn_options(options: ServeOptions) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` with the backend's app factory."""
    return {
        "factory": True,
        "host": options.host,
        "port": options.port,
        "workers": options.workers,
        "lifespan": "on",  # a lifespan that fails to start must stop the server, not be skipped
        # uvicorn's httptools protocol with a head-size cap, a request deadline and an idle
        # timeout for fresh connections (SECURITY.md, "Request limits and slow clients").
        "http": protocol_factory(options.timeout_request),
        # X-Forwarded-For/-Proto are believed only from these addresses (the ingress or proxy).
        "proxy_headers": True,
        "forwarded_allow_ips": options.forwarded_allow_ips,
        "server_header": False,
        "date_header": True,
        "access_log": options.access_log,
        "log_level": options.log_level,
        "log_config": log_config(options.log_level),
        "limit_concurrency": options.limit_concurrency,
        "timeout_keep_alive": options.timeout_keep_alive,
        "timeout_graceful_shutdown": options.timeout_graceful_shutdown,
    }


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the new soft limit.

    Every connection holds a descriptor, idle ones too, until a timeout closes it; at the usual
    soft limit of 1,024 a thousand idle sockets would leave none for the next real request (nor
    for Redis and Clever). Worker processes inherit the raised limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            return soft  # e.g. an unlimited hard limit the kernel will not grant as a soft one
        return hard
    return soft


def log_config(level: str, app_level: str | None = None) -> dict[str, Any]:
    """uvicorn's logging set-up, plus our `app` loggers on the same handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["app"] = {
        "handlers": ["default"],
        "level": (app_level or level).upper(),
        "propagate": False,
    }
    return config


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn to serve on; PortInUseError when the port is taken.

    Bound here rather than by uvicorn so that a taken port is reported in a sentence, before
    anything starts, instead of as a log line and an exit from deep inside the server.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise
    return sock


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process running it; stop it with
    `should_exit = True`.

    A `uvicorn.Server` otherwise installs its own handlers and re-raises the signal when it
    stops, so several in one process (or one beside a worker) would take turns to stop and end
    in a KeyboardInterrupt.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
