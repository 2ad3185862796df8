"""examples/node_api: a partner's Express API, run with node's own test runner against a real
backend and the sandbox. Express comes from npm, at the version package-lock.json pins."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.processes import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node_api"
NODE = shutil.which("node")
NPM = shutil.which("npm")

pytestmark = pytest.mark.skipif(NODE is None or NPM is None, reason="node and npm are not installed")


async def ticket_of(browser: Browser, user_id: str) -> str:
    landed = await browser.login(user_id)
    assert landed.response.status_code == 302, landed.response.text
    return next(c.value for c in browser.http.cookies.jar if c.name.startswith("clever_session") and c.value)


async def test_the_express_example_passes_its_node_tests(sandbox: RunningSandbox, backend: str) -> None:
    assert NODE is not None
    assert NPM is not None
    if not (EXAMPLE / "node_modules").is_dir():
        # The lock's exact versions, as `make bench` installs the express peer's.
        await asyncio.to_thread(
            subprocess.run,
            [NPM, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=EXAMPLE,
            check=True,
            timeout=300,
        )
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    student = demo_user(sandbox.sandbox.store, "student")
    async with Browser(backend) as teachers, Browser(backend) as students:
        env = {
            **os.environ,
            "CLEVER_LOGIN_URL": backend,
            "CLEVER_LOGIN_CLIENT": SERVICE_NAME,
            "CLEVER_LOGIN_SECRET": SERVICE_SECRET,
            "TEACHER_ID": teacher["id"],
            "TEACHER_TICKET": await ticket_of(teachers, teacher["id"]),
            "STUDENT_ID": student["id"],
            "STUDENT_TICKET": await ticket_of(students, student["id"]),
            "DOWN_URL": f"http://127.0.0.1:{free_port()}",
        }
        run = await asyncio.to_thread(
            subprocess.run,
            [NODE, "--test", "test/"],
            cwd=EXAMPLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout
