"""A demo partner frontend: a static page on its own origin that logs in through the backend."""

from __future__ import annotations

from app.dev.demo.app import DemoConfig, create_demo_app

__all__ = ["DemoConfig", "create_demo_app"]
