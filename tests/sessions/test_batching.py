from __future__ import annotations

import asyncio
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.crypto.keyring import Keyring
from app.roster.principal import Principal
from app.sessions.batching import MAX_BATCH, GetexBatcher
from app.sessions.store import SessionStore
from tests.support.redis import RecordingRedis

PRINCIPAL = cast(Principal, {"user": {"id": "u1", "roles": ["teacher"], "primary_role": "teacher"}})


async def test_concurrent_reads_share_one_pipeline_of_one_getex_each(
    recording: RecordingRedis, redis: Redis, key_prefix: str
) -> None:
    keys = [f"{key_prefix}k{i}" for i in range(5)]
    for i, key in enumerate(keys[:4]):
        await redis.set(key, f"v{i}")
    batcher = GetexBatcher(recording, 60)
    recording.commands.clear()
    values = await asyncio.gather(*(batcher.getex(key) for key in keys))
    assert values == [b"v0", b"v1", b"v2", b"v3", None]
    assert recording.commands == ["PIPELINE"]
    for key in keys[:4]:
        assert 0 < await redis.ttl(key) <= 60


async def test_a_lone_read_is_sent_on_its_own(
    recording: RecordingRedis, redis: Redis, key_prefix: str
) -> None:
    await redis.set(f"{key_prefix}k", "v")
    batcher = GetexBatcher(recording, 60)
    recording.commands.clear()
    assert await batcher.getex(f"{key_prefix}k") == b"v"
    assert await batcher.getex(f"{key_prefix}missing") is None
    assert recording.commands == ["GETEX", "GETEX"]


async def test_more_than_a_batch_is_split(recording: RecordingRedis, key_prefix: str) -> None:
    batcher = GetexBatcher(recording, 60)
    recording.commands.clear()
    values = await asyncio.gather(*(batcher.getex(f"{key_prefix}k{i}") for i in range(MAX_BATCH + 3)))
    assert values == [None] * (MAX_BATCH + 3)
    assert recording.commands == ["PIPELINE", "PIPELINE"]


async def test_a_command_error_reaches_its_caller_only(redis: Redis, key_prefix: str) -> None:
    await redis.set(f"{key_prefix}string", "v")
    await redis.rpush(f"{key_prefix}list", "x")
    batcher = GetexBatcher(redis, 60)
    answers: list[object] = await asyncio.gather(
        batcher.getex(f"{key_prefix}string"), batcher.getex(f"{key_prefix}list"), return_exceptions=True
    )
    assert answers[0] == b"v"
    assert isinstance(answers[1], ResponseError)


async def test_a_connection_failure_reaches_every_caller() -> None:
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    batcher = GetexBatcher(unreachable, 60)
    try:
        answers = await asyncio.gather(*(batcher.getex(f"k{i}") for i in range(3)), return_exceptions=True)
        alone = await asyncio.gather(batcher.getex("k"), return_exceptions=True)
    finally:
        await unreachable.aclose()
    assert all(isinstance(answer, RedisConnectionError) for answer in [*answers, *alone])


async def test_a_caller_that_gives_up_leaves_the_others_their_answers(redis: Redis, key_prefix: str) -> None:
    await redis.set(f"{key_prefix}k", "v")
    batcher = GetexBatcher(redis, 60)
    leaving = asyncio.ensure_future(batcher.getex(f"{key_prefix}k"))
    staying = asyncio.ensure_future(batcher.getex(f"{key_prefix}k"))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == b"v"
    assert leaving.cancelled()


async def test_concurrent_validations_still_send_one_getex_each(
    recording: RecordingRedis, key_prefix: str
) -> None:
    store = SessionStore(
        recording, Keyring.from_secret("q8Zr1vLk0pXw3nT6yH9bS2dF5gJ7mC4a"), idle_timeout=60,
        absolute_timeout=600, prefix=key_prefix,
    )  # fmt: skip
    session = await store.create(
        user_id="u1", district_id="d1", login_method="clever_sso", principal=PRINCIPAL
    )
    token = store.encode(session.ticket)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BA")
    recording.commands.clear()
    loaded = await asyncio.gather(*(store.load(text) for text in (token, token, forged, token)))
    assert [None if s is None else s.user_id for s in loaded] == ["u1", "u1", None, "u1"]
    assert recording.commands == ["PIPELINE"]  # the forged one sent nothing
