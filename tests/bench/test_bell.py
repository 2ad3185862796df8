"""bench.bell runs end to end at a tiny size: its three arms against separate processes."""

from __future__ import annotations

from bench.bell import measure, parser


async def test_the_bell_logs_every_student_in_from_the_roster_copy() -> None:
    args = parser().parse_args(
        ["--students", "60", "--logins", "20", "--concurrency", "4", "--background", "2", "--cap", "30"]
    )
    table = await measure(args)
    for arm in ("without priority", "with priority", "from the roster copy"):
        assert f"| {arm} |" in table, table
    store = next(line for line in table.splitlines() if line.startswith("| from the roster copy |"))
    # In the first minute: all 20; refused: none.
    assert store.split(" | ")[1:4:2] == ["20", "0"], table
    assert "| no `clever_unavailable` | 0 | yes |" in table, table
