"""GETEX commands of concurrent validations, sent together: one pipeline, one round trip.

Each validation still sends exactly one GETEX (`app.sessions.store`); validations that reach Redis in
the same turn of the event loop share the round trip, and the client's per-call work, which is
most of a validation's CPU under load (bench/). A lone command is sent on its own, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from redis.asyncio import Redis

# Commands per pipeline; more wait for the next one (sent at once, on another connection).
MAX_BATCH = 64

_Waiting = list[tuple[str, "asyncio.Future[Any]"]]


class GetexBatcher:
    """`getex(key)` as `redis.getex(key, ex=seconds)` would answer it, or raise what it would.

    A command's own error (a `ResponseError`) reaches its caller alone; a failure of the
    connection or a timeout reaches every caller of that pipeline. The client's retry applies
    to the pipeline as it applies to a single command.
    """

    def __init__(self, redis: Redis, seconds: int) -> None:
        self._redis = redis
        self._seconds = seconds
        self._waiting: _Waiting = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # where a send is due
        self._sending: set[asyncio.Task[None]] = set()

    async def getex(self, key: str) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._flush_on is not loop:
            # None due on this loop yet (what a loop that stopped before sending left is dropped).
            # Sent after every request that is ready now has run up to its GETEX; in a context
            # of its own, so that nothing the first caller set (its request id) follows the send.
            self._waiting, self._flush_on = [], loop
            loop.call_soon(self._flush, context=contextvars.Context())
        self._waiting.append((key, future))
        return await future

    def _flush(self) -> None:
        waiting, self._waiting, self._flush_on = self._waiting, [], None
        for start in range(0, len(waiting), MAX_BATCH):
            task = asyncio.ensure_future(self._send(waiting[start : start + MAX_BATCH]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: _Waiting) -> None:
        try:
            if len(batch) == 1:
                answers = [await self._redis.getex(batch[0][0], ex=self._seconds)]
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, _ in batch:
                        pipe.getex(key, ex=self._seconds)
                    answers = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():  # its caller gave up
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
