"""The district lock: released on the way out, and never in the way of cancelling its holder."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from app.events.lock import DistrictLock


async def test_a_cancellation_arriving_as_the_hold_ends_still_cancels_the_holder(
    redis: Redis, key_prefix: str
) -> None:
    """The worker is cancelled (the process is stopping) just as it leaves a district: the
    cancellation reaches it while the lock's renewer is being stopped, and must not be lost there."""
    lock = DistrictLock(redis, f"{key_prefix}lock-test", ttl=5)
    reached_after_the_hold = asyncio.Event()

    async def holder() -> None:
        async with lock.hold() as held:
            assert held
            # Lands on the loop's next turn: when the hold's cleanup is waiting for the renewer.
            asyncio.get_running_loop().call_soon(task.cancel)
        reached_after_the_hold.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(holder())
    done, _ = await asyncio.wait([task], timeout=5)

    assert done, "the cancellation was swallowed and the holder ran on"
    assert task.cancelled()
    assert not reached_after_the_hold.is_set()
    assert not await redis.exists(lock.key)  # released all the same
