"""Keys derived from SESSION_SECRET, one per purpose, so no key ever serves two jobs.

Rotation: `SESSION_SECRET_PREVIOUS` names secrets being retired. Everything new is signed,
named and sealed with the current secret; what an older secret signed (a session ticket, a
pending-login cookie) is still recognised, and keeps the Redis names that secret gave it, until
it expires. Keep a retired secret for one SESSION_ABSOLUTE_TIMEOUT, then drop it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(
        secret.encode()
    )


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys of the current secret, and `previous`: one Keyring per retired secret, newest first.

    A ticket's `generation` says which of them signed it: 0 is the current secret, n is
    `previous[n - 1]`.
    """

    ticket_signing: bytes
    transaction_signing: bytes
    storage_hashing: bytes
    district_token_sealing: bytes
    # Seals the roster updates the events worker leaves beside a session (app.sessions.store).
    session_update_sealing: bytes
    # Seals the district roster copies the worker keeps (app.roster.store).
    roster_sealing: bytes
    previous: tuple[Keyring, ...] = ()

    @classmethod
    def from_secret(cls, secret: str, previous: Sequence[str] = ()) -> Keyring:
        return cls(
            ticket_signing=derive_key(secret, "clever-login session ticket signature v1"),
            transaction_signing=derive_key(secret, "clever-login login transaction signature v1"),
            storage_hashing=derive_key(secret, "clever-login storage key hashing v1"),
            district_token_sealing=derive_key(secret, "clever-login district token sealing v1"),
            session_update_sealing=derive_key(secret, "clever-login session update sealing v1"),
            roster_sealing=derive_key(secret, "clever-login roster sealing v1"),
            previous=tuple(cls.from_secret(old) for old in previous),
        )

    @property
    def generations(self) -> tuple[Keyring, ...]:
        """The current keys first, then each retired secret's."""
        return (self, *self.previous)

    def generation(self, index: int) -> Keyring:
        return self.generations[index]
