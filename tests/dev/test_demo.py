from __future__ import annotations

import re
from collections.abc import AsyncIterator
from importlib.resources import files

import httpx
import pytest

from app.dev.demo import DemoConfig, create_demo_app

BACKEND = "http://127.0.0.1:8000"
SANDBOX = "http://127.0.0.1:8700"


@pytest.fixture
async def demo() -> AsyncIterator[httpx.AsyncClient]:
    app = create_demo_app(DemoConfig(backend_url=BACKEND + "/", client_id="the-client", sandbox_url=SANDBOX))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5173") as client:
        yield client


def static_text(name: str) -> str:
    return files("app.dev.demo").joinpath("static", name).read_text(encoding="utf-8")


async def test_the_page_loads_its_own_script_and_style_sheet(demo: httpx.AsyncClient) -> None:
    page = await demo.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="demo.js" defer></script>' in page.text
    assert '<link rel="stylesheet" href="demo.css">' in page.text
    assert "Log in with Clever" in page.text
    script = await demo.get("/demo.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert (await demo.get("/demo.css")).headers["content-type"] == "text/css; charset=utf-8"


async def test_config_tells_the_page_where_the_backend_and_the_sandbox_are(
    demo: httpx.AsyncClient,
) -> None:
    answer = await demo.get("/config.json")
    assert answer.json() == {"backend_url": BACKEND, "sandbox_url": SANDBOX, "client_id": "the-client"}


async def test_without_a_sandbox_the_config_says_so() -> None:
    app = create_demo_app(DemoConfig(backend_url="https://login.example.org", client_id="c"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
        assert (await client.get("/config.json")).json()["sandbox_url"] is None


async def test_the_page_may_call_only_itself_and_the_backend(demo: httpx.AsyncClient) -> None:
    for path in ("/", "/demo.js", "/config.json"):
        csp = (await demo.get(path)).headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert f"connect-src 'self' {BACKEND};" in csp
        assert "frame-ancestors 'none'" in csp


async def test_a_favicon_is_served_and_linked(demo: httpx.AsyncClient) -> None:
    page = await demo.get("/")
    assert '<link rel="icon" href="favicon.svg" type="image/svg+xml">' in page.text
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = await demo.get(path)
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.startswith("<svg")


@pytest.mark.parametrize("name", ["index.html", "demo.js", "demo.css", "favicon.svg"])
def test_no_external_resources(name: str) -> None:
    text = static_text(name)
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text)
    assert "@import" not in text
    assert "url(" not in text


def test_the_script_renders_data_as_text_only() -> None:
    script = static_text("demo.js")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_state_changing_calls_send_credentials_and_the_csrf_header() -> None:
    script = static_text("demo.js")
    assert 'credentials: "include"' in script
    assert 'init.headers["X-Requested-With"] = "fetch"' in script
    assert '"/auth/logout"' in script
    assert '"/auth/session/refresh"' in script


async def test_unknown_paths_are_not_found(demo: httpx.AsyncClient) -> None:
    assert (await demo.get("/static/../app.py")).status_code == 404
    assert (await demo.post("/")).status_code == 405
