"""What a process remembers per district: for a while, and at most so many."""

from __future__ import annotations

from app.roster.memo import Memo
from tests.support.clock import Clock


def test_a_value_is_remembered_for_its_seconds_then_forgotten() -> None:
    clock = Clock()
    memo: Memo[str] = Memo(seconds=60, entries=10, clock=clock)
    memo.put("d1", "token")
    clock.now += 59
    assert memo.get("d1") == "token"
    clock.now += 1
    assert memo.get("d1") is None
    memo.put("d1", "again")
    memo.forget("d1")
    assert memo.get("d1") is None


def test_nothing_is_remembered_without_seconds() -> None:
    memo: Memo[str] = Memo(seconds=0, entries=10, clock=Clock())
    memo.put("d1", "token")
    assert memo.get("d1") is None


def test_past_its_entries_the_expired_go_then_the_oldest() -> None:
    clock = Clock()
    memo: Memo[str] = Memo(seconds=60, entries=3, clock=clock)
    memo.put("old", "1")
    clock.now += 61
    memo.put("a", "2")
    memo.put("b", "3")
    memo.put("c", "4")  # full: "old" has expired and goes
    assert [memo.get(key) for key in ("a", "b", "c")] == ["2", "3", "4"]
    memo.put("d", "5")  # full of live values: the oldest, "a", goes
    assert [memo.get(key) for key in ("a", "b", "c", "d")] == [None, "3", "4", "5"]
