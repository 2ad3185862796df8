"""bench.roster's arms run end to end at tiny sizes (the figures themselves live in bench/results)."""

from __future__ import annotations

from bench.roster import latency_arm, rollover_arm, sync_arm


async def test_the_sync_arm_measures_a_copy() -> None:
    table = await sync_arm(24)
    assert "| under 40 Clever calls |" in table, table


async def test_the_latency_arm_logs_in_from_the_store_and_live_at_both_limits() -> None:
    table = await latency_arm(24, 1, "written")
    assert "| store | Clever's limit (1200/min) | 1 |" in table, table
    assert "| live | unlimited | 1 |" in table, table
    assert "store 1" in table, table
    assert "live 1" in table, table
    assert "one code exchange measured beside it (unlimited)" in table, table


async def test_the_rollover_arm_applies_every_event() -> None:
    table = await rollover_arm(2, 2, 1, 60.0)
    assert "| 1 of 1 | yes |" in table, table
