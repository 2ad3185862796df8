"""The backend as uvicorn loads it: `app.asgi:app_from_environment`, with `factory=True`.

A factory rather than a module-level app, so that importing this module reads no settings and
each worker process builds its own app (and its own Redis and HTTP pools) from the environment.
"""

from __future__ import annotations

from starlette.applications import Starlette

from app.main import create_app
from app.settings import load_settings

APP_FACTORY = "app.asgi:app_from_environment"


def app_from_environment() -> Starlette:
    return create_app(load_settings())
