from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from app.login.idtoken import IdTokenInvalid, IdTokenKeyUnknown, import_jwks, verify_id_token

NOW = 1_800_000_000
ISSUER = "https://clever.example"
CLIENT = "client-1"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k2"})
KEYS = import_jwks({"keys": [KEY.as_dict(private=False)]})


def _claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "user-1",
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "nonce": "n1",
        "district": "d1",
        "user_type": "teacher",
        "email": "t@example.org",
        "given_name": "G",
        "family_name": "H",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: RSAKey = KEY, kid: str = "k1") -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def _verify(token: str, nonce: str = "n1") -> object:
    return verify_id_token(token, KEYS, issuer=ISSUER, client_id=CLIENT, nonce=nonce, now=NOW)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_good_token_gives_its_claims() -> None:
    claims = verify_id_token(_sign(_claims()), KEYS, issuer=ISSUER, client_id=CLIENT, nonce="n1", now=NOW)
    assert (claims.sub, claims.district, claims.user_type, claims.email) == (
        "user-1",
        "d1",
        "teacher",
        "t@example.org",
    )


def test_missing_optional_claims_read_as_none() -> None:
    token = _sign(_claims(email=None, district=None, user_type=None, given_name=None, family_name=None))
    claims = verify_id_token(token, KEYS, issuer=ISSUER, client_id=CLIENT, nonce="n1", now=NOW)
    assert (claims.email, claims.district, claims.user_type) == (None, None, None)


@pytest.mark.parametrize(
    "claims",
    [
        _claims(iss="https://evil.example"),
        _claims(aud="another-client"),
        _claims(exp=NOW - 61),
        _claims(nonce="other"),
        _claims(nonce=None),
        _claims(nonce=["n1"]),
        _claims(nonce={"n1": "n1"}),
        _claims(aud=[CLIENT, "another-client"]),
        _claims(aud=[CLIENT, "another-client"], azp="another-client"),
        _claims(aud=CLIENT, azp="another-client"),
        _claims(aud=[CLIENT], azp="another-client"),
        _claims(sub=None),
        _claims(iss=None),
    ],
)
def test_claims_that_do_not_check_out_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(IdTokenInvalid):
        _verify(_sign(claims))


@pytest.mark.parametrize(
    "claims",
    [
        _claims(aud=[CLIENT]),
        _claims(aud=[CLIENT], azp=CLIENT),
        _claims(aud=[CLIENT, "another-client"], azp=CLIENT),
        _claims(azp=CLIENT),
    ],
)
def test_audiences_that_name_us_as_the_authorized_party_are_accepted(claims: dict[str, Any]) -> None:
    assert _verify(_sign(claims))


def test_expiry_allows_a_minute_of_clock_skew() -> None:
    assert _verify(_sign(_claims(exp=NOW - 30)))


def test_a_token_signed_by_an_unknown_key_asks_for_a_jwks_refresh() -> None:
    with pytest.raises(IdTokenKeyUnknown):
        _verify(_sign(_claims(), OTHER_KEY, kid="k2"))


def test_a_forged_signature_with_a_known_kid_is_refused() -> None:
    with pytest.raises(IdTokenInvalid):
        _verify(_sign(_claims(), OTHER_KEY, kid="k1"))


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = _sign(_claims()).split(".")
    with pytest.raises(IdTokenInvalid):
        _verify(".".join((header, _b64(_claims(sub="someone-else")), signature)))


def test_alg_none_is_refused() -> None:
    token = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{_b64(_claims())}."
    with pytest.raises(IdTokenInvalid):
        _verify(token)


def test_an_hmac_token_keyed_with_the_public_key_is_refused() -> None:
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.{_b64(_claims())}"
    mac = hmac.new(KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(IdTokenInvalid):
        _verify(forged)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "é.é.é"])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(IdTokenInvalid):
        _verify(token)


def test_an_unusable_jwks_is_refused() -> None:
    with pytest.raises(IdTokenInvalid):
        import_jwks({"keys": [{"kty": "nope"}]})
