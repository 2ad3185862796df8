"""The sandbox's signing key: RS256 tokens that verify against its JWKS and no other."""

from __future__ import annotations

from typing import cast

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, KeySetSerialization

from clever_sandbox.keys import SigningKeys

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def published_keys(keys: SigningKeys) -> KeySet:
    """The JWKS as a client would load it."""
    return KeySet.import_key_set(cast("KeySetSerialization", keys.jwks()))


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys.generate()


def test_jwks_holds_the_public_key_only(keys: SigningKeys) -> None:
    jwks = keys.jwks()
    assert [key["kid"] for key in jwks["keys"]] == [keys.kid]
    key = jwks["keys"][0]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert not PRIVATE_MEMBERS & set(key)


def test_signed_claims_verify_against_the_jwks(keys: SigningKeys) -> None:
    token = jwt.decode(keys.sign({"sub": "u1", "n": 1}), published_keys(keys), algorithms=["RS256"])
    assert token.claims == {"sub": "u1", "n": 1}
    assert token.header == {"alg": "RS256", "kid": keys.kid, "typ": "JWT"}


def test_a_changed_token_does_not_verify(keys: SigningKeys) -> None:
    header, payload, signature = keys.sign({"sub": "u1"}).split(".")
    forged_payload = keys.sign({"sub": "admin"}).split(".")[1]
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged_payload}.{signature}", published_keys(keys))
    assert payload != forged_payload


def test_each_sandbox_gets_its_own_key(keys: SigningKeys) -> None:
    other = SigningKeys.generate()
    assert other.kid != keys.kid
    token = other.sign({"sub": "u1"})
    published = published_keys(keys)
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(token, published)
    with pytest.raises(BadSignatureError):
        jwt.decode(token, published.keys[0])
