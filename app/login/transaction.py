"""The one-time login transaction: what `/auth/login` remembers until Clever sends the browser back.

It holds the OAuth `state`, the PKCE verifier, the OIDC nonce and where to go afterwards. It lives
in Redis under a name derived from the browser's pending-login cookie and `state` (app.login.pending),
and is consumed atomically before any call to Clever.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

LoginMethod = Literal["clever_sso", "clever_portal"]
_STATE_BYTES = 32
# What `secrets.token_urlsafe(_STATE_BYTES)` gives: 43 base64url characters.
_STATE = re.compile(r"[A-Za-z0-9_-]{43}")


def is_state(text: str) -> bool:
    """Whether `text` could be a state this service minted; anything else names no transaction."""
    return _STATE.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class LoginTransaction:
    state: str
    code_verifier: str
    nonce: str
    return_to: str
    login_method: LoginMethod
    district_id: str | None = None

    @classmethod
    def new(
        cls, *, return_to: str, login_method: LoginMethod, district_id: str | None = None
    ) -> LoginTransaction:
        return cls(
            state=secrets.token_urlsafe(_STATE_BYTES),
            code_verifier=secrets.token_urlsafe(48),  # 64 characters, inside RFC 7636's 43..128
            nonce=secrets.token_urlsafe(32),
            return_to=return_to,
            login_method=login_method,
            district_id=district_id,
        )

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> LoginTransaction:
        """The transaction `to_json` wrote; TransactionInvalid for anything else."""
        try:
            fields = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise TransactionInvalid("not JSON") from exc
        if not isinstance(fields, dict) or set(fields) != _FIELDS:
            raise TransactionInvalid("not a transaction")
        if not all(isinstance(fields[name], str) for name in _FIELDS - {"district_id"}):
            raise TransactionInvalid("a field is not a string")
        if fields["login_method"] not in _LOGIN_METHODS or not isinstance(fields["district_id"], str | None):
            raise TransactionInvalid("unknown login method or district id")
        return cls(**fields)


class TransactionInvalid(ValueError):
    """Stored bytes that are not a transaction this code wrote (another version, or damage)."""


_FIELDS = frozenset(LoginTransaction.__dataclass_fields__)
_LOGIN_METHODS: frozenset[str] = frozenset(get_args(LoginMethod))


def authorize_url(
    oauth_url: str, *, client_id: str, redirect_uri: str, transaction: LoginTransaction, pkce: bool = True
) -> str:
    """Clever's authorize URL for this transaction (authorization code, PKCE S256, nonce).

    `pkce` false (CLEVER_PKCE=false) leaves the challenge out; the token exchange then sends no
    verifier either (`exchange_verifier`).
    """
    params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", transaction.state),
        ("nonce", transaction.nonce),
    ]
    if pkce:
        params += [
            ("code_challenge", create_s256_code_challenge(transaction.code_verifier)),
            ("code_challenge_method", "S256"),
        ]
    if transaction.district_id:
        params.append(("district_id", transaction.district_id))
    return str(add_params_to_uri(f"{oauth_url}/oauth/authorize", params))


def exchange_verifier(transaction: LoginTransaction, *, pkce: bool = True) -> str | None:
    """The `code_verifier` the token exchange sends: none when the authorize request carried no
    challenge (`pkce` false), as a server that checks PKCE refuses a verifier without one."""
    return transaction.code_verifier if pkce else None
