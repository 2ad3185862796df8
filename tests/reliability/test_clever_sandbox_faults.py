"""The sandbox's fault kinds added for the reliability tests: `drip`, `reset` and `every`."""

from __future__ import annotations

import httpx
import pytest

from clever_sandbox.faults import DRIP_BYTES, FaultError, FaultSet, parse_fault
from tests.conftest import RunningSandbox
from tests.reliability.clever_faults import arm
from tests.support.oauth import user_token

DISCOVERY = "/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"path": "/x", "body": "reset", "status": 500}, "reset sends no status"),
        ({"path": "/x", "body": "html"}, "needs a status"),
        ({"path": "/x", "every": 0}, "every"),
        ({"path": "/x", "every": "2"}, "every"),
        ({"path": "/x", "every": True}, "every"),
    ],
)
def test_rules_that_cannot_be_armed(rule: dict[str, object], problem: str) -> None:
    with pytest.raises(FaultError, match=problem):
        parse_fault(rule)


def test_delivery_kinds_need_no_status() -> None:
    assert parse_fault({"path": "/x", "body": "drip"}).status is None
    assert parse_fault({"path": "/x", "body": "drip", "status": 200}).status == 200
    assert parse_fault({"path": "/x", "body": "reset"}).body == "reset"
    assert parse_fault({"path": "/x"}).every == 1


def test_every_fires_on_every_nth_match_and_lets_the_others_through() -> None:
    faults = FaultSet()
    faults.add(parse_fault({"path": "/a", "status": 500, "every": 3, "count": 2}))
    faults.add(parse_fault({"path": "/a", "latency_ms": 1}))
    fired = [faults.match("GET", "/a") for _ in range(9)]
    statuses = [rule.status if rule else None for rule in fired]
    # 3rd and 6th: the 500; the rest fall through to the latency rule; after two, it is used up.
    assert statuses == [None, None, 500, None, None, 500, None, None, None]
    assert all(rule is not None for rule in fired)


async def test_a_drip_delivers_the_whole_answer_in_small_pieces(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        await arm(sandbox, DISCOVERY, status=503, count=1)
        whole = await http.get(DISCOVERY)
        await arm(sandbox, DISCOVERY, status=503, body="drip", count=1)
        async with http.stream("GET", DISCOVERY) as dripped:
            assert dripped.status_code == 503
            chunks = [chunk async for chunk in dripped.aiter_raw()]
    assert b"".join(chunks) == whole.content
    assert len(chunks) >= len(whole.content) // DRIP_BYTES


async def test_a_reset_cuts_the_answer_short(sandbox: RunningSandbox) -> None:
    token = await user_token(sandbox.url, sandbox.config, sandbox.sandbox.store.demo_logins()[0].user_id)
    await arm(sandbox, "/v3.0/me", body="reset", count=1)
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/v3.0/me", headers={"Authorization": f"Bearer {token}"})
        after = await http.get("/v3.0/me", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 200
