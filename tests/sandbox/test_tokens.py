"""The sandbox's token registry as the tests read it: what it issued and still holds."""

from __future__ import annotations

from clever_sandbox.tokens import TokenRegistry


def test_issued_codes_and_tokens_are_those_still_held() -> None:
    registry = TokenRegistry()
    code = registry.issue_code(
        client_id="c",
        redirect_uri="http://x/cb",
        user_id="u",
        district_id="d",
        user_type="teacher",
        nonce=None,
    )
    assert registry.issued_codes() == [code]
    issued = registry.redeem_code(code, client_id="c", redirect_uri="http://x/cb")
    assert registry.issued_codes() == []  # a code redeems once
    user_token = registry.issue_user_token(issued)
    district_token = registry.district_token("d", "c")
    assert sorted(registry.issued_tokens()) == sorted([user_token, district_token])
    registry.revoke(user_token)
    assert registry.issued_tokens() == [district_token]
    registry.clear()
    assert (registry.issued_codes(), registry.issued_tokens()) == ([], [])
