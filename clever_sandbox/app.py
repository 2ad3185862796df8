"""The sandbox as one Starlette app: Clever's OAuth, identity and Data API paths plus `/sandbox/`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from clever_sandbox.config import SandboxConfig
from clever_sandbox.control import ControlGuard, control_routes
from clever_sandbox.data_api import data_api_routes
from clever_sandbox.errors import SandboxHTTPError, html_not_found
from clever_sandbox.faults import FaultMiddleware, fault_routes
from clever_sandbox.identity import identity_routes, sandbox_of
from clever_sandbox.oauth import oauth_routes, with_query
from clever_sandbox.pages import FAVICON_SVG, home_page
from clever_sandbox.state import Sandbox


async def home(request: Request) -> Response:
    sandbox = sandbox_of(request)
    config = sandbox.config
    districts = sandbox.store.district_ids()
    picker = with_query(
        "oauth/authorize",
        {"response_type": "code", "client_id": config.client_id, "redirect_uri": config.redirect_uris[0]},
    )
    portal = with_query(
        "oauth/instant-login",
        {"client_id": config.client_id, "district_id": districts[0] if districts else None},
    )
    page = home_page(
        picker_href=picker,
        instant_login_href=portal,
        logout_href=with_query("oauth/logout", {"post_logout_redirect_uri": request.url.path}),
        discovery_href=".well-known/openid-configuration",
    )
    return HTMLResponse(page)


async def favicon(request: Request) -> Response:
    return Response(FAVICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


async def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxHTTPError)
    return exc.response


async def _not_found(request: Request, exc: Exception) -> Response:
    # Clever answers a path it does not serve with an HTML page, not JSON.
    return html_not_found()


def create_sandbox_app(config: SandboxConfig) -> Starlette:
    """A fresh sandbox with its own district, tokens and signing key, built from `config`."""
    if not config.redirect_uris:
        # The first registered URI is where Portal and Instant Login launches land.
        raise ValueError("a sandbox needs at least one registered redirect URI")
    sandbox = Sandbox.build(config)
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        *identity_routes(),
        *oauth_routes(),
        *fault_routes(),
        *data_api_routes(),
        *control_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ControlGuard),  # before the faults: a fault rule on /sandbox/* must not hide it
            Middleware(FaultMiddleware, faults=sandbox.faults, rate_limit=config.rate_limit_per_minute),
        ],
        exception_handlers={SandboxHTTPError: _sandbox_error, 404: _not_found},
    )
    app.state.sandbox = sandbox
    return app
