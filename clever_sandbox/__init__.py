"""A self-contained emulation of the parts of Clever this service uses, for development and tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clever_sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `clever-login serve` reads `clever_sandbox.config` for its command line,
    # and would otherwise load the whole sandbox (about 2 MB) into every serving worker.
    if name == "create_sandbox_app":
        from clever_sandbox.app import create_sandbox_app

        return create_sandbox_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
