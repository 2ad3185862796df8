"""A full sync reads Clever's largest pages whatever the client's own body limit, which stays as
it is for every other call (a login's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis.asyncio import Redis

from app.clever import CleverClient, CleverCredentials, CleverHTTP, CleverMalformed
from app.clever.http import DEFAULT_BODY_LIMIT
from app.crypto.keyring import Keyring
from app.roster.district_tokens import DistrictTokens
from app.roster.fieldpolicy import DEFAULT_STUDENT_FIELDS
from app.roster.store import RosterStore
from app.roster.sync import MAX_PAGE_SIZE, SYNC_BODY_LIMIT, sync_district
from clever_sandbox.config import SandboxConfig
from tests.conftest import TEST_REDIRECT_URI, RunningSandbox, running_sandbox
from tests.roster.test_store import SECRET
from tests.support.clever import FAST_RETRY

# Enough students that one page of users is over the default limit (1.3 KB a user).
STUDENTS = 4000


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxConfig(redirect_uris=(TEST_REDIRECT_URI,), students=STUDENTS)) as running:
        yield running


async def test_a_sync_reads_pages_over_the_clients_limit_and_the_client_keeps_its_limit(
    big_sandbox: RunningSandbox, redis: Redis, key_prefix: str
) -> None:
    assert DEFAULT_BODY_LIMIT < SYNC_BODY_LIMIT
    district_id = big_sandbox.sandbox.store.district_ids()[0]
    keyring = Keyring.from_secret(SECRET)
    config = big_sandbox.config
    oauth, api = CleverHTTP(big_sandbox.url), CleverHTTP(big_sandbox.url)
    try:
        clever = CleverClient(  # as app.core builds it: the default body limit
            oauth=oauth,
            api=api,
            credentials=CleverCredentials(config.client_id, config.client_secret),
            retry=FAST_RETRY,
        )
        # The sync's view of the client spends the same rate budget as logins do.
        assert clever.with_body_limit(SYNC_BODY_LIMIT).budget is clever.budget
        tokens = DistrictTokens(redis, clever, sealing_key=keyring.district_token_sealing, prefix=key_prefix)
        store = RosterStore(redis, keyring, prefix=key_prefix)
        report = await sync_district(
            clever, tokens, store, district_id, student_fields=DEFAULT_STUDENT_FIELDS
        )
        assert report.info.counts["users"] > STUDENTS
        with pytest.raises(CleverMalformed, match="over"):
            await clever.users(await tokens.get(district_id), limit=MAX_PAGE_SIZE)
    finally:
        await oauth.aclose()
        await api.aclose()
