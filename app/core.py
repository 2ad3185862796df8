"""What the backend (app.web) and the events worker (app.events) share: the keys, the Redis
client, the Clever client with its pooled HTTP clients, the session store, the district tokens,
the districts' roster copies and the district directory, built from the settings in one place
by `open_core` and closed by it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.clever.budget import RateBudget
from app.clever.client import CleverClient, CleverCredentials
from app.clever.http import CleverHTTP
from app.clever.observer import CleverObserver
from app.crypto.keyring import Keyring
from app.redis_budget import RedisRateCount
from app.redis_client import RedisClient, close_redis, create_redis
from app.roster.directory import DistrictDirectory
from app.roster.district_tokens import DistrictTokens
from app.roster.store import RosterStore
from app.sessions.store import SessionStore
from app.settings import Settings

# One attempt at Clever never takes longer than this, whatever CLEVER_TIMEOUT allows for the call.
ATTEMPT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Core:
    keyring: Keyring
    redis: RedisClient
    clever: CleverClient
    sessions: SessionStore
    district_tokens: DistrictTokens
    roster: RosterStore
    directory: DistrictDirectory


@asynccontextmanager
async def open_core(settings: Settings, *, observer: CleverObserver | None = None) -> AsyncIterator[Core]:
    """Build the shared long-lived things from `settings`; close them on the way out."""
    if settings.redis_url is None:
        raise ValueError("REDIS_URL is required")
    keyring = Keyring.from_secret(
        str(settings.session_secret), [str(old) for old in settings.session_secret_previous]
    )
    redis = create_redis(str(settings.redis_url))
    oauth_http = CleverHTTP(settings.clever_oauth_url)
    api_http = CleverHTTP(settings.clever_api_url)
    prefix = settings.redis_key_prefix
    clever = CleverClient(
        oauth=oauth_http,
        api=api_http,
        credentials=CleverCredentials(settings.clever_client_id, str(settings.clever_client_secret)),
        attempt_timeout=min(ATTEMPT_TIMEOUT, settings.clever_timeout),
        call_timeout=settings.clever_timeout,
        observer=observer,
        # One budget per district token for every process on this Redis (app.redis_budget).
        budget=RateBudget(shared=RedisRateCount(redis, prefix=prefix)),
    )
    district_tokens = DistrictTokens(redis, clever, sealing_key=keyring.district_token_sealing, prefix=prefix)
    roster = RosterStore(redis, keyring, prefix=prefix)
    try:
        yield Core(
            keyring=keyring,
            redis=redis,
            clever=clever,
            sessions=SessionStore(
                redis,
                keyring,
                idle_timeout=settings.session_idle_timeout,
                absolute_timeout=settings.session_absolute_timeout,
                prefix=prefix,
            ),
            district_tokens=district_tokens,
            roster=roster,
            directory=DistrictDirectory(
                redis, clever, district_tokens, roster, keyring=keyring, prefix=prefix
            ),
        )
    finally:
        await oauth_http.aclose()
        await api_http.aclose()
        await close_redis(redis)
