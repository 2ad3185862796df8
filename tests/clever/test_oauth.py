"""The OAuth host and the identity endpoints, against the sandbox over loopback HTTP."""

from __future__ import annotations

import pytest

from app.clever import CleverClient, CleverInvalidGrant, CleverUnauthorized, CleverUnavailable
from tests.clever.conftest import MakeClient
from tests.clever.sandbox_control import add_fault, remaining
from tests.conftest import RunningSandbox
from tests.support.oauth import authorization_code, user_token


def demo_user(sandbox: RunningSandbox, user_type: str) -> str:
    return next(
        login.user_id for login in sandbox.sandbox.store.demo_logins() if login.user_type == user_type
    )


async def test_a_code_is_exchanged_for_a_token(sandbox: RunningSandbox, clever: CleverClient) -> None:
    teacher = demo_user(sandbox, "teacher")
    code = await authorization_code(sandbox.url, sandbox.config, teacher)
    token = await clever.exchange_code(code, sandbox.config.redirect_uris[0])
    assert token.access_token
    assert token.id_token  # the sandbox app is set up for OIDC
    me = await clever.me(token.access_token)
    assert me.id == teacher
    assert me.district == sandbox.sandbox.store.district_ids()[0]


async def test_a_reused_code_is_invalid_grant_and_the_post_is_not_retried(
    sandbox: RunningSandbox, clever: CleverClient
) -> None:
    code = await authorization_code(sandbox.url, sandbox.config, demo_user(sandbox, "student"))
    redirect_uri = sandbox.config.redirect_uris[0]
    await clever.exchange_code(code, redirect_uri)
    with pytest.raises(CleverInvalidGrant) as caught:
        await clever.exchange_code(code, redirect_uri)
    assert caught.value.status == 400
    assert caught.value.error_code == "invalid_grant"
    assert caught.value.attempts == 1
    assert code not in str(caught.value)


async def test_the_token_post_is_made_exactly_once_even_on_a_5xx(
    sandbox: RunningSandbox, clever: CleverClient
) -> None:
    code = await authorization_code(sandbox.url, sandbox.config, demo_user(sandbox, "teacher"))
    # Two armed failures: a retry would spend the second one.
    await add_fault(sandbox.url, "/oauth/tokens", method="POST", status=503, count=2)
    with pytest.raises(CleverUnavailable) as caught:
        await clever.exchange_code(code, sandbox.config.redirect_uris[0])
    assert caught.value.status == 503
    assert await remaining(sandbox.url, "/oauth/tokens") == 1


async def test_the_token_post_is_not_retried_after_a_timeout(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    clever = make_client(attempt_timeout=0.2)
    code = await authorization_code(sandbox.url, sandbox.config, demo_user(sandbox, "teacher"))
    await add_fault(sandbox.url, "/oauth/tokens", method="POST", latency_ms=600, count=2)
    with pytest.raises(CleverUnavailable):
        await clever.exchange_code(code, sandbox.config.redirect_uris[0])
    assert await remaining(sandbox.url, "/oauth/tokens") == 1


async def test_a_wrong_redirect_uri_is_invalid_grant(sandbox: RunningSandbox, clever: CleverClient) -> None:
    code = await authorization_code(sandbox.url, sandbox.config, demo_user(sandbox, "teacher"))
    with pytest.raises(CleverInvalidGrant):
        await clever.exchange_code(code, "http://127.0.0.1:9/elsewhere")


async def test_wrong_client_credentials_are_unauthorized(
    sandbox: RunningSandbox, make_client: MakeClient
) -> None:
    from app.clever import CleverCredentials, CleverHTTP

    oauth = CleverHTTP(sandbox.url)
    try:
        clever = CleverClient(
            oauth=oauth, api=oauth, credentials=CleverCredentials(sandbox.config.client_id, "wrong-secret")
        )
        code = await authorization_code(sandbox.url, sandbox.config, demo_user(sandbox, "teacher"))
        with pytest.raises(CleverUnauthorized) as caught:
            await clever.exchange_code(code, sandbox.config.redirect_uris[0])
        assert "wrong-secret" not in str(caught.value)
    finally:
        await oauth.aclose()


async def test_district_tokens_list_one_token_per_district(
    sandbox: RunningSandbox, clever: CleverClient
) -> None:
    districts = sandbox.sandbox.store.district_ids()
    tokens = await clever.district_tokens()
    assert sorted(token.owner.id for token in tokens) == sorted(districts)
    assert all(token.owner.type == "district" and token.access_token for token in tokens)
    only = await clever.district_tokens(districts[1])
    assert [token.owner.id for token in only] == [districts[1]]
    expected = sandbox.sandbox.tokens.district_token(districts[1], sandbox.config.client_id)
    assert only[0].access_token == expected


async def test_userinfo_names_the_login_role(sandbox: RunningSandbox, clever: CleverClient) -> None:
    staff = demo_user(sandbox, "staff")
    info = await clever.userinfo(await user_token(sandbox.url, sandbox.config, staff))
    assert info.sub == staff
    assert info.user_type is not None


async def test_a_user_token_reads_its_own_user(sandbox: RunningSandbox, clever: CleverClient) -> None:
    student = demo_user(sandbox, "student")
    user = await clever.user(await user_token(sandbox.url, sandbox.config, student), student)
    assert user.id == student
    assert user.roles.names == ["student"]


async def test_discovery_and_keys(sandbox: RunningSandbox, clever: CleverClient) -> None:
    config = await clever.openid_configuration()
    assert config.token_endpoint.endswith("/oauth/tokens")
    keys = await clever.jwks()
    assert keys.keys
    assert all("kty" in key for key in keys.keys)
    assert await clever.jwks(config.jwks_uri) == keys
