"""The `clever-login` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from urllib.parse import urlencode

import uvicorn

from app.localredis import RedisUnavailableError, local_redis
from app.sandbox import create_sandbox_app
from app.sandbox.config import DEFAULT_REDIRECT_URI, SandboxConfig

SANDBOX_PORT = 8700


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
        help=f"a registered redirect URI, repeatable; the first is primary (default {DEFAULT_REDIRECT_URI})",
    )
    sandbox.add_argument("--students", type=_positive_int, default=SandboxConfig().students)
    sandbox.add_argument("--seed", type=int, default=SandboxConfig().seed)

    commands.add_parser("dev", help="everything for a first look, on this machine")
    return parser


def sandbox_config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        redirect_uris=tuple(args.redirect_uris or (DEFAULT_REDIRECT_URI,)),
        students=args.students,
        seed=args.seed,
    )


def picker_url(base_url: str, config: SandboxConfig) -> str:
    query = urlencode(
        {"response_type": "code", "client_id": config.client_id, "redirect_uri": config.redirect_uris[0]}
    )
    return f"{base_url}/oauth/authorize?{query}"


def run_sandbox(args: argparse.Namespace) -> int:
    config = sandbox_config(args)
    base_url = f"http://{args.host}:{args.port}"
    print(f"Clever sandbox on {base_url}  (client id {config.client_id})")
    print(f"Pick a demo user: {picker_url(base_url, config)}")
    uvicorn.run(create_sandbox_app(config), host=args.host, port=args.port, log_level="info")
    return 0


def run_dev() -> int:
    try:
        with local_redis() as redis_url:
            return asyncio.run(_dev(redis_url))
    except RedisUnavailableError as exc:
        print(f"clever-login dev: {exc}", file=sys.stderr)
        return 1


async def _dev(redis_url: str) -> int:
    config = SandboxConfig()
    base_url = f"http://127.0.0.1:{SANDBOX_PORT}"
    sandbox = uvicorn.Server(
        uvicorn.Config(create_sandbox_app(config), host="127.0.0.1", port=SANDBOX_PORT, log_level="warning")
    )
    print(f"Redis:          {redis_url}")
    print(f"Clever sandbox: {base_url}")
    print(f"Open this to pick a demo user: {picker_url(base_url, config)}")
    print("Stop with Ctrl-C.")
    await sandbox.serve()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        return run_sandbox(args)
    return run_dev()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
