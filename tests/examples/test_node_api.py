"""examples/node_api: a partner's Express API, run with node's own test runner against a real
backend and the sandbox. Express comes from npm, at the version package-lock.json pins; the
middleware from clients/node, linked by its `file:` dependency."""

from __future__ import annotations

import pytest

from tests.clients.support import NO_NODE, NODE, NPM, ROOT, npm_ci, run_node_tests
from tests.conftest import RunningSandbox

EXAMPLE = ROOT / "examples" / "node_api"

pytestmark = pytest.mark.skipif(NODE is None or NPM is None, reason=NO_NODE)


async def test_the_express_example_passes_its_node_tests(sandbox: RunningSandbox, backend: str) -> None:
    await npm_ci(EXAMPLE, "express", "clever-login-express")
    await run_node_tests(EXAMPLE, sandbox, backend)
