"""A self-contained emulation of the parts of Clever this service uses, for development and tests."""

from __future__ import annotations

from app.sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]
