"""AES-256-GCM for what is stored in Redis, bound to the key it is stored under."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT = b"\x01"
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """The stored value was altered, belongs under another name, or the key is wrong."""


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, _FORMAT + associated)


def unseal(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _FORMAT:
        raise SealBroken("unknown format")
    nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, _FORMAT + associated)
    except InvalidTag as exc:
        raise SealBroken("authentication failed") from exc
