"""Serves the demo partner page and its `config.json` (where the backend and the sandbox are).

The page stands for a partner's own frontend, so it runs on an origin of its own and talks to the
backend only as a partner's page would: links to `/auth/login` and credentialed `fetch` calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.clever.http import origin_of

_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
    # The page links the SVG; /favicon.ico is where browsers look for a page that does not say.
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
    "/favicon.ico": ("favicon.svg", "image/svg+xml"),
}


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """`backend_url`: the login backend's base URL. `sandbox_url`: the Clever sandbox's, for the
    Portal-launch link (None hides it). `client_id`: the app's Clever client id."""

    backend_url: str
    client_id: str
    sandbox_url: str | None = None


def create_demo_app(config: DemoConfig) -> Starlette:
    static = files("app.dev.demo").joinpath("static")
    bodies = {path: (static.joinpath(name).read_bytes(), media) for path, (name, media) in _FILES.items()}
    headers = _headers(config)
    public = {
        "backend_url": config.backend_url.rstrip("/"),
        "sandbox_url": config.sandbox_url.rstrip("/") if config.sandbox_url else None,
        "client_id": config.client_id,
    }

    async def static_file(request: Request) -> Response:
        body, media_type = bodies[request.url.path]
        return Response(body, media_type=media_type, headers=headers)

    async def config_json(request: Request) -> Response:
        return JSONResponse(public, headers=headers)

    routes = [Route(path, static_file, methods=["GET"]) for path in _FILES]
    routes.append(Route("/config.json", config_json, methods=["GET"]))
    return Starlette(routes=routes)


def _headers(config: DemoConfig) -> dict[str, str]:
    # The page loads only its own files and calls only the backend; it renders data as text.
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {origin_of(config.backend_url)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
