"""The sandbox's id_token signing key and the JWKS that publishes it."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"


class SigningKeys:
    """One RSA key, made fresh for each sandbox; it lives only in memory."""

    def __init__(self, key: RSAKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKeys:
        # The kid is the key's RFC 7638 thumbprint, so it is stable for a given key.
        key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
        return cls(key)

    @property
    def kid(self) -> str:
        kid = self._key.kid
        assert kid is not None
        return kid

    def jwks(self) -> dict[str, Any]:
        """The public half only, as served at `/oauth/certs`."""
        return dict(KeySet([self._key]).as_dict(private=False))

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, claims, self._key)
