"""The sandbox's OAuth paths: authorize, the picker, instant-login and the token endpoint."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from clever_sandbox.config import SandboxConfig
from clever_sandbox.district import DemoLogin
from clever_sandbox.oauth import SIGN_IN_COOKIE
from tests.conftest import RunningSandbox
from tests.sandbox.asgi import LocalSandbox, local_sandbox
from tests.support.clock import Clock

CALLBACK = "http://127.0.0.1:8000/auth/callback"
OTHER_CALLBACK = "https://app.example.org/clever/callback"
# Registered as a post-logout redirect URI by the logout tests.
LOGOUT_REDIRECT = "https://demo.example.org/"
INVALID_CODE = {"error": "invalid_grant", "error_description": "Invalid grant: invalid code"}


@pytest.fixture
async def local() -> AsyncIterator[LocalSandbox]:
    async with local_sandbox(SandboxConfig(redirect_uris=(CALLBACK, OTHER_CALLBACK))) as local:
        yield local


def authorize_params(local: LocalSandbox, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": local.config.client_id,
        "redirect_uri": CALLBACK,
        **extra,
    }


def query_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    pairs = parse_qs(urlsplit(response.headers["location"]).query, keep_blank_values=True)
    return {key: values[0] for key, values in pairs.items()}


def links_of(page: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]*)"', page)]


async def code_for(local: LocalSandbox, user_id: str, **extra: str) -> str:
    response = await local.http.get(
        "/oauth/authorize", params=authorize_params(local, login_hint=user_id, **extra)
    )
    return query_of(response)["code"]


async def redeem(local: LocalSandbox, code: str, **extra: str) -> httpx.Response:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **extra}
    return await local.http.post(
        "/oauth/tokens", json=body, auth=(local.config.client_id, local.config.client_secret)
    )


async def me_id(local: LocalSandbox, token: str) -> str:
    response = await local.http.get("/v3.0/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    user_id = response.json()["data"]["id"]
    assert isinstance(user_id, str)
    return user_id


async def signed_in_id(local: LocalSandbox, code: str) -> str:
    """The id of the user `code` signs in: its access token's /v3.0/me."""
    token = (await redeem(local, code)).json()["access_token"]
    return await me_id(local, token)


async def remembered_id(local: LocalSandbox, state: str) -> str:
    """The id of the user authorize signs in without a login hint (the sign-in cookie's), after
    checking that `state` comes back with the code."""
    response = await local.http.get("/oauth/authorize", params=authorize_params(local, state=state))
    query = query_of(response)
    assert query["state"] == state
    return await signed_in_id(local, query["code"])


def instant_login_params(local: LocalSandbox, login: DemoLogin) -> dict[str, str]:
    return {
        "client_id": local.config.client_id,
        "district_id": login.district_id,
        "login_hint": login.user_id,
    }


# --- authorize and the picker -------------------------------------------------------------


async def test_picker_lists_every_demo_login_grouped_by_kind(local: LocalSandbox) -> None:
    response = await local.http.get("/oauth/authorize", params=authorize_params(local, state="s-1"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    logins = local.sandbox.store.demo_logins()
    assert logins
    hrefs = links_of(page)
    for login in logins:
        assert unescape(page).count(login.label) == 1
        assert any(
            parse_qs(urlsplit(href).query).get("login_hint") == [login.user_id]
            and parse_qs(urlsplit(href).query).get("login_role") == [login.user_type]
            for href in hrefs
        ), login
    headings = re.findall(r"<h2>([^<]*)</h2>", page)
    assert headings == [
        "Students",
        "Teachers",
        "Teachers who are also staff",
        "Staff",
        "District admins",
        "Contacts (parents and guardians)",
        "Clever Library (authorized by a teacher, no district)",
    ]


async def test_picker_link_signs_in_that_user(local: LocalSandbox) -> None:
    login = next(d for d in local.sandbox.store.demo_logins() if d.user_type == "staff")
    page = await local.http.get("/oauth/authorize", params=authorize_params(local, state="s-2"))
    href = next(h for h in links_of(page.text) if f"login_hint={login.user_id}" in h and "staff" in h)

    response = await local.http.get(f"/oauth/{href}")

    query = query_of(response)
    assert response.headers["location"].startswith(CALLBACK + "?")
    assert query["state"] == "s-2"
    token = (await redeem(local, query["code"])).json()["access_token"]
    info = (await local.http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})).json()
    assert info["sub"] == login.user_id
    assert info["user_type"] == "staff"


async def test_picker_cancel_redirects_with_access_denied_and_state(local: LocalSandbox) -> None:
    page = await local.http.get("/oauth/authorize", params=authorize_params(local, state="s-3"))
    cancel = re.search(r'<a class="cancel" href="([^"]*)"', page.text)
    assert cancel is not None

    target = unescape(cancel.group(1))

    assert target.startswith(CALLBACK + "?")
    assert parse_qs(urlsplit(target).query) == {"error": ["access_denied"], "state": ["s-3"]}


async def test_login_hint_redirects_with_code_and_state(local: LocalSandbox) -> None:
    user_id = local.sandbox.store.demo_logins()[0].user_id
    params = authorize_params(local, login_hint=user_id, state="abc 123/+=")

    response = await local.http.get("/oauth/authorize", params=params)

    query = query_of(response)
    assert set(query) == {"code", "state"}
    assert query["state"] == "abc 123/+="


async def test_no_state_sent_means_none_returned(local: LocalSandbox) -> None:
    user_id = local.sandbox.store.demo_logins()[0].user_id
    response = await local.http.get("/oauth/authorize", params=authorize_params(local, login_hint=user_id))
    assert set(query_of(response)) == {"code"}


async def test_unknown_login_hint_shows_the_picker_with_a_notice(local: LocalSandbox) -> None:
    response = await local.http.get(
        "/oauth/authorize", params=authorize_params(local, login_hint="0123456789abcdef01234567")
    )
    assert response.status_code == 200
    assert "No demo user 0123456789abcdef01234567" in response.text


async def test_sign_in_cookie_remembers_the_user(local: LocalSandbox) -> None:
    login = next(d for d in local.sandbox.store.demo_logins() if d.user_type == "district_admin")
    first = await local.http.get("/oauth/authorize", params=authorize_params(local, login_hint=login.user_id))
    assert SIGN_IN_COOKIE in first.cookies

    assert await remembered_id(local, "later") == login.user_id


async def test_without_cookie_or_hint_the_picker_shows(local: LocalSandbox) -> None:
    login = local.sandbox.store.demo_logins()[0]
    await local.http.get("/oauth/authorize", params=authorize_params(local, login_hint=login.user_id))
    local.http.cookies.clear()

    response = await local.http.get("/oauth/authorize", params=authorize_params(local))

    assert response.status_code == 200
    assert "Pick a demo user" in response.text


async def test_district_id_restricts_the_picker_and_the_remembered_user(local: LocalSandbox) -> None:
    store = local.sandbox.store
    main, second = store.district_ids()[:2]
    in_main = next(d for d in store.demo_logins() if d.district_id == main)
    await local.http.get("/oauth/authorize", params=authorize_params(local, login_hint=in_main.user_id))

    response = await local.http.get("/oauth/authorize", params=authorize_params(local, district_id=second))

    assert response.status_code == 200, "the remembered user is in another district"
    page = unescape(response.text)
    # "Signed in as ...": the remembered user is named once, above the picker, to switch away from.
    remembered = re.search(r'<p class="who">.*?</p>', page)
    assert remembered is not None
    assert in_main.label in remembered.group(0)
    picker = page.replace(remembered.group(0), "")
    for login in store.demo_logins():
        assert (login.label in picker) == (login.district_id == second)


async def test_login_hint_outside_the_requested_district_is_refused(local: LocalSandbox) -> None:
    main, second = local.sandbox.store.district_ids()[:2]
    in_main = next(d for d in local.sandbox.store.demo_logins() if d.district_id == main)
    params = authorize_params(local, login_hint=in_main.user_id, district_id=second)

    response = await local.http.get("/oauth/authorize", params=params)

    assert response.status_code == 200
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        "",
        CALLBACK + "/",
        CALLBACK + "?next=/",
        CALLBACK.upper(),
        CALLBACK.replace("http://", "https://"),
        "http://127.0.0.1:8000/auth/callback/../callback",
        "https://attacker.example/auth/callback",
    ],
)
async def test_redirect_uri_must_match_exactly_or_no_redirect(
    local: LocalSandbox, redirect_uri: str | None
) -> None:
    params = authorize_params(local, state="s", login_hint=local.sandbox.store.demo_logins()[0].user_id)
    if redirect_uri is None:
        del params["redirect_uri"]
    else:
        params["redirect_uri"] = redirect_uri

    response = await local.http.get("/oauth/authorize", params=params)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_any_registered_redirect_uri_is_accepted(local: LocalSandbox) -> None:
    params = authorize_params(local, login_hint=local.sandbox.store.demo_logins()[0].user_id)
    params["redirect_uri"] = OTHER_CALLBACK
    response = await local.http.get("/oauth/authorize", params=params)
    assert response.headers["location"].startswith(OTHER_CALLBACK + "?code=")


async def test_unknown_client_gets_a_page_not_a_redirect(local: LocalSandbox) -> None:
    params = authorize_params(local)
    params["client_id"] = "someone-else"
    response = await local.http.get("/oauth/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_wrong_response_type_is_redirected_as_an_error(local: LocalSandbox) -> None:
    params = authorize_params(local, state="s")
    params["response_type"] = "token"
    query = query_of(await local.http.get("/oauth/authorize", params=params))
    assert query["error"] == "unsupported_response_type"
    assert query["state"] == "s"
    assert "code" not in query


# --- instant-login ------------------------------------------------------------------------


async def test_instant_login_goes_to_the_first_redirect_uri_without_state(local: LocalSandbox) -> None:
    login = local.sandbox.store.demo_logins()[0]

    response = await local.http.get("/oauth/instant-login", params=instant_login_params(local, login))

    assert response.status_code == 302
    assert response.headers["location"].startswith(local.config.redirect_uris[0] + "?")
    query = query_of(response)
    assert set(query) == {"code"}
    assert await signed_in_id(local, query["code"]) == login.user_id


async def test_instant_login_picker_links_come_back_to_instant_login(local: LocalSandbox) -> None:
    district = local.sandbox.store.district_ids()[0]
    params = {"client_id": local.config.client_id, "district_id": district}

    page = await local.http.get("/oauth/instant-login", params=params)

    assert page.status_code == 200
    hrefs = [h for h in links_of(page.text) if "login_hint=" in h]
    assert hrefs
    assert all(h.startswith("instant-login?") for h in hrefs)
    response = await local.http.get(f"/oauth/{hrefs[0]}")
    assert set(query_of(response)) == {"code"}


async def test_instant_login_sets_the_sign_in_cookie_for_authorize(local: LocalSandbox) -> None:
    login = local.sandbox.store.demo_logins()[-1]
    await local.http.get("/oauth/instant-login", params=instant_login_params(local, login))

    assert await remembered_id(local, "fresh") == login.user_id


async def test_instant_login_with_unknown_client_is_refused(local: LocalSandbox) -> None:
    response = await local.http.get("/oauth/instant-login", params={"client_id": "nope"})
    assert response.status_code == 400
    assert "location" not in response.headers


# --- the token endpoint -------------------------------------------------------------------


async def test_code_redeems_once(local: LocalSandbox) -> None:
    code = await code_for(local, local.sandbox.store.demo_logins()[0].user_id)

    first = await redeem(local, code)
    second = await redeem(local, code)

    assert first.status_code == 200
    assert first.json()["token_type"] == "bearer"
    assert second.status_code == 400
    assert second.json() == INVALID_CODE


async def test_unknown_code_is_an_invalid_grant(local: LocalSandbox) -> None:
    response = await redeem(local, "not-a-code")
    assert response.status_code == 400
    assert response.json() == INVALID_CODE


async def test_code_expires_after_its_ttl(local: LocalSandbox) -> None:
    clock = Clock()
    local.sandbox.tokens.clock = clock
    user_id = local.sandbox.store.demo_logins()[0].user_id
    fresh = await code_for(local, user_id)
    stale = await code_for(local, user_id)

    clock.now += local.config.code_ttl_seconds - 0.5
    assert (await redeem(local, fresh)).status_code == 200
    clock.now += 0.5
    response = await redeem(local, stale)

    assert response.status_code == 400
    assert response.json() == INVALID_CODE


async def test_redirect_uri_at_the_token_endpoint_must_be_the_same(local: LocalSandbox) -> None:
    code = await code_for(local, local.sandbox.store.demo_logins()[0].user_id)
    response = await redeem(local, code, redirect_uri=OTHER_CALLBACK)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert (await redeem(local, code)).status_code == 400, "a failed attempt uses the code up"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer sandbox-client-secret",
        "Basic " + base64.b64encode(b"sandbox-client-id:wrong").decode(),
        "Basic " + base64.b64encode(b"other-client:sandbox-client-secret").decode(),
        "Basic " + base64.b64encode(b"sandbox-client-id").decode(),
        "Basic not base64!",
    ],
)
async def test_token_endpoint_requires_basic_client_auth(
    local: LocalSandbox, authorization: str | None
) -> None:
    code = await code_for(local, local.sandbox.store.demo_logins()[0].user_id)
    headers = {"Authorization": authorization} if authorization else {}
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}

    response = await local.http.post("/oauth/tokens", json=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await redeem(local, code)).status_code == 200, "a refused client does not use the code"


async def test_client_secret_in_the_body_is_not_client_auth(local: LocalSandbox) -> None:
    code = await code_for(local, local.sandbox.store.demo_logins()[0].user_id)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": local.config.client_id,
        "client_secret": local.config.client_secret,
    }
    response = await local.http.post("/oauth/tokens", data=body)
    assert response.status_code == 401


async def test_form_encoded_body_works(local: LocalSandbox) -> None:
    code = await code_for(local, local.sandbox.store.demo_logins()[0].user_id)
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}

    response = await local.http.post(
        "/oauth/tokens", data=body, auth=(local.config.client_id, local.config.client_secret)
    )

    assert response.status_code == 200
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert response.json()["access_token"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"grant_type=authorization_code"),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("", b"{}"),
        ("application/json", b"{not json"),
        ("application/json", b'["a list"]'),
        ("application/json", b'{"code": 5}'),
        ("application/x-www-form-urlencoded", b"code=a&code=b&grant_type=authorization_code"),
        ("application/x-www-form-urlencoded", b"\xff\xfe"),
    ],
)
async def test_unusable_bodies_are_invalid_requests(
    local: LocalSandbox, content_type: str, body: bytes
) -> None:
    response = await local.http.post(
        "/oauth/tokens",
        content=body,
        headers={"Content-Type": content_type},
        auth=(local.config.client_id, local.config.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"code": "x", "redirect_uri": CALLBACK}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "redirect_uri": CALLBACK}, "invalid_request"),
    ],
)
async def test_grant_type_and_code_are_required(
    local: LocalSandbox, fields: dict[str, str], error: str
) -> None:
    response = await local.http.post(
        "/oauth/tokens", json=fields, auth=(local.config.client_id, local.config.client_secret)
    )
    assert response.status_code == 400
    assert response.json()["error"] == error


# --- PKCE ---------------------------------------------------------------------------------
# Checked only with SandboxConfig(pkce="enforced"); by default, as Clever documents no PKCE, the
# parameters are ignored (README, "Sandbox modes").


@pytest.fixture
async def enforcing() -> AsyncIterator[LocalSandbox]:
    async with local_sandbox(
        SandboxConfig(redirect_uris=(CALLBACK, OTHER_CALLBACK), pkce="enforced")
    ) as local:
        yield local


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def challenged_code(local: LocalSandbox, challenge: str) -> str:
    """A code for the first demo login, authorized with an S256 PKCE challenge."""
    user_id = local.sandbox.store.demo_logins()[0].user_id
    return await code_for(local, user_id, code_challenge=challenge, code_challenge_method="S256")


async def test_pkce_verifier_that_matches_is_accepted(enforcing: LocalSandbox) -> None:
    verifier, challenge = pkce_pair()
    code = await challenged_code(enforcing, challenge)
    assert (await redeem(enforcing, code, code_verifier=verifier)).status_code == 200


@pytest.mark.parametrize("verifier", [None, "", "x" * 43, "short"])
async def test_pkce_wrong_or_missing_verifier_is_an_invalid_grant(
    enforcing: LocalSandbox, verifier: str | None
) -> None:
    _, challenge = pkce_pair()
    code = await challenged_code(enforcing, challenge)
    extra = {} if verifier is None else {"code_verifier": verifier}

    response = await redeem(enforcing, code, **extra)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_pkce_verifier_without_a_challenge_is_refused(enforcing: LocalSandbox) -> None:
    verifier, _ = pkce_pair()
    code = await code_for(enforcing, enforcing.sandbox.store.demo_logins()[0].user_id)
    response = await redeem(enforcing, code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "a" * 43},
        {"code_challenge_method": "S256"},
        {"code_challenge": "too-short", "code_challenge_method": "S256"},
    ],
)
async def test_pkce_authorize_parameters_are_checked(enforcing: LocalSandbox, params: dict[str, str]) -> None:
    user_id = enforcing.sandbox.store.demo_logins()[0].user_id
    response = await enforcing.http.get(
        "/oauth/authorize", params=authorize_params(enforcing, login_hint=user_id, state="p", **params)
    )
    query = query_of(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == "p"
    assert "code" not in query


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge": "a" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "too-short", "code_challenge_method": "S256"},
        {"code_challenge_method": "S256"},
    ],
)
async def test_pkce_parameters_are_ignored_by_default(local: LocalSandbox, params: dict[str, str]) -> None:
    """Not checked at authorize, and the code needs no verifier, nor refuses one (RFC 6749 3.1, 3.2)."""
    user_id = local.sandbox.store.demo_logins()[0].user_id
    verifier, challenge = pkce_pair()
    for extra in ({}, {"code_verifier": verifier}, {"code_verifier": "short"}):
        code = await code_for(local, user_id, **params)
        assert (await redeem(local, code, **extra)).status_code == 200
    code = await challenged_code(local, challenge)
    assert (await redeem(local, code)).status_code == 200


# --- the district-app token list ----------------------------------------------------------


async def district_tokens(local: LocalSandbox, **params: str) -> httpx.Response:
    return await local.http.get(
        "/oauth/tokens",
        params={"owner_type": "district", **params},
        auth=(local.config.client_id, local.config.client_secret),
    )


async def test_district_token_list_has_one_token_per_district(local: LocalSandbox) -> None:
    response = await district_tokens(local)

    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    owners = [item["owner"] for item in body["data"]]
    assert owners == [{"type": "district", "id": d} for d in local.sandbox.store.district_ids()]
    for item in body["data"]:
        assert set(item) == {"id", "created", "owner", "access_token", "scopes"}
        assert re.fullmatch(r"[0-9a-f]{24}", item["id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["created"])
        assert "read:students" in item["scopes"]
    assert body["links"] == [{"rel": "self", "uri": "/oauth/tokens?owner_type=district"}]
    again = (await district_tokens(local)).json()
    assert again["data"] == body["data"], "one token per district connection"


async def test_district_token_list_filters_by_district(local: LocalSandbox) -> None:
    second = local.sandbox.store.district_ids()[1]

    body = (await district_tokens(local, district=second)).json()

    assert [item["owner"]["id"] for item in body["data"]] == [second]
    me = await local.http.get(
        "/v3.0/me", headers={"Authorization": f"Bearer {body['data'][0]['access_token']}"}
    )
    assert me.json()["type"] == "district"
    assert me.json()["data"]["id"] == second


async def test_district_token_list_needs_client_auth_and_owner_type(local: LocalSandbox) -> None:
    anonymous = await local.http.get("/oauth/tokens", params={"owner_type": "district"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    wrong_owner = await local.http.get(
        "/oauth/tokens",
        params={"owner_type": "user"},
        auth=(local.config.client_id, local.config.client_secret),
    )
    assert wrong_owner.status_code == 400


# --- the same over real HTTP --------------------------------------------------------------


async def test_full_code_flow_over_loopback(sandbox: RunningSandbox) -> None:
    login = sandbox.sandbox.store.demo_logins()[0]
    params = {
        "response_type": "code",
        "client_id": sandbox.config.client_id,
        "redirect_uri": sandbox.config.redirect_uris[0],
        "state": "loop",
        "login_hint": login.user_id,
    }
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        authorize = await http.get("/oauth/authorize", params=params)
        code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"]}
        token = await http.post(
            "/oauth/tokens", data=body, auth=(sandbox.config.client_id, sandbox.config.client_secret)
        )
        reused = await http.post(
            "/oauth/tokens", data=body, auth=(sandbox.config.client_id, sandbox.config.client_secret)
        )

    assert token.status_code == 200
    assert reused.status_code == 400
    assert reused.json() == INVALID_CODE


# --- switching users: "Not you?", logout and cancel -----------------------------------------


async def test_not_you_on_the_picker_forgets_the_user_and_comes_back_to_it(local: LocalSandbox) -> None:
    store = local.sandbox.store
    main, second = store.district_ids()[:2]
    teacher = next(d for d in store.demo_logins() if d.district_id == main and d.user_type == "teacher")
    await local.http.get("/oauth/authorize", params=authorize_params(local, login_hint=teacher.user_id))
    picker = await local.http.get(
        "/oauth/authorize", params=authorize_params(local, district_id=second, state="s-9")
    )
    switch = re.search(r'Not you\? <a href="([^"]+)">Switch user</a>', picker.text)
    assert switch is not None

    back = await local.http.get(f"/oauth/{unescape(switch.group(1))}")

    assert back.status_code == 302
    assert SIGN_IN_COOKIE not in local.http.cookies
    again = await local.http.get(back.headers["location"])
    assert again.status_code == 200
    assert "Not you?" not in again.text
    cancel = re.search(r'<a class="cancel" href="([^"]*)"', again.text)
    assert cancel is not None
    assert parse_qs(urlsplit(unescape(cancel.group(1))).query)["state"] == ["s-9"]


async def test_after_logout_authorize_asks_who_again(local: LocalSandbox) -> None:
    login = local.sandbox.store.demo_logins()[0]
    await local.http.get("/oauth/authorize", params=authorize_params(local, login_hint=login.user_id))
    assert query_of(await local.http.get("/oauth/authorize", params=authorize_params(local)))["code"]

    out = await local.http.get("/oauth/logout")

    assert out.status_code == 200
    assert "Signed out" in out.text
    assert out.headers["cache-control"] == "no-store"
    assert SIGN_IN_COOKIE not in local.http.cookies
    page = await local.http.get("/oauth/authorize", params=authorize_params(local))
    assert page.status_code == 200
    assert "Pick a demo user" in page.text


async def logout_to(target: str) -> httpx.Response:
    """Logout's answer to `post_logout_redirect_uri=target`, in a sandbox that has
    LOGOUT_REDIRECT registered for logout."""
    config = SandboxConfig(redirect_uris=(CALLBACK,), post_logout_redirect_uris=(LOGOUT_REDIRECT,))
    async with local_sandbox(config) as local:
        return await local.http.get("/oauth/logout", params={"post_logout_redirect_uri": target})


@pytest.mark.parametrize(
    "target",
    [
        "/oauth/authorize?client_id=x",
        "http://sandbox.test/",
        CALLBACK,
        LOGOUT_REDIRECT,
    ],
)
async def test_logout_goes_back_to_its_own_pages_and_registered_uris(target: str) -> None:
    out = await logout_to(target)
    assert out.status_code == 302
    assert out.headers["location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http://sandbox.test@evil.example/",
        "https://demo.example.org/other",  # not exactly what was registered
        f"{CALLBACK}?extra=1",
        "javascript:alert(1)",
        "/oauth/\nSet-Cookie: x=1",
    ],
)
async def test_logout_never_redirects_anywhere_else(target: str) -> None:
    out = await logout_to(target)
    assert out.status_code == 400
    assert "location" not in out.headers
    assert "evil.example" not in out.text


async def test_the_portal_picker_cancels_to_the_primary_redirect_uri(local: LocalSandbox) -> None:
    params = {"client_id": local.config.client_id}
    page = await local.http.get("/oauth/instant-login", params=params)
    cancel = re.search(r'<a class="cancel" href="([^"]*)"', page.text)
    assert cancel is not None
    target = unescape(cancel.group(1))
    assert target.startswith(local.config.redirect_uris[0] + "?")
    assert parse_qs(urlsplit(target).query) == {"error": ["access_denied"]}
