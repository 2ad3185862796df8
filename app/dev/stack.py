"""`clever-login dev`: the Clever sandbox, the login backend and the demo partner page, wired to
each other for plain-http use on this machine and served together in one event loop."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from app.clever.http import origin_of
from app.core import open_core
from app.dev.demo import DemoConfig, create_demo_app
from app.events.metrics import EventMetrics
from app.events.process import build_worker
from app.logs import with_console_fields
from app.serving.server import EmbeddedServer, PortInUseError, listening_socket, log_config
from app.settings import Settings, load_settings
from app.web.factory import create_app
from clever_sandbox import create_sandbox_app
from clever_sandbox.config import SandboxConfig

logger = logging.getLogger("app.dev")

DEFAULT_KEY_PREFIX = "dev:"
DEV_POLL_SECONDS = 2


@dataclass(frozen=True, slots=True)
class DevAddresses:
    host: str = "127.0.0.1"
    sandbox_port: int = 8700
    backend_port: int = 8000
    demo_port: int = 5173

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def sandbox_url(self) -> str:
        return self.url(self.sandbox_port)

    @property
    def backend_url(self) -> str:
        return self.url(self.backend_port)

    @property
    def demo_url(self) -> str:
        return self.url(self.demo_port) + "/"


@dataclass(frozen=True, slots=True)
class DevApp:
    name: str
    port: int
    app: ASGIApp


@dataclass(frozen=True, slots=True)
class DevStack:
    addresses: DevAddresses
    sandbox: SandboxConfig
    settings: Settings
    apps: tuple[DevApp, ...]


def dev_environ(
    addresses: DevAddresses, sandbox: SandboxConfig, *, redis_url: str, key_prefix: str
) -> dict[str, str]:
    """The backend's settings for local use: the sandbox as Clever, plain-http cookies, and a
    session secret new at every start (so a restart logs everyone out, as it should here)."""
    return {
        "CLEVER_CLIENT_ID": sandbox.client_id,
        "CLEVER_CLIENT_SECRET": sandbox.client_secret,
        "CLEVER_REDIRECT_URI": sandbox.redirect_uris[0],
        "CLEVER_OAUTH_URL": addresses.sandbox_url,
        "CLEVER_API_URL": addresses.sandbox_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        # Hex, so it can never spell one of the placeholder words the settings refuse.
        "SESSION_SECRET": secrets.token_hex(32),
        "COOKIE_SECURE": "false",
        # New names at every start: plain-http cookies on 127.0.0.1 are shared with every other
        # local app, which must not be able to plant one the backend reads (SECURITY.md).
        "COOKIE_NAME_SUFFIX": secrets.token_hex(8),
        "FRONTEND_URL": addresses.demo_url,
        # The sandbox's picker offers Clever Library teachers and students.
        "LIBRARY_LOGINS": "accept",
        # The events worker runs beside the apps (`serve_together`): a short poll, so that a
        # change made in the sandbox shows at the next refresh, and the first copy is there
        # within seconds of the start.
        "EVENTS_POLL_INTERVAL": str(DEV_POLL_SECONDS),
    }


def build_dev_stack(
    redis_url: str,
    *,
    environ: Mapping[str, str],
    addresses: DevAddresses | None = None,
    frontend_url: str | None = None,
) -> DevStack:
    """The three apps. From `environ` only `REDIS_KEY_PREFIX` and `STUDENT_FIELDS` are taken
    (e.g. `STUDENT_FIELDS='*'` to see every v3.1 student field on the demo page).

    `frontend_url` is one's own frontend (`clever-login dev --frontend-url`): logins land there,
    and its origin may call the backend and be returned to, as the demo page's still may.
    Raises SettingsError when it is not a usable URL."""
    addresses = addresses or DevAddresses()
    sandbox = SandboxConfig(
        redirect_uris=(f"{addresses.backend_url}/auth/callback",),
        issuer=addresses.sandbox_url,
        # The demo page's Log out also signs out of the sandbox, and comes back; one's own
        # frontend may do the same.
        post_logout_redirect_uris=(addresses.demo_url, *((frontend_url,) if frontend_url else ())),
    )
    key_prefix = environ.get("REDIS_KEY_PREFIX") or DEFAULT_KEY_PREFIX
    backend_environ = dev_environ(addresses, sandbox, redis_url=redis_url, key_prefix=key_prefix)
    if student_fields := environ.get("STUDENT_FIELDS"):
        backend_environ["STUDENT_FIELDS"] = student_fields
    if frontend_url is not None:
        backend_environ["FRONTEND_URL"] = frontend_url
        try:
            origins = dict.fromkeys((origin_of(frontend_url), origin_of(addresses.demo_url)))
        except ValueError:
            pass  # not a URL: the settings refuse FRONTEND_URL by name just below
        else:
            backend_environ["CORS_ORIGINS"] = backend_environ["ALLOWED_RETURN_TO"] = ",".join(origins)
    settings = load_settings(backend_environ)
    demo = DemoConfig(
        backend_url=addresses.backend_url, sandbox_url=addresses.sandbox_url, client_id=sandbox.client_id
    )
    apps = (
        DevApp("Clever sandbox", addresses.sandbox_port, create_sandbox_app(sandbox)),
        DevApp("login backend", addresses.backend_port, create_app(settings)),
        DevApp("demo partner page", addresses.demo_port, create_demo_app(demo)),
    )
    return DevStack(addresses=addresses, sandbox=sandbox, settings=settings, apps=apps)


def bind_all(host: str, apps: Sequence[DevApp]) -> list[socket.socket]:
    """A listening socket per app, or PortInUseError naming every port that is taken (all are
    tried, so one message says what to free)."""
    bound: list[socket.socket] = []
    taken: list[int] = []
    try:
        for app in apps:
            try:
                bound.append(listening_socket(host, app.port))
            except PortInUseError:
                taken.append(app.port)
        if taken:
            raise PortInUseError(host, *taken)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


async def serve_together(
    apps: Sequence[DevApp], sockets: Sequence[socket.socket], host: str, *, worker: Settings | None = None
) -> None:
    """Serve every app on its socket until SIGINT or SIGTERM (a second one forces the exit), or
    until one of them stops, which stops the others. With `worker` (the backend's settings), the
    events worker runs beside them, as `clever-login events` would: it copies the demo district's
    roster, so logins read the copy, and keeps it current."""
    servers = [
        EmbeddedServer(
            uvicorn.Config(
                app.app,
                host=host,
                port=app.port,
                lifespan="on",
                log_level="warning",
                # Console lines end in their event and error code (app.logs.ConsoleFormatter).
                log_config=with_console_fields(log_config("warning", app_level="info")),
                access_log=False,
                server_header=False,
            )
        )
        for app in apps
    ]

    def stop() -> None:
        for server in servers:
            server.force_exit = server.should_exit
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock]))
            for server, sock in zip(servers, sockets, strict=True)
        ]
        stopped = asyncio.Event()
        beside = [asyncio.create_task(_run_worker(worker, stopped))] if worker is not None else []
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        stopped.set()
        await asyncio.gather(*tasks, *beside)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run_worker(settings: Settings, stopped: asyncio.Event) -> None:
    """The events worker until `stopped`; should it fail, the apps go on serving (logins then
    read the roster live), and the console says why."""
    try:
        async with open_core(settings) as core:
            worker = build_worker(core, settings, EventMetrics())
            running = asyncio.create_task(worker.run())
            waiting = asyncio.create_task(stopped.wait())
            await asyncio.wait((running, waiting), return_when=asyncio.FIRST_COMPLETED)
            worker.stop()
            waiting.cancel()
            await running
    except Exception as exc:
        logger.error(
            "the events worker stopped; logins read the roster live",
            extra={"event": "events_worker_failed", "error": type(exc).__name__},
        )
