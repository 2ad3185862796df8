"""Guessing a service client's secret: 300 wrong Basic secrets on the service endpoints are
throttled through Redis (for every replica), logged as security events and counted."""

from __future__ import annotations

import logging

import httpx
import pytest
from redis.asyncio import Redis

from app.web.throttle import FAILURES_IN_ALL, FAILURES_PER_CLIENT, WINDOW_SECONDS
from tests.conftest import BackendFactory
from tests.support.backend import SERVICE_NAME, SERVICE_SECRET

GUESSES = 300
OTHER_NAME = "grades"
OTHER_SECRET = "grades-secret-0123456789abcdef"
TWO_CLIENTS = f"{SERVICE_NAME}:{SERVICE_SECRET},{OTHER_NAME}:{OTHER_SECRET}"


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    return [
        (r.event, r.code, r.client)  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name.startswith("app") and getattr(r, "event", "").startswith("service_auth")
    ]


async def _guess(service: httpx.AsyncClient, name: str, secret: str) -> httpx.Response:
    return await service.post("/auth/introspect", data={"token": "v1.nope"}, auth=(name, secret))


async def test_three_hundred_wrong_secrets_are_throttled_logged_and_counted(
    make_backend: BackendFactory, redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        make_backend(SERVICE_CLIENTS=TWO_CLIENTS) as backend,
        make_backend(SERVICE_CLIENTS=TWO_CLIENTS) as replica,
    ):
        async with (
            httpx.AsyncClient(base_url=backend) as service,
            httpx.AsyncClient(base_url=replica) as other,
        ):
            with caplog.at_level(logging.INFO, logger="app"):
                answers = [
                    await _guess(service, SERVICE_NAME, f"guess-{n:04d}-{'x' * 20}") for n in range(GUESSES)
                ]
            right_secret = await _guess(service, SERVICE_NAME, SERVICE_SECRET)
            on_the_replica = await _guess(other, SERVICE_NAME, SERVICE_SECRET)
            ending = await other.delete("/auth/users/u1/sessions", auth=(SERVICE_NAME, SERVICE_SECRET))
            another_client = await _guess(other, OTHER_NAME, OTHER_SECRET)
            metrics = (await service.get("/metrics")).text

    statuses = [answer.status_code for answer in answers]
    assert statuses == [401] * FAILURES_PER_CLIENT + [429] * (GUESSES - FAILURES_PER_CLIENT)
    for refused in (*answers[FAILURES_PER_CLIENT:], right_secret, on_the_replica, ending):
        assert (refused.status_code, refused.json()["error"]) == (429, "client_throttled")
        assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_SECONDS
    # The throttle is per client: another service keeps working.
    assert (another_client.status_code, another_client.json()) == (200, {"active": False})

    failed = ("service_auth_failed", "unauthorized_client", SERVICE_NAME)
    throttled = ("service_auth_throttled", "client_throttled", SERVICE_NAME)
    assert _events(caplog) == [failed] * FAILURES_PER_CLIENT + [throttled]
    ours = repr([r.__dict__ for r in caplog.records if r.name.startswith("app")])
    assert "guess-" not in ours

    assert f'service_auth_failures_total{{client="{SERVICE_NAME}",outcome="rejected"}} 10.0' in metrics
    assert f'service_auth_failures_total{{client="{SERVICE_NAME}",outcome="throttled"}}' in metrics

    keys = [key async for key in redis.scan_iter(match=f"{key_prefix}sa:*")]
    assert len(keys) == 2  # this client's window and the total
    for key in keys:
        assert 0 < await redis.ttl(key) <= WINDOW_SECONDS


async def test_made_up_client_names_share_one_window(
    make_backend: BackendFactory, redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with make_backend() as backend:
        async with httpx.AsyncClient(base_url=backend) as service:
            with caplog.at_level(logging.INFO, logger="app"):
                answers = [await _guess(service, f"name-{n}", "secret") for n in range(30)]
            real_client = await _guess(service, SERVICE_NAME, SERVICE_SECRET)
    assert [a.status_code for a in answers] == [401] * FAILURES_PER_CLIENT + [429] * (
        30 - FAILURES_PER_CLIENT
    )
    assert (real_client.status_code, real_client.json()) == (200, {"active": False})
    assert {client for _, _, client in _events(caplog)} == {"unknown"}
    assert "name-" not in repr([r.__dict__ for r in caplog.records if r.name.startswith("app")])
    assert len([key async for key in redis.scan_iter(match=f"{key_prefix}sa:*")]) == 2


async def test_failures_across_every_client_throttle_them_all(make_backend: BackendFactory) -> None:
    names = [f"svc{n}" for n in range(FAILURES_IN_ALL // FAILURES_PER_CLIENT + 1)]
    clients = ",".join(f"{name}:{name}-secret-0123456789abcdef" for name in names)
    with make_backend(SERVICE_CLIENTS=clients) as backend:
        async with httpx.AsyncClient(base_url=backend) as service:
            for name in names[:-1]:
                for _ in range(FAILURES_PER_CLIENT):
                    assert (await _guess(service, name, "wrong")).status_code == 401
            untouched = await _guess(service, names[-1], f"{names[-1]}-secret-0123456789abcdef")
    assert (untouched.status_code, untouched.json()["error"]) == (429, "client_throttled")


async def test_missing_or_undecodable_credentials_are_not_counted(
    make_backend: BackendFactory, redis: Redis, key_prefix: str
) -> None:
    with make_backend() as backend:
        async with httpx.AsyncClient(base_url=backend) as service:
            for headers in ({}, {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"}):
                answer = await service.post("/auth/introspect", data={"token": "x"}, headers=headers)
                assert (answer.status_code, answer.json()["error"]) == (401, "unauthorized_client")
    assert [key async for key in redis.scan_iter(match=f"{key_prefix}sa:*")] == []
