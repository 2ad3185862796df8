"""What the fault tests share.

These tests kill, pause and fail over Redis servers and backends while clients connect to them.
Now and then that leaves a connection nobody closed (seen after a Sentinel master is killed: a
socket, or an asyncio stream outliving its loop; the owner was not found), which Python closes
when the garbage collector reaches it, with a ResourceWarning. The collector may run in any later
test, which would then fail for a connection it never opened: so each module of this folder ends
with a collection in which ResourceWarnings are ignored, and the modules that stop servers
ignore them while they run. Every other warning still fails a test.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest

LEFT_CONNECTIONS = "ignore::ResourceWarning"


@pytest.fixture(scope="module", autouse=True)
def _collect_left_connections() -> Iterator[None]:
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ResourceWarning)
        gc.collect()
