"""Who signed in, as the sandbox tells it: id_token, discovery and JWKS, /userinfo, /v3.0/me."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from clever_sandbox.config import SandboxConfig
from clever_sandbox.district import DemoLogin
from clever_sandbox.identity import login_user
from tests.conftest import RunningSandbox
from tests.sandbox.asgi import BASE_URL, LocalSandbox, local_sandbox, token_answer

CALLBACK = "http://127.0.0.1:8000/auth/callback"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


@pytest.fixture
async def local() -> AsyncIterator[LocalSandbox]:
    async with local_sandbox(SandboxConfig(redirect_uris=(CALLBACK,))) as local:
        yield local


async def sign_in(local: LocalSandbox, login: DemoLogin, **extra: str) -> dict[str, Any]:
    """The token answer for `login` in its role, through authorize and the token endpoint."""
    return await token_answer(local, login.user_id, login_role=login.user_type, **extra)


async def published_keys(http: httpx.AsyncClient) -> KeySet:
    discovery = (await http.get("/.well-known/openid-configuration")).json()
    jwks = (await http.get(discovery["jwks_uri"])).json()
    return KeySet.import_key_set(jwks)


def demo_logins(local: LocalSandbox) -> list[DemoLogin]:
    """The district-authorized demo logins (Library logins are tested on their own below)."""
    return [login for login in local.sandbox.store.demo_logins() if login.district_id]


def library_logins(local: LocalSandbox) -> list[DemoLogin]:
    return [login for login in local.sandbox.store.demo_logins() if not login.district_id]


# --- discovery and keys -------------------------------------------------------------------


async def test_discovery_document_names_the_sandbox_endpoints(local: LocalSandbox) -> None:
    doc = (await local.http.get("/.well-known/openid-configuration")).json()

    assert doc["issuer"] == BASE_URL
    assert doc["authorization_endpoint"] == f"{BASE_URL}/oauth/authorize"
    assert doc["token_endpoint"] == f"{BASE_URL}/oauth/tokens"
    assert doc["userinfo_endpoint"] == f"{BASE_URL}/userinfo"
    assert doc["jwks_uri"] == f"{BASE_URL}/oauth/certs"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    # Clever documents no PKCE, so the default sandbox does not advertise it (README, "Sandbox modes").
    assert "code_challenge_methods_supported" not in doc
    assert {"sub", "user_type", "district", "multi_role_user_id"} <= set(doc["claims_supported"])
    assert doc["subject_types_supported"]
    assert doc["scopes_supported"]


async def test_discovery_document_lists_s256_only_where_pkce_is_enforced() -> None:
    async with local_sandbox(SandboxConfig(pkce="enforced")) as local:
        doc = (await local.http.get("/.well-known/openid-configuration")).json()
    assert doc["code_challenge_methods_supported"] == ["S256"]


async def test_configured_issuer_wins_over_the_request_host() -> None:
    config = SandboxConfig(issuer="https://clever.example.test/")
    async with local_sandbox(config) as local:
        doc = (await local.http.get("/.well-known/openid-configuration")).json()
        login = demo_logins(local)[0]
        token = await sign_in(local, login)
        keys = KeySet.import_key_set((await local.http.get("/oauth/certs")).json())
    assert doc["issuer"] == "https://clever.example.test"
    assert doc["jwks_uri"] == "https://clever.example.test/oauth/certs"
    assert jwt.decode(token["id_token"], keys).claims["iss"] == doc["issuer"]


async def test_certs_publish_only_public_keys(local: LocalSandbox) -> None:
    jwks = (await local.http.get("/oauth/certs")).json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "RSA"
    assert key["kid"] == local.sandbox.keys.kid
    assert not PRIVATE_MEMBERS & set(key)


# --- id_token -----------------------------------------------------------------------------


async def test_id_token_verifies_against_the_jwks_with_the_right_claims(local: LocalSandbox) -> None:
    keys = await published_keys(local.http)
    for login in demo_logins(local):
        answer = await sign_in(local, login, nonce=f"n-{login.user_id}")
        token = jwt.decode(answer["id_token"], keys, algorithms=["RS256"])
        record = local.sandbox.store.user(login.user_id)
        assert record is not None
        role = record["roles"][login.user_type]
        claims = token.claims

        assert token.header["alg"] == "RS256"
        assert token.header["kid"] == local.sandbox.keys.kid
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": BASE_URL},
            aud={"essential": True, "value": local.config.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": f"n-{login.user_id}"},
        ).validate(claims)
        assert claims["exp"] - claims["iat"] == local.config.id_token_ttl_seconds
        assert claims["sub"] == claims["multi_role_user_id"] == record["id"]
        assert claims["user_id"] == role["legacy_id"]
        assert claims["user_id"] != claims["sub"]
        assert claims["user_type"] == login.user_type
        assert claims["district"] == record["district"] == login.district_id
        assert claims["given_name"] == record["name"]["first"]
        assert claims["family_name"] == record["name"]["last"]
        assert claims["email_verified"] is False
        assert claims.get("email") == record["email"]
        assert "email" in claims or record["email"] is None


async def test_multi_role_person_gets_the_legacy_id_of_the_login_role(local: LocalSandbox) -> None:
    by_user: dict[str, list[DemoLogin]] = {}
    for login in demo_logins(local):
        by_user.setdefault(login.user_id, []).append(login)
    teacher_and_staff = next(logins for logins in by_user.values() if len(logins) > 1)
    record = local.sandbox.store.user(teacher_and_staff[0].user_id)
    assert record is not None

    seen = set()
    for login in teacher_and_staff:
        claims = jwt.decode(
            (await sign_in(local, login))["id_token"], await published_keys(local.http)
        ).claims
        assert claims["user_type"] == login.user_type
        assert claims["user_id"] == record["roles"][login.user_type]["legacy_id"]
        seen.add(claims["user_id"])
    assert len(seen) == len(teacher_and_staff)


async def test_nonce_is_left_out_when_not_sent(local: LocalSandbox) -> None:
    answer = await sign_in(local, demo_logins(local)[0])
    assert "nonce" not in jwt.decode(answer["id_token"], await published_keys(local.http)).claims


async def test_id_token_from_another_key_does_not_verify(local: LocalSandbox) -> None:
    async with local_sandbox(SandboxConfig(redirect_uris=(CALLBACK,))) as other:
        foreign = (await sign_in(other, demo_logins(other)[0]))["id_token"]
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(foreign, await published_keys(local.http))


async def test_oidc_can_be_switched_off_and_reset_restores_it(local: LocalSandbox) -> None:
    login = demo_logins(local)[0]
    off = await local.http.put("/sandbox/oidc", json={"enabled": False})
    assert off.json() == {"enabled": False}

    assert "id_token" not in await sign_in(local, login)
    assert set(await sign_in(local, login)) == {"access_token", "token_type"}

    local.sandbox.reset()
    assert (await local.http.get("/sandbox/oidc")).json() == {"enabled": True}
    assert "id_token" in await sign_in(local, login)


async def test_sandbox_configured_without_oidc_sends_no_id_token() -> None:
    async with local_sandbox(SandboxConfig(oidc_enabled=False)) as local:
        answer = await token_answer(local, demo_logins(local)[0].user_id)
    assert "id_token" not in answer


@pytest.mark.parametrize("body", [{"enabled": "no"}, {}, {"enabled": True, "x": 1}, [True], "true"])
async def test_oidc_switch_rejects_bad_bodies(local: LocalSandbox, body: object) -> None:
    response = await local.http.put("/sandbox/oidc", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert local.sandbox.oidc_enabled is True


async def test_oidc_switch_rejects_invalid_json(local: LocalSandbox) -> None:
    response = await local.http.put(
        "/sandbox/oidc", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


# --- /userinfo and /v3.0/me ---------------------------------------------------------------


async def test_userinfo_describes_the_login_for_every_demo_user(local: LocalSandbox) -> None:
    for login in demo_logins(local):
        token = (await sign_in(local, login))["access_token"]
        response = await local.http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        record = local.sandbox.store.user(login.user_id)
        assert record is not None
        role = record["roles"][login.user_type]

        assert response.status_code == 200
        assert "X-RateLimit-Remaining" not in response.headers  # Clever sends them on 429s only
        info = response.json()
        assert info["sub"] == info["multi_role_user_id"] == record["id"]
        assert info["user_id"] == role["legacy_id"]
        assert info["user_type"] == login.user_type
        assert info["district"] == info["district_id"] == record["district"]
        assert info["name"]["first"] == record["name"]["first"]
        assert info["name"]["last"] == record["name"]["last"]
        assert info["schools"] == list(role.get("schools") or [])
        assert info.get("email") == record["email"]
        assert info["email_verified"] is False


async def test_userinfo_answers_post_too(local: LocalSandbox) -> None:
    token = (await sign_in(local, demo_logins(local)[0]))["access_token"]
    response = await local.http.post("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_me_is_type_user_for_every_kind_of_demo_user(local: LocalSandbox) -> None:
    kinds = set()
    for login in demo_logins(local):
        token = (await sign_in(local, login))["access_token"]
        response = await local.http.get("/v3.0/me", headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        body = response.json()
        assert body["type"] == "user"
        assert body["data"] == {
            "id": login.user_id,
            "district": login.district_id,
            "type": "user",
            "authorized_by": "district",
        }
        rels = {link["rel"]: link["uri"] for link in body["links"]}
        assert rels["canonical"] == f"/v3.0/users/{login.user_id}"
        assert rels["district"] == f"/v3.0/districts/{login.district_id}"
        assert "self" in rels
        kinds.add(login.user_type)
    assert kinds == {"student", "teacher", "staff", "district_admin", "contact"}


@pytest.mark.parametrize("path", ["/v3.0/me", "/userinfo"])
@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer "])
async def test_bad_tokens_get_401(local: LocalSandbox, path: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await local.http.get(path, headers=headers)
    assert response.status_code == 401
    assert "message" in response.json()


async def test_userinfo_is_for_user_tokens_only(local: LocalSandbox) -> None:
    token = local.sandbox.tokens.district_token(local.sandbox.store.district_ids()[0], local.config.client_id)
    response = await local.http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_userinfo_after_the_user_is_deleted_is_401(local: LocalSandbox) -> None:
    login = next(d for d in demo_logins(local) if d.user_type == "student")
    token = (await sign_in(local, login))["access_token"]
    local.sandbox.store.delete_user(login.user_id)
    response = await local.http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_login_user_refuses_a_role_the_person_does_not_hold() -> None:
    record = {"id": "u1", "district": "d1", "name": {"first": "A", "last": "B"}, "roles": {"student": {}}}
    assert login_user(record, "teacher") is None
    student = login_user(record, "student")
    assert student is not None
    assert student.legacy_id == "u1", "without a legacy id the v3 id stands in"
    assert student.email is None


# --- over real HTTP -----------------------------------------------------------------------


async def test_id_token_over_loopback_uses_the_request_base_url(sandbox: RunningSandbox) -> None:
    login = sandbox.sandbox.store.demo_logins()[0]
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        params = {
            "response_type": "code",
            "client_id": sandbox.config.client_id,
            "redirect_uri": sandbox.config.redirect_uris[0],
            "login_hint": login.user_id,
        }
        location = (await http.get("/oauth/authorize", params=params)).headers["location"]
        body = {
            "grant_type": "authorization_code",
            "code": httpx.URL(location).params["code"],
            "redirect_uri": sandbox.config.redirect_uris[0],
        }
        answer = (
            await http.post(
                "/oauth/tokens", json=body, auth=(sandbox.config.client_id, sandbox.config.client_secret)
            )
        ).json()
        keys = await published_keys(http)
    assert jwt.decode(answer["id_token"], keys).claims["iss"] == sandbox.url


# --- Clever Library logins ------------------------------------------------------------------


async def test_library_logins_get_no_id_token_even_with_oidc_on(local: LocalSandbox) -> None:
    assert local.sandbox.oidc_enabled
    assert library_logins(local)
    for login in library_logins(local):
        answer = await sign_in(local, login, nonce="n-1")
        assert "id_token" not in answer
        assert answer["access_token"]


async def test_userinfo_and_me_of_a_library_login_have_no_district(local: LocalSandbox) -> None:
    for login in library_logins(local):
        token = (await sign_in(local, login))["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        info = (await local.http.get("/userinfo", headers=auth)).json()
        assert info["sub"] == login.user_id
        assert info["user_type"] == login.user_type
        assert info["authorized_by"] == "teacher"
        assert "district" not in info
        assert "district_id" not in info
        me = (await local.http.get("/v3.0/me", headers=auth)).json()
        assert me["data"] == {"id": login.user_id, "type": "user", "authorized_by": "teacher"}
        assert "district" not in {link["rel"] for link in me["links"]}


async def test_a_connected_district_takes_precedence_over_a_library_install(local: LocalSandbox) -> None:
    store = local.sandbox.store
    (both,) = [
        login
        for login in demo_logins(local)
        if login.user_type == "teacher"
        and store.authorized_by(login.user_id) == "district"
        and login.user_id in store._library_teachers  # the seed's install
    ]
    answer = await sign_in(local, both, nonce="n-2")
    assert "id_token" in answer
    info = (
        await local.http.get("/userinfo", headers={"Authorization": f"Bearer {answer['access_token']}"})
    ).json()
    assert info["authorized_by"] == "district"
    assert info["district"] == both.district_id


async def library_token(local: LocalSandbox, label: str) -> tuple[DemoLogin, dict[str, str]]:
    login = next(login for login in library_logins(local) if login.label.endswith(f"({label})"))
    token = (await sign_in(local, login))["access_token"]
    return login, {"Authorization": f"Bearer {token}"}


async def test_a_library_teacher_token_reads_the_teachers_shared_sections_and_students(
    local: LocalSandbox,
) -> None:
    login, auth = await library_token(local, "Library teacher")
    sections = (await local.http.get(f"/v3.1/users/{login.user_id}/sections", headers=auth)).json()["data"]
    assert sections
    assert all(login.user_id in item["data"]["teachers"] for item in sections)
    students = (await local.http.get(f"/v3.1/users/{login.user_id}/mystudents", headers=auth)).json()["data"]
    enrolled = {student for item in sections for student in item["data"]["students"]}
    assert {item["data"]["id"] for item in students} == enrolled
    section_id = sections[0]["data"]["id"]
    assert (await local.http.get(f"/v3.1/sections/{section_id}", headers=auth)).status_code == 200
    # Nothing beyond what was shared: no district, no listing, no other user.
    assert (
        (await local.http.get("/v3.1/sections", headers=auth)).headers["content-type"].startswith("text/html")
    )
    district = local.sandbox.store.district_ids()[0]
    assert (await local.http.get(f"/v3.1/districts/{district}", headers=auth)).status_code == 404
    other = next(login for login in demo_logins(local))
    assert (await local.http.get(f"/v3.1/users/{other.user_id}", headers=auth)).status_code == 404


async def test_a_library_teacher_with_no_sections_reads_an_empty_list(local: LocalSandbox) -> None:
    login, auth = await library_token(local, "Library teacher, no sections")
    response = await local.http.get(f"/v3.1/users/{login.user_id}/sections", headers=auth)
    assert response.status_code == 200
    assert response.json()["data"] == []


async def test_a_library_student_reads_only_the_sections_library_teachers_shared(local: LocalSandbox) -> None:
    login, auth = await library_token(local, "Library student, two Library teachers")
    store = local.sandbox.store
    every = store.roster.sections_of_user({"id": login.user_id})
    shared = (await local.http.get(f"/v3.1/users/{login.user_id}/sections", headers=auth)).json()["data"]
    shared_teachers = {item["data"]["teacher"] for item in shared}
    assert len(shared_teachers) == 2  # two Library teachers
    assert len(every) > len(shared)  # a section of a teacher who never installed the app is not shared
    unshared = next(section for section in every if section["id"] not in {i["data"]["id"] for i in shared})
    assert (await local.http.get(f"/v3.1/sections/{unshared['id']}", headers=auth)).status_code == 404
