"""`make bench` runs the roster arms and the bell (bench.suite's roster phase) and reports them."""

from __future__ import annotations

from bench.report import roster_section
from bench.suite import RosterSizes, roster_phase

TINY_BELL = ("--students", "60", "--logins", "20", "--concurrency", "4", "--background", "2", "--cap", "30")


async def test_the_suite_runs_every_roster_arm_and_the_bell_into_its_report() -> None:
    tables = await roster_phase(RosterSizes(24, 1, 2, 1, 60.0, TINY_BELL))
    assert list(tables) == ["sync", "latency", "rollover", "bell"]
    section = "\n".join(roster_section(tables))
    assert section.startswith("## Roster store and morning bell"), section
    for heading in ("### Roster: full sync", "### Roster: a login's latency", "### Roster: rollover"):
        assert heading in section, section
    assert "### Morning bell: 20 of 60 students" in section, section
    assert "| from the roster copy |" in section, section


def test_a_quick_run_is_smaller_than_a_full_one() -> None:
    quick, full = RosterSizes.for_run(quick=True), RosterSizes.for_run(quick=False)
    assert quick.sync_students < full.sync_students
    assert quick.rollover_sessions < full.rollover_sessions
    assert quick.bell
    assert not full.bell  # full: bench.bell's own defaults
