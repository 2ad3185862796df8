from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from app.login.transaction import LoginTransaction, authorize_url, exchange_verifier


def _new(district_id: str | None = None) -> LoginTransaction:
    return LoginTransaction.new(
        return_to="https://app.example.org/x",
        login_method="clever_sso",
        district_id=district_id,
    )


def test_each_transaction_has_fresh_unguessable_values() -> None:
    first, second = _new(), _new()
    for name in ("state", "code_verifier", "nonce"):
        assert getattr(first, name) != getattr(second, name)
        assert len(getattr(first, name)) >= 43  # >= 256 bits of randomness, base64url
    assert 43 <= len(first.code_verifier) <= 128


def test_json_round_trip() -> None:
    transaction = _new("d1")
    assert LoginTransaction.from_json(transaction.to_json()) == transaction


@pytest.mark.parametrize("district_id", [None, "5f0c1a2b3c4d5e6f7a8b9c0d"])
def test_authorize_url_carries_state_nonce_and_an_s256_challenge(district_id: str | None) -> None:
    transaction = _new(district_id)
    url = authorize_url(
        "https://clever.com",
        client_id="cid",
        redirect_uri="https://l.example.org/cb",
        transaction=transaction,
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "clever.com", "/oauth/authorize")
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    digest = hashlib.sha256(transaction.code_verifier.encode()).digest()
    assert query == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://l.example.org/cb",
        "state": transaction.state,
        "nonce": transaction.nonce,
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        **({"district_id": district_id} if district_id else {}),
    }
    assert transaction.code_verifier not in url


def test_without_pkce_the_authorize_url_has_no_challenge_and_the_exchange_no_verifier() -> None:
    transaction = _new()
    url = authorize_url(
        "https://clever.com",
        client_id="cid",
        redirect_uri="https://l.example.org/cb",
        transaction=transaction,
        pkce=False,
    )
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    assert set(query) == {"response_type", "client_id", "redirect_uri", "state", "nonce"}
    assert exchange_verifier(transaction, pkce=False) is None
    assert exchange_verifier(transaction) == transaction.code_verifier
