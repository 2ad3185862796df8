"""`apply_roster_update`: what an update left by the events worker does to a Principal (pure)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from app.roster.principal import Principal, apply_roster_update, roster_version


def _principal(*, roles: list[str], primary: str, fetched: float | None, first: str = "A") -> Principal:
    """A Principal with only what updates read (and a name to tell them apart)."""
    body: dict[str, Any] = {
        "user": {"id": "u1", "name": {"first": first}, "roles": roles, "primary_role": primary},
        "resources": [{"id": "r1"}, {"id": "r2"}],
    }
    if fetched is not None:
        body["roster"] = roster_version(fetched)
    return cast(Principal, body)


CURRENT = _principal(roles=["staff", "teacher"], primary="staff", fetched=100.0)


def _fresh(roles: list[str], fetched: float) -> dict[str, Any]:
    return {
        "kind": "principal",
        "principal": _principal(roles=roles, primary=roles[-1], fetched=fetched, first="B"),
    }


@pytest.mark.parametrize(
    ("update", "first", "primary"),
    [
        (_fresh(["teacher"], 200.0), "B", "teacher"),  # staff no longer held: the first held
        (_fresh(["staff", "teacher"], 200.0), "B", "staff"),  # this login's role is kept
        (_fresh(["teacher"], 50.0), "A", "staff"),  # older than what the session holds
        (
            {"kind": "principal", "principal": {"user": {"id": "u2"}, "roster": roster_version(300.0)}},
            "A",
            "staff",
        ),
        ({"kind": "principal", "principal": "not a principal"}, "A", "staff"),
        ({"kind": "something new"}, "A", "staff"),
    ],
)
def test_principal_updates(update: dict[str, Any], first: str, primary: str) -> None:
    after = apply_roster_update(CURRENT, update)
    assert (after["user"]["name"]["first"], after["user"]["primary_role"]) == (first, primary)
    if first == "A":
        assert after is CURRENT


def test_a_principal_without_a_roster_version_takes_any_update() -> None:
    old = _principal(roles=["teacher"], primary="teacher", fetched=None)
    fresh = _principal(roles=["teacher"], primary="teacher", fetched=1.0, first="B")
    assert apply_roster_update(old, {"kind": "principal", "principal": fresh}) == fresh


def test_an_update_without_a_part_keeps_the_one_the_session_had() -> None:
    fresh = _principal(roles=["staff", "teacher"], primary="staff", fetched=200.0, first="B")
    fresh["resources"] = []
    fresh["roster"] = roster_version(200.0, unavailable=["resources"])
    after = apply_roster_update(CURRENT, {"kind": "principal", "principal": fresh})
    assert after["user"]["name"]["first"] == "B"
    assert after["resources"] == CURRENT["resources"]
    assert after["roster"] == fresh["roster"]  # still says so: the next refresh tries again
    # A session that was itself without the part has nothing better to keep.
    without = {**CURRENT, "resources": [], "roster": roster_version(100.0, unavailable=["resources"])}
    assert apply_roster_update(cast(Principal, without), {"kind": "principal", "principal": fresh}) == fresh


def test_dropping_resources() -> None:
    dropped = apply_roster_update(CURRENT, {"kind": "drop_resources", "ids": ["r2", "r9"]})
    assert [dict(resource) for resource in dropped["resources"]] == [{"id": "r1"}]
    assert apply_roster_update(CURRENT, {"kind": "drop_resources", "ids": ["r9"]}) is CURRENT


def test_roster_versions_compare_in_time_order_as_strings() -> None:
    times = [0.5, 9.999999, 10.0, 1_800_000_000.25, 1_800_000_000.250001]
    stamps = [roster_version(t)["fetched_at"] for t in times]
    assert stamps == sorted(stamps)
    assert roster_version(0.0, "e1") == {
        "fetched_at": "1970-01-01T00:00:00.000000Z",
        "event_id": "e1",
        "source": "live",
    }


def test_a_version_from_the_store_names_its_sync_time() -> None:
    assert roster_version(10.0, source="store", synced_at=10.0) == {
        "fetched_at": "1970-01-01T00:00:10.000000Z",
        "event_id": None,
        "source": "store",
        "synced_at": "1970-01-01T00:00:10.000000Z",
    }


NAMES = {"id": "d1", "name": "Sandbox Unified", "portal_url": None, "schools": {"s1": "Lincoln"}}


def test_an_update_without_the_directory_keeps_the_names_the_session_had() -> None:
    """The events worker builds its Principals without the district directory."""
    named = cast(
        Principal, {**_principal(roles=["teacher"], primary="teacher", fetched=100.0), "district": NAMES}
    )
    named["user"]["district"] = "d1"
    fresh = _principal(roles=["teacher"], primary="teacher", fetched=200.0, first="B")
    fresh["user"]["district"] = "d1"
    after = apply_roster_update(named, {"kind": "principal", "principal": fresh})
    assert after["user"]["name"]["first"] == "B"
    assert after["district"] == NAMES
    renamed = {**NAMES, "name": "Renamed"}
    newer = cast(Principal, {**fresh, "district": renamed})
    assert apply_roster_update(named, {"kind": "principal", "principal": newer})["district"] == renamed
