"""The backend as uvicorn loads it: `app.web.asgi:app_from_environment`, with `factory=True`.

A factory rather than a module-level app, so that importing this module reads no settings and
each worker process builds its own app (and its own Redis and HTTP pools) from the environment.
"""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from app.settings import load_settings
from app.web.factory import create_app

APP_FACTORY = "app.web.asgi:app_from_environment"


def app_from_environment() -> Starlette:
    app = create_app(load_settings())
    # What is imported and built by now lives as long as the worker. Frozen, it is left out of every
    # later garbage collection, which otherwise walks it all again and again: about a sixth of the
    # CPU of a validation (bench/). Frozen objects are still freed when their last reference goes.
    gc.collect()
    gc.freeze()
    # A young-generation collection every 10,000 allocations rather than 700 takes another 5-10 %
    # off a validation's CPU (bench/); what requests leave in cycles is small and still collected.
    gc.set_threshold(10_000, 10, 10)
    return app
