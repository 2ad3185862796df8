"""SESSION_SECRET rotation: a new secret with the old one as SESSION_SECRET_PREVIOUS logs nobody out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket, decode_ticket
from app.settings import SettingsError, load_settings
from tests.conftest import BackendFactory, RunningSandbox
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET, SESSION_SECRET
from tests.support.browser import Browser
from tests.support.demo import demo_user
from tests.support.session_flow import logged_in
from tests.test_settings import GOOD

NEW_SECRET = "Vn4k8Qw2Zr6Tx1Lp9Hs3Jd7Fb5Mc0Ga-rotated"
OLDER_SECRET = "Yb2Nc5Xm8Kq1Wz4Rt7Pv0Ls3Hd6Jf9Ge-oldest"
PURPOSE = "session"
# A new secret with the old one retired, as docs/deploy.md's "Rotating the session secret" has it.
ROTATED = {"SESSION_SECRET": NEW_SECRET, "SESSION_SECRET_PREVIOUS": SESSION_SECRET}


@contextmanager
def serving(make_backend: BackendFactory, *browsers: Browser, **settings: str) -> Iterator[str]:
    """A backend started with `settings` for the block, the one that `browsers` talk to meanwhile."""
    with make_backend(**settings) as url:
        for browser in browsers:
            browser.backend_url = url
        yield url


def test_rotation_accepts_tickets_of_a_retired_secret_and_says_which() -> None:
    keys = Keyring.from_secret(NEW_SECRET, [SESSION_SECRET, OLDER_SECRET])
    old_keys = Keyring.from_secret(SESSION_SECRET)
    ticket = Ticket.new()
    retired = [k.ticket_signing for k in keys.previous]

    for signer, generation in ((keys, 0), (old_keys, 1), (Keyring.from_secret(OLDER_SECRET), 2)):
        decoded = decode_ticket(
            ticket.encode(signer.ticket_signing, PURPOSE), keys.ticket_signing, PURPOSE, retired_keys=retired
        )
        assert decoded is not None
        assert (decoded.session_id, decoded.key, decoded.generation) == (
            ticket.session_id,
            ticket.key,
            generation,
        )
    # Without the retired keys, what the old secret signed is refused.
    assert (
        decode_ticket(ticket.encode(old_keys.ticket_signing, PURPOSE), keys.ticket_signing, PURPOSE) is None
    )
    # A secret that is neither current nor retired signs nothing acceptable.
    stranger = Keyring.from_secret("Qs9Lm2Vb7Xn4Kc1Pz8Wt3Rd6Hj0Fg5Ay-stranger")
    text = ticket.encode(stranger.ticket_signing, PURPOSE)
    assert decode_ticket(text, keys.ticket_signing, PURPOSE, retired_keys=retired) is None
    # Each generation has keys of its own for every purpose.
    assert keys.generation(1) == old_keys
    assert len({g.storage_hashing for g in keys.generations}) == 3


@pytest.mark.parametrize(
    ("previous", "problem"),
    [
        (SESSION_SECRET, "must not repeat SESSION_SECRET"),
        ("short-but-random-8x", "at least 32 bytes"),
        (f"{NEW_SECRET},changeme-changeme-changeme-changeme", "placeholder"),
        (",".join([NEW_SECRET, OLDER_SECRET, NEW_SECRET + "2", OLDER_SECRET + "3"]), "at most 3"),
    ],
)
def test_rotation_settings_refuse_weak_or_repeated_previous_secrets(previous: str, problem: str) -> None:
    environ = {**GOOD, "SESSION_SECRET": SESSION_SECRET, "SESSION_SECRET_PREVIOUS": previous}
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    message = str(raised.value)
    assert "SESSION_SECRET_PREVIOUS" in message
    assert problem in message
    assert SESSION_SECRET not in message
    assert NEW_SECRET not in message


def test_rotation_settings_keep_previous_secrets_masked() -> None:
    environ = {
        **GOOD,
        "SESSION_SECRET": NEW_SECRET,
        "SESSION_SECRET_PREVIOUS": f"{SESSION_SECRET}, {OLDER_SECRET}",
    }
    settings = load_settings(environ)
    assert [str(s) for s in settings.session_secret_previous] == [SESSION_SECRET, OLDER_SECRET]
    assert SESSION_SECRET not in repr(settings)


async def test_rotation_keeps_everyone_logged_in(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    teacher = demo_user(sandbox.sandbox.store, "teacher")
    async with Browser("") as before, Browser("") as after:
        with serving(make_backend, before):
            assert (await before.login(teacher["id"])).response.status_code == 302
        # The same Redis, a new secret, the old one retired.
        with serving(make_backend, before, after, **ROTATED) as new:
            kept = await before.session()
            assert kept.status_code == 200
            assert kept.json()["user"]["id"] == teacher["id"]
            verified = await before.http.get(f"{new}/auth/verify")
            assert verified.headers["X-Clever-User-Id"] == teacher["id"]
            # A login under the new secret gets a ticket the old secret alone would refuse.
            assert (await after.login(teacher["id"])).response.status_code == 302
            assert (await after.session()).status_code == 200
            new_ticket = after.http.cookies["clever_session"]
            assert (
                decode_ticket(new_ticket, Keyring.from_secret(SESSION_SECRET).ticket_signing, PURPOSE) is None
            )
            # Ending the user's sessions reaches both: the old one is indexed under the old secret's names.
            async with httpx.AsyncClient(base_url=new) as service:
                ended = await service.delete(
                    f"/auth/users/{teacher['id']}/sessions", auth=(SERVICE_NAME, SERVICE_SECRET)
                )
            assert ended.status_code == 200
            assert ended.json()["ended"] == 2
            assert (await before.session()).status_code == 401
            assert (await after.session()).status_code == 401


async def test_rotation_finishes_logins_begun_under_the_old_secret(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    student = demo_user(sandbox.sandbox.store, "student")
    async with Browser("") as browser:
        with serving(make_backend, browser):
            redirect = await browser.clever_redirect(student["id"])
        with serving(make_backend, browser, **ROTATED):
            landed = await browser.callback(redirect)
            assert landed.response.status_code == 302, landed.response.text
            session = await browser.session()
            assert session.status_code == 200
            assert session.json()["user"]["id"] == student["id"]
            # The pending-login cookie keeps the secret it was made with, so a second tab still lands.
            second_tab = await browser.clever_redirect(student["id"])
            assert (await browser.callback(second_tab)).response.status_code == 302


async def test_rotation_without_the_previous_secret_ends_old_sessions(
    sandbox: RunningSandbox, make_backend: BackendFactory
) -> None:
    async with Browser("") as browser:
        with serving(make_backend, browser):
            await logged_in(browser, demo_user(sandbox.sandbox.store, "teacher")["id"])
        with serving(make_backend, browser, SESSION_SECRET=NEW_SECRET):
            gone = await browser.session()
    assert (gone.status_code, gone.json()["error"]) == (401, "no_session")
