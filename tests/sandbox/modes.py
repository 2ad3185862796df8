"""The sandbox's strict modes (SandboxConfig, "Strictness: data and scopes"), one name each, and a
sandbox running in one of them beside the shared one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from clever_sandbox.config import DEFAULT_SCOPES, RESOURCES_SCOPE, SENSITIVE_SCOPE, SandboxConfig
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox, remember_sandbox_secrets, running_sandbox

MODES: Mapping[str, Mapping[str, Any]] = {
    "no_resources_scope": {"scopes": DEFAULT_SCOPES - {RESOURCES_SCOPE}},
    "no_resources_scope_html": {"scopes": DEFAULT_SCOPES - {RESOURCES_SCOPE}, "scope_error": "html"},
    "no_sensitive_scope": {"scopes": DEFAULT_SCOPES - {SENSITIVE_SCOPE}},
    "sparse_students": {"sparse_students": True},
    "spaced_user_types": {"user_type_spelling": "spaced"},
    "school_admin_user_types": {"user_type_spelling": "school_admin"},
    "all_at_once": {
        "scopes": DEFAULT_SCOPES - {RESOURCES_SCOPE, SENSITIVE_SCOPE},
        "sparse_students": True,
        "user_type_spelling": "school_admin",
    },
}


def mode_config(mode: str) -> SandboxConfig:
    return SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,), **MODES[mode])


@contextmanager
def sandbox_in_mode(mode: str) -> Iterator[RunningSandbox]:
    """A sandbox of its own, in `mode`, on a loopback port until the block ends."""
    with running_sandbox(mode_config(mode)) as running:
        try:
            yield running
        finally:
            remember_sandbox_secrets(running.sandbox)
