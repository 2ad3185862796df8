"""No secret or personal data in telemetry (SECURITY.md, requirement 38 and
attack case 38).

At the end of every run, tests/conftest.py reads every log record the service created during it
and fails the run, naming the kind of value and masking it, if a token, code, state, ticket, raw
session id, e-mail address or a person's name is there. The tests here show that the check
recognises each kind and ignores what is harmless, and run it over a login of their own, so they
pass alone and in any order.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading

import pytest

from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket
from app.dev import stack as devstack
from app.login.transaction import LoginTransaction
from app.serving.server import ServeOptions, uvicorn_options
from tests.conftest import RunningSandbox, remember_configured_secrets, remember_sandbox_secrets
from tests.security.telemetry import OPAQUE_KIND, LogCapture, SecretBook, mask, report
from tests.support import servers
from tests.support.browser import Browser
from tests.support.demo import demo_user


def _record(message: str, name: str = "app.web.routes.login", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def _kinds(book: SecretBook, *records: logging.LogRecord) -> set[str]:
    capture = LogCapture()
    capture.records.extend(records)
    return {leak.kind for leak in capture.leaks(book)}


def test_each_kind_of_secret_is_recognised(sandbox_server: RunningSandbox) -> None:
    book = SecretBook()
    user = demo_user(sandbox_server.sandbox.store, "teacher")
    book.add_people([user])
    transaction = LoginTransaction.new(return_to="/", login_method="clever_sso")
    ticket = Ticket.new().encode(Keyring.from_secret("x" * 40).ticket_signing, "session")
    expectations = {
        f"session {ticket}": "session or pending-login ticket",
        f"callback state={transaction.state}": OPAQUE_KIND,
        f"verifier {transaction.code_verifier}": OPAQUE_KIND,
        "code=Xy3kQ9pLm2Rt7Vw4Zn8Bc6Df1Gh5Jk0A": OPAQUE_KIND,
        "token ilc_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW": OPAQUE_KIND,
        "id_token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig": "signed token (JWT, e.g. an id_token)",
        "district token 3f2a9c0b1d4e5f60718293a4b5c6d7e8f9012345": "district-app token (40 hex digits)",
        "mail someone@school.example.org": "e-mail address",
        f"user {user['name']['last']} logged in": "name of a person",
    }
    for message, kind in expectations.items():
        assert kind in _kinds(book, _record(message)), message
    assert "e-mail address of a person" in _kinds(book, _record("x", email=user["email"]))


def test_secrets_in_extra_fields_and_exceptions_are_found_too() -> None:
    book = SecretBook()
    state = LoginTransaction.new(return_to="/", login_method="clever_sso").state
    assert _kinds(book, _record("login failed", state=state)) == {OPAQUE_KIND}
    try:
        raise ValueError(f"bad state {state}")
    except ValueError:
        record = _record("oops")
        record.exc_info = sys.exc_info()
    assert _kinds(book, record) == {OPAQUE_KIND}


@pytest.mark.parametrize(
    "message",
    [
        "login succeeded",
        "request 3b6c1f0e9a8d4c2b8e7f6a5d4c3b2a19 answered",  # a uuid4 request id
        "session cl:s:{9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}",  # a keyed hash
        "user 6863cdc0dc5eb9eeed00000f of district 6863cdc0dc5eb9eeed000000",  # Clever ids are not secret
        "Clever GET /v3.1/users/{id}/sections: attempt 2 failed, retrying in 0.25 s",
        "test_a_well_formed_but_unknown_state_is_refused_without_an_exchange",
        "CleverUnavailable clever_unavailable store_unavailable",
    ],
)
def test_harmless_lines_pass(message: str) -> None:
    assert _kinds(SecretBook(), _record(message)) == set()


def test_the_report_names_kinds_and_never_prints_a_value_whole() -> None:
    book = SecretBook()
    state = LoginTransaction.new(return_to="/", login_method="clever_sso").state
    capture = LogCapture()
    capture.records.append(_record(f"state {state} and mail a.person@school.example.org"))
    text = report(capture.leaks(book))
    assert OPAQUE_KIND in text
    assert "e-mail address" in text
    assert state not in text
    assert "a.person@school.example.org" not in text
    assert mask(state) in text


def test_the_capture_keeps_service_records_and_leaves_the_harness_out() -> None:
    capture = LogCapture()
    capture.install()
    try:
        logging.getLogger("app.web.routes.login").info("ours, on the main thread")
        logging.getLogger("httpx").warning("a test client's, on the main thread")
        logging.getLogger("clever_sandbox.oauth").warning("the sandbox's")

        def in_a_server_thread() -> None:
            quiet = logging.getLogger("uvicorn.error")
            quiet.propagate = False  # as uvicorn configures it: no handler of ours would see it
            try:
                quiet.error("a server's, off the main thread")
            finally:
                quiet.propagate = True

        thread = threading.Thread(target=in_a_server_thread)
        thread.start()
        thread.join()
    finally:
        capture.uninstall()
    assert [r.getMessage() for r in capture.records] == [
        "ours, on the main thread",
        "a server's, off the main thread",
    ]


def test_access_logs_are_off_where_our_servers_run() -> None:
    """uvicorn's access log writes each request line, and a callback's carries `code` and `state`."""
    assert uvicorn_options(ServeOptions())["access_log"] is False
    for module in (servers, devstack):  # the test servers, and `clever-login dev`
        assert "access_log=False" in inspect.getsource(module), module.__name__


async def test_no_secret_or_personal_data_reached_the_logs(sandbox: RunningSandbox, backend: str) -> None:
    """A login, its session check, a replayed callback and a logout through a real backend: what
    the service logged holds none of what they produced. The whole run is checked the same way
    when it ends (`pytest_sessionfinish` in tests/conftest.py)."""
    user = demo_user(sandbox.sandbox.store, "teacher")
    book = SecretBook()
    remember_configured_secrets(book)
    capture = LogCapture()
    capture.install()
    try:
        async with Browser(backend) as browser:
            start = await browser.start_login()
            clever = await browser.sign_in_at_clever(start.location, user["id"])
            book.add(OPAQUE_KIND, clever.query["code"], clever.query["state"])
            landed = await browser.callback(clever.location)
            assert landed.response.status_code == 302, landed.response.text
            remember_sandbox_secrets(sandbox.sandbox, book)  # the token the exchange issued
            assert (await browser.session()).status_code == 200
            assert (await browser.callback(clever.location)).response.status_code == 302  # same session
            book.add("session ticket", *(cookie.value for cookie in browser.http.cookies.jar))
            logout = await browser.http.post(f"{backend}/auth/logout", headers={"X-Requested-With": "x"})
            assert logout.status_code < 400, logout.text
    finally:
        capture.uninstall()
    assert any(record.name.startswith("app.") for record in capture.records)  # it saw the login
    leaks = capture.leaks(book)
    if leaks:
        pytest.fail(report(leaks), pytrace=False)
