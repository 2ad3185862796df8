"""The `clever-login` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import uvicorn

from app.logs import LOG_FORMATS, with_format
from app.logs import configure as configure_logs
from app.serving.server import (
    PortInUseError,
    ServeOptions,
    raise_open_file_limit,
    uvicorn_options,
)
from app.settings import DISTRICT_ID, Settings, SettingsError, load_settings
from app.web.asgi import APP_FACTORY

if TYPE_CHECKING:
    from app.dev.stack import DevStack
    from clever_sandbox.config import SandboxConfig

# The other commands' modules (the sandbox, the dev stack, the events worker) are imported by the
# command that runs them: every serving worker imports this module too (with one worker, `serve`
# serves from this very process), and would otherwise carry them all (about 2 MB of memory). The
# sandbox and the dev stack are development tools that the production image leaves out (see the
# Dockerfile): there, `sandbox` and `dev` say so and exit 2.

SANDBOX_PORT = 8700
# `serve`'s defaults are ServeOptions' own.
SERVE_DEFAULTS = ServeOptions()
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# `clever-login sync`: 0 synced (or asked for), 1 the sync failed (the previous copy stays in
# use), 2 bad usage or settings (a district not in ALLOWED_DISTRICTS too), these two:
SYNC_BUSY = 3  # another process holds the district's events lock; nothing was done
SYNC_NOT_CONNECTED = 4  # Clever lists no token of the app for the district
SYNC_EXIT_CODES = (
    "0 synced (or, with --request, asked for), 1 the sync failed (the previous copy stays in use), "
    f"2 bad usage or settings, {SYNC_BUSY} the events worker holds the district's lock (nothing done), "
    f"{SYNC_NOT_CONNECTED} the district has not connected the app"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clever-login", description="Log in with Clever.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sandbox = commands.add_parser("sandbox", help="run the Clever sandbox (an emulation of Clever)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=SANDBOX_PORT)
    sandbox.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help="a registered redirect URI, repeatable; the first is primary (default: the local backend's "
        "/auth/callback)",
    )
    sandbox.add_argument(
        "--post-logout-redirect-uri",
        action="append",
        dest="post_logout_redirect_uris",
        metavar="URI",
        help="where /oauth/logout may send a browser back to, repeatable (default: only the sandbox's "
        "own pages and the redirect URIs)",
    )
    sandbox.add_argument(
        "--mode",
        action="append",
        dest="modes",
        metavar="FIELD=VALUE",
        help="a strictness mode, repeatable, e.g. pkce=enforced, scopes=read:students,read:sections "
        '(README, "Sandbox modes")',
    )
    sandbox.add_argument(
        "--students", type=_positive_int, default=None, help="demo students to seed (default: the sandbox's)"
    )
    sandbox.add_argument(
        "--seed", type=int, default=None, help="seed of the demo data (default: the sandbox's)"
    )

    serve = commands.add_parser("serve", help="run the login backend (settings from environment variables)")
    serve.add_argument(
        "--host",
        default=SERVE_DEFAULTS.host,
        help=f"address to listen on (default {SERVE_DEFAULTS.host}; 0.0.0.0 in a container)",
    )
    serve.add_argument(
        "--port", type=_port, default=SERVE_DEFAULTS.port, help=f"default {SERVE_DEFAULTS.port}"
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=SERVE_DEFAULTS.workers,
        help=f"worker processes (default {SERVE_DEFAULTS.workers})",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS") or SERVE_DEFAULTS.forwarded_allow_ips,
        metavar="IPS",
        help="comma-separated proxy addresses or networks whose X-Forwarded-* headers are believed "
        f"(default $FORWARDED_ALLOW_IPS, else {SERVE_DEFAULTS.forwarded_allow_ips})",
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=SERVE_DEFAULTS.access_log,
        help="log every request (off by default: request lines carry login codes and client addresses)",
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, default=SERVE_DEFAULTS.log_level)
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="json",
        help="json: one JSON object per line, with the request id (default); text: for a console",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=_positive_int,
        default=SERVE_DEFAULTS.limit_concurrency,
        metavar="N",
        help="answer 503 beyond N requests being served at once; idle and unfinished connections do "
        "not count (default: no limit)",
    )
    for flag, seconds, what in (
        (
            "--timeout-keep-alive",
            SERVE_DEFAULTS.timeout_keep_alive,
            "close connections with no request under way (new ones too) after this long; keep it above "
            "the load balancer's idle timeout",
        ),
        (
            "--timeout-request",
            SERVE_DEFAULTS.timeout_request,
            "close a connection whose request has not arrived whole this long after its first byte",
        ),
        (
            "--timeout-graceful-shutdown",
            SERVE_DEFAULTS.timeout_graceful_shutdown,
            "on SIGTERM, wait this long for open requests",
        ),
    ):
        serve.add_argument(
            flag, type=_positive_int, default=seconds, metavar="SECONDS", help=f"{what} (default {seconds})"
        )

    events = commands.add_parser(
        "events", help="run the Events API worker (settings from environment variables, as for serve)"
    )
    events.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve GET /metrics and GET /healthz on this port (default: none)",
    )
    events.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for --metrics-port (0.0.0.0 in a container)"
    )
    events.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    events.add_argument("--log-format", choices=LOG_FORMATS, default="json")

    sync = commands.add_parser(
        "sync",
        help="sync one district's roster copy now (settings from environment variables, as for serve)",
        description="Run a full sync of the district's roster copy now, under the district's events "
        "lock, and print one line: records per kind, Clever calls, seconds. Exit codes: "
        f"{SYNC_EXIT_CODES}.",
    )
    sync.add_argument(
        "--district", required=True, type=_district_id, metavar="ID", help="the district's Clever id"
    )
    sync.add_argument(
        "--request",
        action="store_true",
        help="only ask the events worker for the sync (it takes it on its next poll of the district)",
    )
    sync.add_argument("--log-level", choices=LOG_LEVELS, default="warning")
    sync.add_argument("--log-format", choices=LOG_FORMATS, default="text")

    dev = commands.add_parser("dev", help="everything for a first look, on this machine")
    dev.add_argument(
        "--frontend-url",
        metavar="URL",
        help="your own frontend (e.g. http://localhost:3000/): logins land there, and its origin may "
        "call the backend and be returned to, as the demo page's still may (default: the demo page)",
    )
    # Defaults None: the dev stack's own (app/dev/stack.py), which this module must not import.
    for app_name in ("backend", "sandbox", "demo"):
        dev.add_argument(
            f"--{app_name}-port", type=_port, default=None, metavar="PORT", help=f"the {app_name}'s port"
        )
    return parser


def serve_options(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        host=args.host,
        port=args.port,
        workers=args.workers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        access_log=args.access_log,
        log_level=args.log_level,
        limit_concurrency=args.limit_concurrency,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_request=args.timeout_request,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
    )


def sandbox_config(args: argparse.Namespace) -> SandboxConfig:
    """The sandbox the options describe; ValueError naming a `--mode` that is not one."""
    from clever_sandbox.config import DEFAULT_REDIRECT_URI, SandboxConfig, with_modes

    defaults = SandboxConfig()
    config = SandboxConfig(
        redirect_uris=tuple(args.redirect_uris or (DEFAULT_REDIRECT_URI,)),
        post_logout_redirect_uris=tuple(args.post_logout_redirect_uris or ()),
        students=defaults.students if args.students is None else args.students,
        seed=defaults.seed if args.seed is None else args.seed,
    )
    return with_modes(config, args.modes or ())


def picker_url(base_url: str, config: SandboxConfig) -> str:
    query = urlencode(
        {"response_type": "code", "client_id": config.client_id, "redirect_uri": config.redirect_uris[0]}
    )
    return f"{base_url}/oauth/authorize?{query}"


def run_sandbox(args: argparse.Namespace) -> int:
    if not _dev_tools_installed():
        return _no_dev_tools("sandbox")
    from clever_sandbox import create_sandbox_app

    try:
        config = sandbox_config(args)
    except ValueError as exc:
        print(f"clever-login sandbox: --mode {exc}", file=sys.stderr)
        return 2
    base_url = f"http://{args.host}:{args.port}"
    print(f"Clever sandbox on {base_url}  (client id {config.client_id})")
    print(f"Pick a demo user: {picker_url(base_url, config)}")
    uvicorn.run(create_sandbox_app(config), host=args.host, port=args.port, log_level="info")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    # Checked here as well as in each worker, so that every problem is reported once, plainly,
    # before uvicorn starts.
    if _settings("serve") is None:
        return 2
    options = serve_options(args)
    raise_open_file_limit()
    previous = signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        run_options = uvicorn_options(options)
        run_options["log_config"] = with_format(run_options["log_config"], args.log_format)
        uvicorn.run(APP_FACTORY, **run_options)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def run_events(args: argparse.Namespace) -> int:
    settings = _settings("events")
    if settings is None:
        return 2
    from app.events.process import run_events as run_events_worker

    configure_logs(args.log_format, args.log_level)
    worker = run_events_worker(settings, metrics_host=args.metrics_host, metrics_port=args.metrics_port)
    try:
        asyncio.run(worker)
    except OSError as exc:
        print(f"clever-login events: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def run_sync(args: argparse.Namespace) -> int:
    settings = _settings("sync")
    if settings is None:
        return 2
    district_id = args.district
    if settings.allowed_districts is not None and district_id not in settings.allowed_districts:
        print(f"clever-login sync: district {district_id} is not in ALLOWED_DISTRICTS", file=sys.stderr)
        return 2
    configure_logs(args.log_format, args.log_level)
    return asyncio.run(_sync(settings, district_id, request_only=args.request))


async def _sync(settings: Settings, district_id: str, *, request_only: bool) -> int:
    from app.clever import CleverError
    from app.core import open_core
    from app.events.ondemand import Busy, summary, sync_now
    from app.redis_client import REDIS_ERRORS
    from app.roster.district_tokens import DistrictNotConnected
    from app.roster.store import DistrictPurged

    failures: tuple[type[Exception], ...] = (CleverError, *REDIS_ERRORS)
    try:
        async with open_core(settings) as core:
            if request_only:
                fresh = await core.roster.request_sync(district_id)
                print(f"district {district_id}: sync {'requested' if fresh else 'already requested'}")
                return 0
            done = await sync_now(
                core, district_id, prefix=settings.redis_key_prefix, student_fields=settings.student_fields
            )
    except DistrictNotConnected:
        print(
            f"clever-login sync: Clever lists no token of this app for district {district_id}",
            file=sys.stderr,
        )
        return SYNC_NOT_CONNECTED
    except DistrictPurged:
        print(
            f"clever-login sync: district {district_id} was purged while it synced, or Redis lost "
            "the sync's first write (a failover); nothing was switched: run it again if the "
            "district is still connected",
            file=sys.stderr,
        )
        return 1
    except failures as exc:
        # The sync wrote nothing readers see: the previous copy stays in use.
        print(
            f"clever-login sync: the sync failed ({type(exc).__name__}); the previous copy stays",
            file=sys.stderr,
        )
        return 1
    if isinstance(done, Busy):
        print(
            f"clever-login sync: another process (the events worker) holds district {district_id}'s "
            "events lock; try again, or use --request to leave the sync to the worker",
            file=sys.stderr,
        )
        return SYNC_BUSY
    print(summary(done))
    return 0


def run_dev(args: argparse.Namespace) -> int:
    if not _dev_tools_installed():
        return _no_dev_tools("dev")
    from app.dev.localredis import RedisUnavailableError, local_redis

    try:
        with local_redis() as redis_url:
            return asyncio.run(_dev(redis_url, args))
    except RedisUnavailableError as exc:
        print(f"clever-login dev: {exc}", file=sys.stderr)
        return 1


async def _dev(redis_url: str, args: argparse.Namespace) -> int:
    from app.dev.stack import DevAddresses, bind_all, build_dev_stack, serve_together

    defaults = DevAddresses()
    addresses = DevAddresses(
        sandbox_port=args.sandbox_port or defaults.sandbox_port,
        backend_port=args.backend_port or defaults.backend_port,
        demo_port=args.demo_port or defaults.demo_port,
    )
    ports = (addresses.sandbox_port, addresses.backend_port, addresses.demo_port)
    if len(set(ports)) < len(ports):
        print("clever-login dev: the sandbox, backend and demo ports must differ", file=sys.stderr)
        return 2
    try:
        stack = build_dev_stack(
            redis_url, environ=os.environ, addresses=addresses, frontend_url=args.frontend_url
        )
    except SettingsError as exc:
        print("clever-login dev: invalid options:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.replace('FRONTEND_URL', '--frontend-url', 1)}", file=sys.stderr)
        return 2
    host = stack.addresses.host
    try:
        sockets = bind_all(host, stack.apps)
    except PortInUseError as exc:
        needs = {app.port: app.name for app in stack.apps}
        taken = [f"port {port} (the {needs[port]})" for port in exc.ports]
        listed = " and ".join(", ".join(taken).rsplit(", ", 1))
        print(
            f"clever-login dev: {listed} on {host} {'is' if len(taken) == 1 else 'are'} already in use. "
            "Stop whatever listens there (perhaps another `clever-login dev`) and try again.",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"clever-login dev: cannot listen on {host}: {exc.strerror}", file=sys.stderr)
        return 1
    _print_dev_banner(stack, redis_url)
    await serve_together(stack.apps, sockets, host, worker=stack.settings)
    return 0


def _print_dev_banner(stack: DevStack, redis_url: str) -> None:
    addresses = stack.addresses
    print("clever-login dev is running. Open the demo partner page:")
    print()
    print(f"    {addresses.demo_url}")
    print()
    print(f"  demo partner page  {addresses.demo_url}  (a partner's frontend, on its own origin)")
    print(f"  login backend      {addresses.backend_url}  (/auth/login, /auth/session, /openapi.json)")
    print(
        f"  Clever sandbox     {addresses.sandbox_url}  "
        f"(the demo district; client id {stack.sandbox.client_id})"
    )
    print(
        f"  Redis              {_without_password(redis_url)}  (keys under {stack.settings.redis_key_prefix})"
    )
    print(
        f"  events worker      copies the districts' rosters, then follows their events every "
        f"{stack.settings.events_poll_interval:g} s (logins read the copy once it is written)"
    )
    print("Stop with Ctrl-C.", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        return run_sandbox(args)
    if args.command == "serve":
        return run_serve(args)
    if args.command == "events":
        return run_events(args)
    if args.command == "sync":
        return run_sync(args)
    return run_dev(args)


def _settings(command: str) -> Settings | None:
    """The settings from the environment, or None after printing every problem with them
    (SettingsError names variables, never their values)."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"clever-login {command}: invalid settings:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _dev_tools_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("clever_sandbox", "app.dev"))


def _no_dev_tools(command: str) -> int:
    print(
        f"clever-login {command}: the Clever sandbox and the dev stack are development tools, not part "
        "of this installation (the production image carries `serve` and `events` only). "
        "Install the package from the repository to use them.",
        file=sys.stderr,
    )
    return 2


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handling: before it starts, or re-raised by it after a
    graceful shutdown. Either way the process is done, and exits 0 rather than dying by signal."""
    raise SystemExit(0)


def _without_password(url: str) -> str:
    """The URL to show: the password and any `*password=` query value (a sentinel's) masked."""
    parts = urlsplit(url)
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:" if parts.username else ":"
        parts = parts._replace(netloc=f"{user}***@{netloc}")
    query = [
        (name, "***" if name.endswith("password") else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _district_id(text: str) -> str:
    if not DISTRICT_ID.match(text):
        raise argparse.ArgumentTypeError("not a district id")
    return text


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return value


if __name__ == "__main__":
    sys.exit(main())
