"""`clever-login dev`'s three apps, in this process, on free ports."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time

import httpx
import pytest

from app.dev.stack import (
    DEFAULT_KEY_PREFIX,
    DevAddresses,
    DevStack,
    bind_all,
    build_dev_stack,
    serve_together,
)
from app.logs import ConsoleFormatter, with_console_fields
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS, STUDENT_FIELDS
from app.serving.server import PortInUseError, log_config
from app.settings import SettingsError
from app.web.cookies import Cookies
from clever_sandbox.district import DemoLogin
from clever_sandbox.state import Sandbox
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.devstack import running_dev_stack
from tests.support.partner import come_in_from_the_portal, log_in_through_the_demo_page
from tests.support.processes import free_port


def free_addresses() -> DevAddresses:
    return DevAddresses(sandbox_port=free_port(), backend_port=free_port(), demo_port=free_port())


def demo_logins(stack: DevStack) -> list[DemoLogin]:
    sandbox: Sandbox = stack.apps[0].app.state.sandbox  # type: ignore[attr-defined]
    return sandbox.store.demo_logins()


def test_the_backend_is_the_sandboxs_app_and_lands_on_the_demo_page(redis_url: str) -> None:
    addresses = DevAddresses()
    stack = build_dev_stack(redis_url, environ={})
    settings = stack.settings
    assert settings.clever_redirect_uri == "http://127.0.0.1:8000/auth/callback"
    assert stack.sandbox.redirect_uris == (settings.clever_redirect_uri,)
    assert settings.clever_oauth_url == settings.clever_api_url == addresses.sandbox_url
    assert settings.clever_client_id == stack.sandbox.client_id
    assert settings.frontend_url == "http://127.0.0.1:5173/"
    assert settings.cors_origins == settings.allowed_return_to == frozenset({"http://127.0.0.1:5173"})
    assert settings.cookie_secure is False
    assert settings.redis_key_prefix == DEFAULT_KEY_PREFIX
    assert [app.port for app in stack.apps] == [8700, 8000, 5173]


def test_each_start_has_its_own_session_secret(redis_url: str) -> None:
    first = build_dev_stack(redis_url, environ={}).settings.session_secret
    second = build_dev_stack(redis_url, environ={"REDIS_KEY_PREFIX": "mine:"}).settings
    assert str(first) != str(second.session_secret)
    assert second.redis_key_prefix == "mine:"


def test_each_start_names_its_cookies_anew(redis_url: str) -> None:
    names = set()
    for _ in range(2):
        settings = build_dev_stack(redis_url, environ={}).settings
        cookies = Cookies(secure=settings.cookie_secure, suffix=settings.cookie_name_suffix)
        names |= {cookies.session_name, cookies.login_name}
    assert len(names) == 4
    assert not names & {"clever_session", "clever_login"}


async def test_a_pending_login_cookie_planted_by_another_local_app_logs_nobody_in(
    redis_url: str, key_prefix: str
) -> None:
    # Another app on 127.0.0.1 (any port) may set cookies the backend receives. It starts a login
    # of its own, signs in at the sandbox as its teacher, and plants its pending-login cookie in
    # the victim's browser under the name it can know, then sends the victim to the callback.
    with running_dev_stack(redis_url, key_prefix=key_prefix) as stack:
        teacher = demo_user(stack.store, "teacher")
        async with Browser(stack.backend_url) as attacker, Browser(stack.backend_url) as victim:
            start = await attacker.start_login()
            clever = await attacker.sign_in_at_clever(start.location, teacher["id"])
            pending = next(
                c.value or "" for c in attacker.http.cookies.jar if c.name.startswith("clever_login")
            )
            victim.http.cookies.set("clever_login", pending, domain="127.0.0.1")
            landed = await victim.callback(clever.location)
            session = await victim.session()
    assert landed.response.status_code == 400
    assert session.status_code == 401


def test_student_fields_may_be_widened_for_a_look_at_every_field(redis_url: str) -> None:
    settings = build_dev_stack(redis_url, environ={"STUDENT_FIELDS": "*"}).settings
    assert settings.student_fields == STUDENT_FIELDS
    assert build_dev_stack(redis_url, environ={}).settings.student_fields == DEFAULT_STUDENT_FIELDS


async def test_a_login_and_a_portal_launch_through_the_demo_page(redis_url: str, key_prefix: str) -> None:
    addresses = free_addresses()
    stack = build_dev_stack(redis_url, environ={"REDIS_KEY_PREFIX": key_prefix}, addresses=addresses)
    sockets = bind_all(addresses.host, stack.apps)
    serving = asyncio.create_task(serve_together(stack.apps, sockets, addresses.host))
    await asyncio.sleep(0.2)
    try:
        teacher = next(login for login in demo_logins(stack) if login.user_type == "teacher")
        principal = await log_in_through_the_demo_page(addresses.demo_url, teacher.user_id)
        assert principal["user"]["id"] == teacher.user_id
        assert "teacher" in principal["user"]["roles"]
        assert principal["session"]["login_method"] == "clever_sso"

        student = next(login for login in demo_logins(stack) if login.user_type == "student")
        principal = await come_in_from_the_portal(addresses.demo_url, student.user_id)
        assert principal["user"]["id"] == student.user_id
        assert principal["session"]["login_method"] == "clever_portal"
    finally:
        # The same path as Ctrl-C: serve_together's own signal handler stops all three.
        if not serving.done():
            os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, timeout=15)
    for app in stack.apps:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((addresses.host, app.port), timeout=2).close()


async def test_the_events_worker_beside_the_apps_copies_the_district_and_logins_read_the_copy(
    redis_url: str, key_prefix: str
) -> None:
    addresses = free_addresses()
    stack = build_dev_stack(redis_url, environ={"REDIS_KEY_PREFIX": key_prefix}, addresses=addresses)
    sockets = bind_all(addresses.host, stack.apps)
    serving = asyncio.create_task(serve_together(stack.apps, sockets, addresses.host, worker=stack.settings))
    try:
        teacher = next(login for login in demo_logins(stack) if login.user_type == "teacher")
        # The first logins may come before the copy (read live); within a minute they read it.
        deadline = time.monotonic() + 60
        while True:
            principal = await log_in_through_the_demo_page(addresses.demo_url, teacher.user_id)
            assert principal["user"]["id"] == teacher.user_id
            if principal["roster"]["source"] == "store" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert principal["roster"]["source"] == "store"
        assert "synced_at" in principal["roster"]
    finally:
        if not serving.done():
            os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, timeout=15)
    assert serving.result() is None


@pytest.mark.parametrize("taken", [0, 1, 2])
def test_a_taken_port_closes_the_sockets_already_bound(taken: int, redis_url: str) -> None:
    addresses = free_addresses()
    stack = build_dev_stack(redis_url, environ={}, addresses=addresses)
    blocker = bind_all(addresses.host, [stack.apps[taken]])[0]
    try:
        with pytest.raises(OSError, match=str(stack.apps[taken].port)):
            bind_all(addresses.host, stack.apps)
        # Whatever was bound before the failure was let go.
        retry = bind_all(addresses.host, stack.apps[:taken])
        for sock in retry:
            sock.close()
    finally:
        blocker.close()


def test_every_taken_port_is_named_at_once(redis_url: str) -> None:
    addresses = free_addresses()
    stack = build_dev_stack(redis_url, environ={}, addresses=addresses)
    blockers = bind_all(addresses.host, [stack.apps[0], stack.apps[2]])
    try:
        with pytest.raises(PortInUseError) as caught:
            bind_all(addresses.host, stack.apps)
        assert caught.value.ports == (addresses.sandbox_port, addresses.demo_port)
        assert str(caught.value).endswith(
            f"{addresses.host}:{addresses.sandbox_port} and {addresses.host}:{addresses.demo_port} "
            "are already in use"
        )
        # The one port that was free was let go again.
        bind_all(addresses.host, [stack.apps[1]])[0].close()
    finally:
        for sock in blockers:
            sock.close()


def test_the_console_lines_carry_their_event_and_error_code() -> None:
    config = with_console_fields(log_config("warning", app_level="info"))
    entry = dict(config["formatters"]["default"])
    assert entry.pop("()") == "app.logs.ConsoleFormatter"
    formatter = ConsoleFormatter(**{**entry, "use_colors": False})
    record = logging.getLogger("app.web.routes.login").makeRecord(
        "app.web.routes.login",
        logging.INFO,
        __file__,
        1,
        "login request refused",
        (),
        None,
        extra={"event": "login_rejected", "code": "invalid_return_to"},
    )
    line = formatter.format(record)
    assert line.startswith("INFO:")
    assert line.endswith('login request refused  event="login_rejected" code="invalid_return_to"')
    plain = logging.LogRecord("app", logging.WARNING, __file__, 1, "Redis is back", (), None)
    assert formatter.format(plain).endswith("Redis is back")


def test_ones_own_frontend_is_where_logins_land_and_may_call_the_backend(redis_url: str) -> None:
    addresses = free_addresses()
    stack = build_dev_stack(
        redis_url, environ={}, addresses=addresses, frontend_url="http://localhost:3000/app/"
    )
    settings = stack.settings
    assert settings.frontend_url == "http://localhost:3000/app/"
    demo_origin = f"http://127.0.0.1:{addresses.demo_port}"
    assert settings.cors_origins == settings.allowed_return_to == {"http://localhost:3000", demo_origin}
    assert settings.clever_redirect_uri == f"http://127.0.0.1:{addresses.backend_port}/auth/callback"
    assert stack.sandbox.redirect_uris == (settings.clever_redirect_uri,)
    assert [app.port for app in stack.apps] == [
        addresses.sandbox_port, addresses.backend_port, addresses.demo_port
    ]  # fmt: skip


async def test_ones_own_frontend_may_sign_out_of_the_sandbox_and_come_back(redis_url: str) -> None:
    frontend = "http://localhost:3000/app/"
    stack = build_dev_stack(redis_url, environ={}, addresses=free_addresses(), frontend_url=frontend)
    sandbox = next(app.app for app in stack.apps if app.port == stack.addresses.sandbox_port)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox"
    ) as http:
        back = await http.get("/oauth/logout", params={"post_logout_redirect_uri": frontend})
        elsewhere = await http.get(
            "/oauth/logout", params={"post_logout_redirect_uri": "http://localhost:3001/"}
        )
    assert (back.status_code, back.headers["location"]) == (302, frontend)
    assert elsewhere.status_code == 400


def test_a_frontend_url_that_is_not_one_is_refused_by_name(redis_url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        build_dev_stack(redis_url, environ={}, frontend_url="localhost:3000")
    assert [problem.split(":", 1)[0] for problem in caught.value.problems] == ["FRONTEND_URL"]
