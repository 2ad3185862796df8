"""What the tests of clients/ and of the examples built on them share: a logged-in user's session
ticket, and a run of a Node package's own `node --test` suite against a real backend."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")
NPM = shutil.which("npm")
NO_NODE = "node and npm are not installed"


async def logged_in_ticket(browser: Browser, user_id: str) -> str:
    """Log `user_id` in with `browser`; answers the session ticket its cookie holds."""
    landed = await browser.login(user_id)
    assert landed.response.status_code == 302, landed.response.text
    return next(c.value for c in browser.http.cookies.jar if c.name.startswith("clever_session") and c.value)


async def npm_ci(folder: Path, *needed: str) -> None:
    """The lock's exact versions, as `make bench` installs the express peer's; only when one of
    the `needed` packages is missing from node_modules (a `file:` link counts)."""
    assert NPM is not None
    if all((folder / "node_modules" / name).exists() for name in needed):
        return
    await asyncio.to_thread(
        subprocess.run,
        [NPM, "ci", "--no-audit", "--no-fund", "--silent"],
        cwd=folder,
        check=True,
        timeout=300,
    )


async def run_node_tests(folder: Path, sandbox: RunningSandbox, backend: str) -> str:
    """`node --test test/` in `folder`, with a teacher's and a student's tickets in its environment
    (as the test files' headers say); answers its output once every test passed."""
    assert NODE is not None
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    student = demo_user(sandbox.sandbox.store, "student")
    async with Browser(backend) as teachers, Browser(backend) as students:
        env = {
            **os.environ,
            "CLEVER_LOGIN_URL": backend,
            "CLEVER_LOGIN_CLIENT": SERVICE_NAME,
            "CLEVER_LOGIN_SECRET": SERVICE_SECRET,
            "TEACHER_ID": teacher["id"],
            "TEACHER_TICKET": await logged_in_ticket(teachers, teacher["id"]),
            "STUDENT_ID": student["id"],
            "STUDENT_TICKET": await logged_in_ticket(students, student["id"]),
            "DOWN_URL": f"http://127.0.0.1:{free_port()}",
        }
        run = await asyncio.to_thread(
            subprocess.run,
            [NODE, "--test", "test/"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout
    return run.stdout
