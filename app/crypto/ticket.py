"""The session ticket: what the cookie (or bearer token) carries.

`v1.<id>.<key>.<mac>`: a random 256-bit session id, a random 256-bit key that encrypts this
session's record in Redis, and an HMAC-SHA256 over both, bound to what the ticket is for. The key
never reaches Redis, so a Redis dump alone opens nothing; the MAC lets a forged or damaged ticket
be refused before any Redis round trip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
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
    # Which secret signed it (see app.crypto.keyring): 0 the current one, n the n-th retired one.
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
    # Only the one canonical spelling of each part is accepted (see `_canonical_b64`), so a
    # changed ticket is never the same ticket.
    match = _TICKET.fullmatch(text)
    if match is None:
        return None
    session_id, key, mac = (_unb64(part) for part in match.groups())
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
    """Decode a part that `_TICKET` matched (so canonical, and of the right length)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical_b64(size: int) -> str:
    """A pattern for exactly the unpadded base64url spellings of `size` bytes that `_b64` writes.

    The decoder would skip foreign characters and ignore the last character's spare bits; the
    pattern allows neither, so one byte string has one spelling only.
    """
    chars, spare_bits = -(-size * 8 // 6), (-size * 8) % 6
    # The last character's value must have its `spare_bits` low bits clear.
    last = "".join(_ALPHABET[value] for value in range(0, 64, 1 << spare_bits))
    return f"[A-Za-z0-9_-]{{{chars - 1}}}[{re.escape(last)}]"


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TICKET = re.compile(
    rf"{re.escape(VERSION)}\.({_canonical_b64(_ID_BYTES)})\.({_canonical_b64(_KEY_BYTES)})"
    rf"\.({_canonical_b64(_MAC_BYTES)})"
)
