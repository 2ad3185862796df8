from __future__ import annotations

import secrets

import pytest

from app.crypto.sealing import SealBroken, seal, unseal

KEY = secrets.token_bytes(32)


def test_round_trip_and_ciphertext_hides_the_plaintext() -> None:
    plaintext = b'{"user": {"name": {"first": "Ada"}}}'
    sealed = seal(KEY, plaintext, b"cl:s:abc")
    assert b"Ada" not in sealed
    assert unseal(KEY, sealed, b"cl:s:abc") == plaintext
    assert seal(KEY, plaintext, b"cl:s:abc") != sealed  # a fresh nonce each time


@pytest.mark.parametrize("index", [0, 1, 12, 13, -1])
def test_any_flipped_byte_breaks_the_seal(index: int) -> None:
    sealed = bytearray(seal(KEY, b"payload", b"name"))
    sealed[index] ^= 0x01
    with pytest.raises(SealBroken):
        unseal(KEY, bytes(sealed), b"name")


def test_a_value_moved_under_another_name_or_opened_with_another_key_is_refused() -> None:
    sealed = seal(KEY, b"payload", b"name-a")
    with pytest.raises(SealBroken):
        unseal(KEY, sealed, b"name-b")
    with pytest.raises(SealBroken):
        unseal(secrets.token_bytes(32), sealed, b"name-a")


@pytest.mark.parametrize("junk", [b"", b"\x01", b"\x02" + b"\x00" * 40, b"\x01" + b"\x00" * 20])
def test_junk_is_refused(junk: bytes) -> None:
    with pytest.raises(SealBroken):
        unseal(KEY, junk, b"name")
