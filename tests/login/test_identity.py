from __future__ import annotations

import time

import httpx
import pytest

from app.clever.models import MeResponse, TokenResponse
from app.login.identity import JWKS_REFRESH_INTERVAL, IdentityError, OidcKeys, identify
from app.login.transaction import LoginTransaction
from clever_sandbox.config import SandboxConfig
from clever_sandbox.keys import SigningKeys
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox, running_sandbox
from tests.support.clever import count_requests, requests_seen, sandbox_clever
from tests.support.demo import demo_user
from tests.support.oauth import authorize_params, redeem


async def _tokens(sandbox: RunningSandbox, user_id: str, nonce: str) -> TokenResponse:
    """A real code exchange for `user_id`, with `nonce` in the authorize request."""
    config = sandbox.config
    params = {**authorize_params(config, user_id), "nonce": nonce}
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        redirect = await http.get("/oauth/authorize", params=params)
        code = httpx.URL(redirect.headers["location"]).params["code"]
    answer = await redeem(sandbox.url, config, code)
    return TokenResponse.model_validate(answer.json())


async def test_identity_from_a_verified_id_token_costs_no_call_to_me(sandbox: RunningSandbox) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher_staff")
    nonce = LoginTransaction.new(return_to="/", login_method="clever_sso").nonce
    tokens = await _tokens(sandbox, user["id"], nonce)
    assert tokens.id_token
    await count_requests(sandbox.url, "/v3.0/me")
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        who = await identify(clever, OidcKeys(clever, issuer=sandbox.url), tokens,
                             client_id=sandbox.config.client_id, nonce=nonce)  # fmt: skip
    assert (who.user_id, who.district_id, who.source) == (user["id"], user["district"], "id_token")
    assert who.login_user_type == sandbox.sandbox.store.login_role(user["id"])
    assert await requests_seen(sandbox.url, "/v3.0/me") == 0


async def test_the_keys_fetched_once_verify_every_login_until_clever_rotates_them() -> None:
    with running_sandbox(SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,))) as sandbox:
        user = demo_user(sandbox.sandbox.store, "teacher")
        later = 0.0  # seconds added to the clock: how long after the first fetch a login comes
        await count_requests(sandbox.url, "/oauth/certs")

        async with sandbox_clever(sandbox.url, sandbox.config) as clever:
            oidc = OidcKeys(clever, issuer=sandbox.url, clock=lambda: time.time() + later)

            async def log_in() -> str:
                nonce = LoginTransaction.new(return_to="/", login_method="clever_sso").nonce
                tokens = await _tokens(sandbox, user["id"], nonce)
                who = await identify(clever, oidc, tokens, client_id=sandbox.config.client_id, nonce=nonce)
                return who.source

            assert [await log_in(), await log_in()] == ["id_token", "id_token"]
            assert await requests_seen(sandbox.url, "/oauth/certs") == 1

            sandbox.sandbox.keys = SigningKeys.generate()  # Clever rotates its signing key
            with pytest.raises(IdentityError):  # keys fetched this recently are not fetched again
                await log_in()
            later = JWKS_REFRESH_INTERVAL + 1
            assert [await log_in(), await log_in()] == ["id_token", "id_token"]
            assert await requests_seen(sandbox.url, "/oauth/certs") == 2


async def test_a_wrong_nonce_or_issuer_is_refused(sandbox: RunningSandbox) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    tokens = await _tokens(sandbox, user["id"], "the-nonce-we-sent")
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        with pytest.raises(IdentityError) as wrong_nonce:
            await identify(clever, OidcKeys(clever, issuer=sandbox.url), tokens,
                           client_id=sandbox.config.client_id, nonce="another-nonce")  # fmt: skip
        with pytest.raises(IdentityError) as wrong_issuer:
            await identify(clever, OidcKeys(clever, issuer="https://clever.com"), tokens,
                           client_id=sandbox.config.client_id, nonce="the-nonce-we-sent")  # fmt: skip
    assert wrong_nonce.value.code == wrong_issuer.value.code == "id_token_invalid"


async def test_without_an_id_token_identity_comes_from_me(sandbox: RunningSandbox) -> None:
    user = demo_user(sandbox.sandbox.store, "student")
    async with httpx.AsyncClient(base_url=sandbox.url) as control:
        await control.put("/sandbox/oidc", json={"enabled": False})
    tokens = await _tokens(sandbox, user["id"], "n")
    assert tokens.id_token is None
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        who = await identify(clever, OidcKeys(clever, issuer=sandbox.url), tokens,
                             client_id=sandbox.config.client_id, nonce="n")  # fmt: skip
    assert (who.user_id, who.district_id, who.source, who.login_user_type) == (
        user["id"], user["district"], "me", None,
    )  # fmt: skip


@pytest.mark.parametrize("pinned_type", ["user", "teacher", "student", "district_admin", None])
def test_me_is_read_the_same_whatever_type_an_older_api_version_answers(pinned_type: str | None) -> None:
    me = MeResponse.model_validate(
        {"type": pinned_type, "data": {"id": "u1", "district": "d1", "type": pinned_type}, "links": []}
    )
    assert (me.data.id, me.data.district) == ("u1", "d1")


async def test_a_login_with_no_district_is_a_library_login_from_me_with_the_users_own_token(
    sandbox: RunningSandbox,
) -> None:
    store = sandbox.sandbox.store
    login = next(login for login in store.demo_logins() if not login.district_id)
    tokens = await _tokens(sandbox, login.user_id, "n")
    assert tokens.id_token is None  # OIDC is on: Clever still sends none for Library logins
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        who = await identify(clever, OidcKeys(clever, issuer=sandbox.url), tokens,
                             client_id=sandbox.config.client_id, nonce="n")  # fmt: skip
    assert (who.user_id, who.district_id, who.source, who.authorized_by) == (
        login.user_id,
        "",
        "me",
        "teacher",
    )
    assert who.library
    assert who.access_token == tokens.access_token
    assert tokens.access_token not in repr(who)


async def test_a_district_login_is_the_districts_and_keeps_no_user_token(sandbox: RunningSandbox) -> None:
    user = demo_user(sandbox.sandbox.store, "teacher")
    nonce = LoginTransaction.new(return_to="/", login_method="clever_sso").nonce
    tokens = await _tokens(sandbox, user["id"], nonce)
    async with sandbox_clever(sandbox.url, sandbox.config) as clever:
        who = await identify(clever, OidcKeys(clever, issuer=sandbox.url), tokens,
                             client_id=sandbox.config.client_id, nonce=nonce)  # fmt: skip
    assert (who.authorized_by, who.access_token, who.library) == ("district", "", False)
