"""A full sync of one district asked for by an operator (`clever-login sync`), outside the
events worker's loop: run now under the district's events lock, or left for the worker.

The lock is the one the worker polls the district under (app.events.cursor), so a sync run here
and the worker's reading of the district's stream never overlap; while the worker holds it, the
sync is refused rather than waited for (the caller may ask the worker instead, `request`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.core import Core
from app.events.cursor import Cursors
from app.roster.sync import SyncReport, sync_district

logger = logging.getLogger("app.events")

# Should this process die mid-sync, the worker finds the district's lock free after this long.
LOCK_TTL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Busy:
    """Another process (an events worker, another `clever-login sync`) holds the district's lock."""

    district_id: str


async def sync_now(
    core: Core, district_id: str, *, prefix: str, student_fields: frozenset[str]
) -> SyncReport | Busy:
    """Sync the district now under its events lock, or Busy when another process holds it.
    Failures propagate as `sync_district` raises them; the previous copy stays in use."""
    lock = Cursors(core.redis, prefix=prefix).lock(district_id, ttl=LOCK_TTL_SECONDS)
    async with lock.hold() as held:
        if not held:
            return Busy(district_id)
        return await sync_district(
            core.clever, core.district_tokens, core.roster, district_id, student_fields=student_fields
        )


def summary(report: SyncReport) -> str:
    """One line for the operator: records per kind, calls, seconds (no personal data)."""
    info = report.info
    counts = ", ".join(f"{info.counts[kind]} {kind}" for kind in sorted(info.counts))
    return f"district {report.district_id} synced: {counts}; {info.calls} calls, {info.seconds:.1f} s"
