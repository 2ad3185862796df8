from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from app.clever import CleverClient, CleverCredentials, CleverHTTP, RetryPolicy
from app.clever.http import DEFAULT_TIMEOUTS, Timeouts
from tests.conftest import RunningSandbox

# Real retries, short waits: a test sees every attempt without sleeping for long.
FAST_RETRY = RetryPolicy(attempts=3, base_backoff=0.01, max_backoff=0.05, max_rate_limit_wait=3.0)

MakeClient = Callable[..., CleverClient]


@pytest.fixture
async def make_client(sandbox: RunningSandbox) -> AsyncIterator[MakeClient]:
    """Builds CleverClients on the sandbox (both hosts are its URL), closing their HTTP clients after."""
    opened: list[CleverHTTP] = []

    def make(*, timeouts: Timeouts = DEFAULT_TIMEOUTS, **options: object) -> CleverClient:
        oauth = CleverHTTP(sandbox.url, timeouts=timeouts)
        api = CleverHTTP(sandbox.url, timeouts=timeouts)
        opened.extend((oauth, api))
        config = sandbox.config
        options.setdefault("retry", FAST_RETRY)
        return CleverClient(
            oauth=oauth,
            api=api,
            credentials=CleverCredentials(config.client_id, config.client_secret),
            **options,  # type: ignore[arg-type]
        )

    yield make
    for http in opened:
        await http.aclose()


@pytest.fixture
def clever(make_client: MakeClient) -> CleverClient:
    return make_client()


@pytest.fixture
def district_token(sandbox: RunningSandbox) -> str:
    """The main demo district's app token, as `GET /oauth/tokens?owner_type=district` lists it."""
    district_id = sandbox.sandbox.store.district_ids()[0]
    return sandbox.sandbox.tokens.district_token(district_id, sandbox.config.client_id)
