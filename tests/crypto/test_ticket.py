from __future__ import annotations

import pytest

from app.crypto.keyring import Keyring
from app.crypto.ticket import MAX_TICKET_LENGTH, Ticket, decode_ticket

KEYS = Keyring.from_secret("q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a")
OTHER_KEYS = Keyring.from_secret("Zq81rvkL0Xpw3Tn6Hy9Sb2Fd5Jg7Cm4a")


def test_a_ticket_survives_the_round_trip() -> None:
    ticket = Ticket.new()
    text = ticket.encode(KEYS.ticket_signing, "session")
    assert decode_ticket(text, KEYS.ticket_signing, "session") == ticket
    assert len(text) < MAX_TICKET_LENGTH


def test_tickets_are_unique_and_hold_256_bit_ids() -> None:
    tickets = {Ticket.new() for _ in range(200)}
    assert len({t.session_id for t in tickets}) == 200
    assert {len(t.session_id) for t in tickets} == {32}
    assert {len(t.key) for t in tickets} == {32}


def test_the_storage_name_is_a_keyed_hash_not_the_id() -> None:
    ticket = Ticket.new()
    name = ticket.storage_id(KEYS.storage_hashing)
    assert ticket.session_id.hex() not in name
    assert name != ticket.storage_id(OTHER_KEYS.storage_hashing)
    assert len(name) == 64


def _flip(text: str, index: int) -> str:
    char = text[index]
    return text[:index] + ("A" if char != "A" else "B") + text[index + 1 :]


GOOD = Ticket.new().encode(KEYS.ticket_signing, "session")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v1",
        "v1...",
        GOOD[:-3],
        GOOD + "A",
        _flip(GOOD, 5),
        _flip(GOOD, 50),
        _flip(GOOD, len(GOOD) - 2),
        "v2" + GOOD[2:],
        GOOD.replace(".", ".=", 1),
        GOOD + "." + GOOD,
        "v1.é.é.é",
        "x" * (MAX_TICKET_LENGTH + 1),
        "v1.%00.%00.%00",
    ],
)
def test_malformed_or_tampered_tickets_are_refused(text: str) -> None:
    assert decode_ticket(text, KEYS.ticket_signing, "session") is None


def test_a_ticket_signed_with_another_secret_or_for_another_purpose_is_refused() -> None:
    ticket = Ticket.new()
    assert (
        decode_ticket(ticket.encode(OTHER_KEYS.ticket_signing, "session"), KEYS.ticket_signing, "session")
        is None
    )
    assert decode_ticket(ticket.encode(KEYS.ticket_signing, "login"), KEYS.ticket_signing, "session") is None
