"""svc_auth's own knobs, from the environment (ERP_AUTH_*), with safe defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mesh.tokens import JWKS_CACHE_SECONDS
from svc_auth.domain.lockout import LockoutPolicy

INVITATION_TTL = timedelta(days=7)
RESET_TTL = timedelta(minutes=30)
MAX_LIVE_RESET_TOKENS = 3
# Retired signing keys stay in the JWKS this long past the access-token TTL, so a
# token signed just before a rotation still verifies (plus clock skew slack).
JWKS_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class AuthConfig:
    access_ttl: timedelta = timedelta(minutes=15)
    key_rotation: timedelta = timedelta(days=7)
    # A scheduled rotation publishes the next key this long before it signs: longer
    # than any verifier caches the JWKS, so no verifier meets an unknown kid.
    key_publish_ahead: timedelta = timedelta(seconds=2 * JWKS_CACHE_SECONDS)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    # How long GetMe may answer from memory; writes in this process drop entries at once.
    profile_cache_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthConfig:
        env = os.environ if env is None else env

        def seconds(name: str, default: timedelta) -> timedelta:
            value = env.get(name)
            return timedelta(seconds=int(value)) if value else default

        base = LockoutPolicy()
        threshold = env.get("ERP_AUTH_LOCKOUT_THRESHOLD")
        return cls(
            access_ttl=seconds("ERP_AUTH_ACCESS_TTL_SECONDS", cls.access_ttl),
            key_rotation=seconds("ERP_AUTH_KEY_ROTATION_SECONDS", cls.key_rotation),
            key_publish_ahead=seconds("ERP_AUTH_KEY_PUBLISH_AHEAD_SECONDS", cls.key_publish_ahead),
            profile_cache_seconds=float(
                env.get("ERP_AUTH_PROFILE_CACHE_SECONDS", cls.profile_cache_seconds)
            ),
            lockout=LockoutPolicy(
                threshold=int(threshold) if threshold else base.threshold,
                window=seconds("ERP_AUTH_LOCKOUT_WINDOW_SECONDS", base.window),
                duration=seconds("ERP_AUTH_LOCKOUT_SECONDS", base.duration),
            ),
        )

    @property
    def publish_ahead(self) -> timedelta:
        """Publish-ahead time, never more than half the rotation period."""
        return min(self.key_publish_ahead, self.key_rotation / 2)
