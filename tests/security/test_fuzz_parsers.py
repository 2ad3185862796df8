"""Property-based fuzzing of the parsers that read what an attacker controls: the session and
pending-login tickets, the stored transaction, the callback's `state` and `return_to`.

Invariants: they never raise anything but their own refusal, and never accept what they should
not (a ticket other than the one issued, a target off the allow-list).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.clever.http import origin_of
from app.crypto.keyring import Keyring
from app.crypto.ticket import Ticket, decode_ticket
from app.login.returnto import safe_return_to
from app.login.transaction import LoginTransaction, TransactionInvalid, is_state
from tests.security.redirect_corpus import ALLOWED, ALLOWED_HOST, EVIL, PAYLOADS

KEYS = Keyring.from_secret("fuzzing-secret-0123456789-abcdefghijkl")
OLD_KEYS = Keyring.from_secret("fuzzing-old-secret-9876543210-zyxwvut")
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TICKETS = [Ticket.new() for _ in range(4)]


def _decode(text: str, purpose: str = "session") -> Ticket | None:
    return decode_ticket(text, KEYS.ticket_signing, purpose, retired_keys=[OLD_KEYS.ticket_signing])


# -- tickets -------------------------------------------------------------------------------------

ticket_like = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda version, parts: ".".join([version, *parts]),
        st.sampled_from(["v1", "v2", "V1", "", "v1 "]),
        st.lists(st.text(alphabet=B64URL + "=+/.!é \x00", max_size=50), max_size=5),
    ),
)


@FUZZ
@given(ticket_like)
def test_decoding_arbitrary_text_never_raises_and_never_forges(text: str) -> None:
    ticket = _decode(text)
    if ticket is not None:  # only a correctly signed, canonical ticket: nothing random gets here
        signing = KEYS.generation(ticket.generation).ticket_signing
        assert ticket.encode(signing, "session") == text


@FUZZ
@given(
    st.sampled_from(TICKETS),
    st.sampled_from(["session", "login"]),
    st.booleans(),
    st.data(),
)
def test_any_change_to_an_issued_ticket_is_refused(
    ticket: Ticket, purpose: str, old_secret: bool, data: st.DataObject
) -> None:
    keys = OLD_KEYS if old_secret else KEYS
    text = ticket.encode(keys.ticket_signing, purpose)
    decoded = _decode(text, purpose)
    assert decoded is not None
    assert (decoded.session_id, decoded.key, decoded.generation) == (
        ticket.session_id,
        ticket.key,
        int(old_secret),
    )
    index = data.draw(st.integers(0, len(text) - 1), label="index")
    replacement = data.draw(st.text(min_size=0, max_size=3), label="replacement")
    changed = text[:index] + replacement + text[index + 1 :]
    if changed != text:
        assert _decode(changed, purpose) is None
    other_purpose = "login" if purpose == "session" else "session"
    assert _decode(text, other_purpose) is None


# -- the stored transaction ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
FIELD_NAMES = ["state", "code_verifier", "nonce", "return_to", "login_method", "district_id"]


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.dictionaries(st.sampled_from([*FIELD_NAMES, "extra"]), json_values, max_size=7).map(
            lambda value: json.dumps(value).encode()
        ),
    )
)
def test_the_transaction_parser_refuses_anything_it_did_not_write(raw: bytes) -> None:
    try:
        transaction = LoginTransaction.from_json(raw)
    except TransactionInvalid:
        return
    assert LoginTransaction.from_json(transaction.to_json()) == transaction
    assert transaction.login_method in ("clever_sso", "clever_portal")
    assert all(isinstance(getattr(transaction, name), str) for name in FIELD_NAMES[:5])


@FUZZ
@given(
    st.sampled_from(["clever_sso", "clever_portal"]), st.none() | st.text(max_size=30), st.text(max_size=50)
)
def test_every_transaction_written_reads_back(method: str, district_id: str | None, return_to: str) -> None:
    transaction = LoginTransaction.new(return_to=return_to, login_method=method, district_id=district_id)  # type: ignore[arg-type]
    assert LoginTransaction.from_json(transaction.to_json()) == transaction
    assert is_state(transaction.state)


@FUZZ
@given(st.text(max_size=100))
def test_only_state_shaped_text_is_a_state(text: str) -> None:
    if is_state(text):
        assert len(text) == 43
        assert all(ch in B64URL for ch in text)


# -- return_to -------------------------------------------------------------------------------------

FRONTEND_URL = "http://127.0.0.1:5173/home"
ALLOWED_ORIGINS = frozenset({ALLOWED, origin_of(FRONTEND_URL)})

_piece = st.sampled_from(
    [
        "https:", "http:", "HTTPS:", "javascript:", "data:", "//", "/", "\\", "/\\", "\\\\", "@", ":", ".",
        "..", "%2e", "%2f", "%5c", "%00", "%40", "#", "?", "&", ";", "[", "]", "[::1]", " ", "\t", "\n",
        "\x00", "\u3002", "\uff0f", "127.0.0.1", ":5173", ":443", ":0", ":99999", ALLOWED_HOST,
        ALLOWED_HOST.upper(), EVIL, "user:pass", "x", "é",
    ]
)  # fmt: skip
url_like = st.one_of(
    st.lists(_piece, max_size=10).map("".join),
    st.text(max_size=80),
    st.sampled_from(PAYLOADS),
    st.builds(lambda a, b: a + b, st.sampled_from(PAYLOADS), st.lists(_piece, max_size=4).map("".join)),
)


def _validate(candidate: str) -> str | None:
    return safe_return_to(candidate, frontend_url=FRONTEND_URL, allowed_origins=ALLOWED_ORIGINS)


@FUZZ
@given(url_like)
def test_return_to_never_raises_and_never_leaves_the_allow_list(candidate: str) -> None:
    result = _validate(candidate)
    if result is None:
        return
    assert result.isascii()
    assert not any(ch <= " " or ch in "\\\x7f" for ch in result)
    parts = urlsplit(result)
    assert parts.scheme in ("http", "https")
    assert "@" not in parts.netloc
    assert origin_of(result) in ALLOWED_ORIGINS
    assert result.startswith(origin_of(result) + "/")
    again = _validate(result)  # what we send the browser to passes its own check
    assert again is not None
    assert origin_of(again) == origin_of(result)


@settings(max_examples=50, deadline=None, database=None)
@given(st.text(alphabet=B64URL, min_size=43, max_size=43))
def test_fuzzing_the_validator_can_tell_apart(state: str) -> None:
    """A control: a state-shaped string is a state, so the properties above are not vacuous."""
    assert is_state(state)
    assert _validate("/" + state) == "http://127.0.0.1:5173/" + state
