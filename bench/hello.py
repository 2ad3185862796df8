"""The physical references of the validation table: hello endpoints on the backend's server settings.

    python -m bench.hello {starlette,asgi} PORT

Both run under uvicorn with the options `clever-login serve` uses (app.serving.server.uvicorn_options),
so the only difference from the backend is the work done per request.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.serving.server import ServeOptions, uvicorn_options

_BODY = b'{"hello":"world"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def _hello(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


def starlette_hello() -> Starlette:
    """A Starlette app with one JSON route: the framework floor."""
    return Starlette(routes=[Route("/hello", _hello, methods=["GET"])])


async def _asgi(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def asgi_hello() -> object:
    """A bare ASGI callable: the server floor."""
    return _asgi


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    factory = {"starlette": "bench.hello:starlette_hello", "asgi": "bench.hello:asgi_hello"}[kind]
    uvicorn.run(factory, **uvicorn_options(ServeOptions(port=port, log_level="warning")))


if __name__ == "__main__":
    main()
