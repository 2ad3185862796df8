"""clients/python (`clever_login_client`) on its own, against a real backend and the sandbox: what
the example service (tests/examples/test_python_api.py) does not show."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from email.parser import Parser
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from clever_login_client import (
    CleverUser,
    Introspector,
    LoginBackendUnavailable,
    NotLoggedIn,
    from_gateway_headers,
    ticket_from,
)
from clever_login_client.starlette import session_ticket, user_or_error
from tests.clients.support import ROOT, logged_in_ticket
from tests.conftest import BackendFactory, RunningSandbox
from tests.login.test_library_logins import library_login
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user

PACKAGE = ROOT / "clients" / "python"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def request_with(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


async def test_introspection_gives_the_whole_user(
    sandbox: RunningSandbox, backend: str, http: httpx.AsyncClient
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    # A trailing slash on the backend's address is the same backend.
    introspector = Introspector(f"{backend}/", SERVICE_NAME, SERVICE_SECRET, http=http)
    async with Browser(backend) as browser:
        ticket = await logged_in_ticket(browser, teacher["id"])
        session = (await browser.http.get(f"{backend}/auth/session")).json()
    user = await introspector.user(ticket)
    assert user.user_id == teacher["id"]
    assert user.district_id == session["user"]["district"]
    assert user.authorized_by == "district"
    assert user.roles == tuple(session["user"]["roles"])
    assert user.primary_role == "teacher"
    assert user.principal["user"]["id"] == teacher["id"]
    assert "session" in user.principal


async def test_a_library_teacher_has_no_district_and_was_authorized_by_a_teacher(
    sandbox: RunningSandbox, make_backend: BackendFactory, http: httpx.AsyncClient
) -> None:
    teacher_id = library_login(sandbox.sandbox.store, "Library teacher")
    with make_backend(LIBRARY_LOGINS="accept") as backend:
        introspector = Introspector(backend, SERVICE_NAME, SERVICE_SECRET, http=http)
        async with Browser(backend) as browser:
            user = await introspector.user(await logged_in_ticket(browser, teacher_id))
    assert (user.user_id, user.district_id, user.authorized_by) == (teacher_id, None, "teacher")
    assert user.principal["user"]["district"] is None


async def test_an_ended_session_is_remembered_as_briefly_as_a_live_one(
    backend: str, http: httpx.AsyncClient
) -> None:
    introspector = Introspector(backend, SERVICE_NAME, SERVICE_SECRET, http=http)
    for _ in range(2):
        with pytest.raises(NotLoggedIn):
            await introspector.user("no-such-ticket")
    assert introspector.backend_calls == 1


async def test_the_cache_keeps_at_most_its_entries(
    sandbox: RunningSandbox, backend: str, http: httpx.AsyncClient
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    student = demo_user(sandbox.sandbox.store, "student")
    introspector = Introspector(backend, SERVICE_NAME, SERVICE_SECRET, http=http, cache_entries=1)
    async with Browser(backend) as teachers, Browser(backend) as students:
        tickets = [
            await logged_in_ticket(teachers, teacher["id"]),
            await logged_in_ticket(students, student["id"]),
        ]
    found = [(await introspector.user(ticket)).user_id for ticket in [*tickets, tickets[0], tickets[0]]]
    assert found == [teacher["id"], student["id"], teacher["id"], teacher["id"]]
    assert introspector.backend_calls == 3  # the student pushed the teacher out; the last was cached


async def test_a_backend_answering_an_error_is_unavailable(http: httpx.AsyncClient, backend: str) -> None:
    introspector = Introspector(f"{backend}/no-such-prefix", SERVICE_NAME, SERVICE_SECRET, http=http)
    with pytest.raises(LoginBackendUnavailable, match="introspection answered 404"):
        await introspector.user("some-ticket")
    with pytest.raises(NotLoggedIn):
        await introspector.user(None)
    assert introspector.backend_calls == 1


def test_the_ticket_is_the_bearer_else_the_session_cookie() -> None:
    assert ticket_from("Bearer  abc ", {"clever_session": "cookie"}) == "abc"
    assert ticket_from("bearer abc", {}) == "abc"
    assert ticket_from("Bearer ", {"__Host-clever_session": "cookie"}) == "cookie"
    assert ticket_from("Basic abc", {"clever_session_2": "cookie"}) == "cookie"
    assert ticket_from("", {"other": "x", "clever_session": ""}) is None
    cookie = request_with({"Cookie": "theme=dark; __Host-clever_session=from-cookie"})
    assert session_ticket(cookie) == "from-cookie"
    both = request_with({"Authorization": "Bearer from-header", "Cookie": "clever_session=from-cookie"})
    assert session_ticket(both) == "from-header"
    assert session_ticket(request_with({})) is None


def test_the_gateway_headers_make_a_user() -> None:
    user = from_gateway_headers(
        {"x-clever-user-id": "u1", "x-clever-roles": "teacher,,staff", "x-clever-primary-role": ""}
    )
    assert user == CleverUser(user_id="u1", district_id=None, roles=("teacher", "staff"), primary_role=None)
    library = from_gateway_headers(
        {"x-clever-user-id": "u2", "x-clever-district-id": "", "x-clever-authorized-by": "teacher"}
    )
    assert (library.district_id, library.authorized_by) == (None, "teacher")
    with pytest.raises(NotLoggedIn):
        from_gateway_headers({"x-clever-roles": "teacher"})


async def test_user_or_error_answers_the_services_own_codes() -> None:
    user = CleverUser(user_id="u1", district_id="d1", roles=("student",), primary_role="student")

    async def found() -> CleverUser:
        return user

    async def failing(error: Exception) -> CleverUser:
        raise error

    assert await user_or_error(found()) is user
    nobody = await user_or_error(failing(NotLoggedIn()))
    assert isinstance(nobody, Response)
    assert (nobody.status_code, nobody.body) == (401, b'{"error":"no_session","message":"Log in first."}')
    down = await user_or_error(failing(LoginBackendUnavailable("ConnectError")))
    assert isinstance(down, Response)
    assert (down.status_code, down.headers["retry-after"]) == (503, "5")
    assert b'"error":"login_unavailable"' in down.body


def test_the_package_builds_with_its_types_and_extras(tmp_path: Path) -> None:
    """What `pip install ./clients/python` builds from: an sdist of a copy (the source stays clean),
    by setuptools in this interpreter (a wheel would need the `wheel` package too)."""
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source)
    built = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(tmp_path),
        ],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    sdist = tmp_path / built.stdout.strip().splitlines()[-1]
    top = "clever-login-client-0.1.0"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        info = archive.extractfile(f"{top}/PKG-INFO")
        requires = archive.extractfile(f"{top}/src/clever_login_client.egg-info/requires.txt")
        assert info is not None
        assert requires is not None
        metadata = Parser().parsestr(info.read().decode())
        # setuptools' own form: the core's requirements, then a section per extra.
        sections = requires.read().decode().split("[starlette]")
    package = f"{top}/src/clever_login_client"
    assert {f"{package}/__init__.py", f"{package}/starlette.py", f"{package}/py.typed"} <= names
    assert not any(part in name for name in names for part in ("/tests/", "/examples/", "/app/"))
    assert metadata["Name"] == "clever-login-client"
    assert [line.split("<")[0] for line in sections[0].split()] == ["httpx"], sections
    assert [line.split("<")[0] for line in sections[1].split()] == ["starlette"], sections


async def test_the_readme_usage_example_serves() -> None:
    """clients/python/README.md's example, as written: a request without a ticket is its 401."""
    readme = (PACKAGE / "README.md").read_text()
    found = re.search(r"```python\n(.*?)```", readme, re.DOTALL)
    assert found is not None
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md", "exec"), namespace)  # noqa: S102 - the repository's own text
    transport = httpx.ASGITransport(app=namespace["app"])
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        answer = await api.get("/api/me")
    assert (answer.status_code, answer.json()["error"]) == (401, "no_session")
