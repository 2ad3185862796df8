from __future__ import annotations

from dataclasses import dataclass

from clever_sandbox.config import SandboxConfig
from clever_sandbox.faults import FaultSet
from clever_sandbox.keys import SigningKeys
from clever_sandbox.store import SandboxStore
from clever_sandbox.tokens import RateLimiter, TokenRegistry


@dataclass
class Sandbox:
    """Everything one running sandbox holds; handlers reach it as `request.app.state.sandbox`."""

    config: SandboxConfig
    store: SandboxStore
    tokens: TokenRegistry
    limiter: RateLimiter
    faults: FaultSet
    keys: SigningKeys
    oidc_enabled: bool = True

    @classmethod
    def build(cls, config: SandboxConfig) -> Sandbox:
        return cls(
            config=config,
            store=SandboxStore(
                seed=config.seed,
                students=config.students,
                sparse_students=config.sparse_students,
                previous_placement=config.previous_attributes,
            ),
            tokens=TokenRegistry(code_ttl_seconds=config.code_ttl_seconds),
            limiter=RateLimiter(limit=config.rate_limit_per_minute, rate_headers=config.rate_headers),
            faults=FaultSet(),
            keys=SigningKeys.generate(),
            oidc_enabled=config.oidc_enabled,
        )

    def reset(self) -> None:
        """Back to the seeded district. Tokens stay valid: they are the app's connection, not data."""
        self.store.reset()
        self.faults.clear()
        self.limiter.clear()
        self.oidc_enabled = self.config.oidc_enabled
