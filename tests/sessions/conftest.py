"""Fixtures of the session tests: a real Redis client that records the commands it sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.redis import RecordingRedis


@pytest.fixture
async def recording(redis_url: str) -> AsyncIterator[RecordingRedis]:
    client = RecordingRedis.from_url(redis_url)
    assert isinstance(client, RecordingRedis)
    try:
        yield client
    finally:
        await client.aclose()
