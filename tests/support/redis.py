"""A redis-py client that also records the commands it sends, for asserting round trips."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis


class RecordingRedis(Redis):
    """Sends every command to the real server, and notes its name in `commands`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.commands.append(str(args[0]).upper())
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        self.commands.append("PIPELINE")
        return super().pipeline(transaction=transaction, shard_hint=shard_hint)
