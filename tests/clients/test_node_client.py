"""clients/node (`clever-login-express`): its own `node --test` suite, against a real backend and
the sandbox. Express, its peer, comes from npm at the version package-lock.json pins."""

from __future__ import annotations

import pytest

from tests.clients.support import NO_NODE, NODE, NPM, ROOT, npm_ci, run_node_tests
from tests.conftest import RunningSandbox

PACKAGE = ROOT / "clients" / "node"

pytestmark = pytest.mark.skipif(NODE is None or NPM is None, reason=NO_NODE)


async def test_the_express_middleware_passes_its_node_tests(sandbox: RunningSandbox, backend: str) -> None:
    await npm_ci(PACKAGE, "express")
    output = await run_node_tests(PACKAGE, sandbox, backend)
    assert "# tests 6" in output  # every test in clients/node/test/ ran
