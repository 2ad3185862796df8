"""The sandbox's control API as the Clever client tests use it: faults, and how many fired."""

from __future__ import annotations

from typing import Any

import httpx


async def add_fault(base_url: str, path: str, **rule: Any) -> None:
    """Arms `{"path": path, **rule}` (see `POST /sandbox/faults`)."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/sandbox/faults", json={"path": path, **rule})
    response.raise_for_status()


async def remaining(base_url: str, path: str) -> int | None:
    """How many more times the fault on `path` will fire; 0 once it is used up (and gone).

    Arming a fault with count N and reading this afterwards counts the requests that reached
    the sandbox, without looking inside the client.
    """
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/sandbox/faults")
    response.raise_for_status()
    for rule in response.json()["data"]:
        if rule["path"] == path:
            count = rule["count"]
            assert count is None or isinstance(count, int)
            return count
    return 0
