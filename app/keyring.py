"""Keys derived from SESSION_SECRET, one per purpose, so no key ever serves two jobs."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret.encode()
    )


@dataclass(frozen=True, slots=True)
class Keyring:
    ticket_signing: bytes
    transaction_signing: bytes
    storage_hashing: bytes
    district_token_sealing: bytes

    @classmethod
    def from_secret(cls, secret: str) -> Keyring:
        return cls(
            ticket_signing=derive_key(secret, "clever-login session ticket signature v1"),
            transaction_signing=derive_key(secret, "clever-login login transaction signature v1"),
            storage_hashing=derive_key(secret, "clever-login storage key hashing v1"),
            district_token_sealing=derive_key(secret, "clever-login district token sealing v1"),
        )
