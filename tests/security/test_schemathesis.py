"""Schemathesis against the running backend's own `/openapi.json`: every operation, fuzzed from its
description, must never answer a server error (and the backend fixture fails on any answer that
strays from the document).

Driven by hand rather than with `schemathesis.pytest`, whose plugin does not run on this pytest.
"""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.conftest import RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import logged_in_browser

EXAMPLES_PER_OPERATION = 25


def _fuzz_operation(operation: Any, session_ticket: str) -> bool:
    service = operation.path.endswith(("/sessions", "/introspect"))
    ran = False

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), with_session=st.booleans())
    def check(case: Any, with_session: bool) -> None:
        nonlocal ran
        headers = {"X-Requested-With": "schemathesis"}
        if with_session and not service:
            headers["Cookie"] = f"clever_session={session_ticket}"
        auth = (SERVICE_NAME, SERVICE_SECRET) if service else None
        case.call_and_validate(headers=headers, auth=auth, checks=[not_a_server_error], timeout=10)
        ran = True

    check()
    return ran


def _fuzz(schema: schemathesis.BaseSchema, session_ticket: str) -> list[str]:
    """Each operation in turn; answers `METHOD path` for those that never ran (none should)."""
    never_ran = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be sound
        operation = result.ok()
        if not _fuzz_operation(operation, session_ticket):
            never_ran.append(f"{operation.method.upper()} {operation.path}")
    return never_ran


async def test_no_operation_answers_a_server_error(sandbox: RunningSandbox, backend: str) -> None:
    async with logged_in_browser(backend, sandbox.sandbox.store, "teacher") as browser:
        ticket = str(browser.http.cookies["clever_session"])
    schema = schemathesis.openapi.from_url(f"{backend}/openapi.json")
    # Blocking calls (schemathesis uses `requests`): off the event loop, which the fixtures share.
    never_ran = await asyncio.to_thread(_fuzz, schema, ticket)
    assert never_ran == []
