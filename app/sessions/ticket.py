"""The session ticket: what the cookie (or bearer token) carries.

`v1.<id>.<key>.<mac>`: a random 256-bit session id, a random 256-bit key that encrypts this
session's record in Redis, and an HMAC-SHA256 over both, bound to what the ticket is for. The key
never reaches Redis, so a Redis dump alone opens nothing; the MAC lets a forged or damaged ticket
be refused before any Redis round trip.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

VERSION = "v1"
_ID_BYTES = 32
_KEY_BYTES = 32
_MAC_BYTES = 32
MAX_TICKET_LENGTH = 256  # anything longer is refused unread


@dataclass(frozen=True, slots=True)
class Ticket:
    session_id: bytes
    key: bytes
    # Which secret signed it (see app.keyring): 0 the current one, n the n-th retired one.
    generation: int = 0

    @classmethod
    def new(cls) -> Ticket:
        return cls(session_id=secrets.token_bytes(_ID_BYTES), key=secrets.token_bytes(_KEY_BYTES))

    def encode(self, signing_key: bytes, purpose: str) -> str:
        mac = _mac(signing_key, purpose, self.session_id, self.key)
        return ".".join((VERSION, _b64(self.session_id), _b64(self.key), _b64(mac)))

    def storage_id(self, hashing_key: bytes) -> str:
        """The name the session has in Redis: a keyed hash of the id, never the id itself."""
        return hmac.new(hashing_key, self.session_id, hashlib.sha256).hexdigest()


def decode_ticket(
    text: str, signing_key: bytes, purpose: str, *, retired_keys: Sequence[bytes] = ()
) -> Ticket | None:
    """The Ticket in `text`, or None when it is malformed, of another version or badly signed.

    A ticket signed with one of `retired_keys` (secrets being rotated out) is still accepted;
    its `generation` tells which key signed it.
    """
    if not text or len(text) > MAX_TICKET_LENGTH:
        return None
    parts = text.split(".")
    if len(parts) != 4 or parts[0] != VERSION:
        return None
    try:
        session_id, key, mac = (_unb64(part) for part in parts[1:])
    except ValueError:
        return None
    if len(session_id) != _ID_BYTES or len(key) != _KEY_BYTES or len(mac) != _MAC_BYTES:
        return None
    for generation, candidate in enumerate((signing_key, *retired_keys)):
        if hmac.compare_digest(mac, _mac(candidate, purpose, session_id, key)):
            return Ticket(session_id=session_id, key=key, generation=generation)
    return None


def _mac(signing_key: bytes, purpose: str, session_id: bytes, key: bytes) -> bytes:
    message = b"|".join((VERSION.encode(), purpose.encode(), session_id, key))
    return hmac.new(signing_key, message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
