"""Lockout window, refresh reuse, one-time secrets, API key rules and defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from svc_auth.config import AuthConfig
from svc_auth.domain import apikeys, lockout, refresh, secrets
from svc_auth.domain.lockout import Attempts, LockoutPolicy

T0 = datetime(2030, 1, 1, tzinfo=UTC)
POLICY = LockoutPolicy(threshold=3, window=timedelta(minutes=15), duration=timedelta(minutes=15))


def test_lockout_counts_within_the_window() -> None:
    state = Attempts()
    for i in range(2):
        state = lockout.after_failure(state, POLICY, T0 + timedelta(minutes=i))
        assert lockout.locked_for(state, T0 + timedelta(minutes=i)) == 0
    before = state
    state = lockout.after_failure(state, POLICY, T0 + timedelta(minutes=2))
    assert lockout.just_locked(before, state, T0 + timedelta(minutes=2))
    assert lockout.locked_for(state, T0 + timedelta(minutes=2)) == 15 * 60
    assert lockout.locked_for(state, T0 + timedelta(minutes=17)) == 0


def test_failures_outside_the_window_start_over() -> None:
    state = Attempts()
    state = lockout.after_failure(state, POLICY, T0)
    state = lockout.after_failure(state, POLICY, T0 + timedelta(minutes=1))
    state = lockout.after_failure(state, POLICY, T0 + timedelta(minutes=16))
    assert state.failures == 1 and lockout.locked_for(state, T0 + timedelta(minutes=16)) == 0


def test_default_policy_is_five_in_fifteen_minutes() -> None:
    config = AuthConfig.from_env({})
    assert config.lockout.threshold == 5
    assert config.lockout.window == config.lockout.duration == timedelta(minutes=15)
    assert config.access_ttl == timedelta(minutes=15)
    assert config.key_rotation == timedelta(days=7)
    env = {"ERP_AUTH_LOCKOUT_THRESHOLD": "2", "ERP_AUTH_ACCESS_TTL_SECONDS": "60"}
    tuned = AuthConfig.from_env(env)
    assert tuned.lockout.threshold == 2 and tuned.access_ttl == timedelta(seconds=60)


def test_refresh_verdicts() -> None:
    later = T0 + refresh.REFRESH_TTL
    judge = refresh.judge
    ok = judge(used_at=None, expires_at=later, family_revoked=False, now=T0)
    assert ok is refresh.RefreshVerdict.OK
    reused = judge(used_at=T0, expires_at=later, family_revoked=False, now=T0)
    assert reused is refresh.RefreshVerdict.REUSED
    expired = judge(used_at=None, expires_at=T0, family_revoked=False, now=T0)
    assert expired is refresh.RefreshVerdict.EXPIRED
    # Once the family is revoked nothing in it works, used or not.
    revoked = judge(used_at=T0, expires_at=later, family_revoked=True, now=T0)
    assert revoked is refresh.RefreshVerdict.REVOKED


def test_secrets_and_api_key_format() -> None:
    token = secrets.new_token()
    assert len(token) >= 43 and secrets.same_digest(token, secrets.digest(token))
    assert not secrets.same_digest(token + "x", secrets.digest(token))
    key_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    raw = secrets.ApiKeySecret(key_id, "_" + token).render()
    parsed = secrets.parse_api_key(raw)
    assert parsed == secrets.ApiKeySecret(key_id, "_" + token)
    for bad in ("", "erpk_", f"erpk_{key_id}", f"erpk_{key_id}_short", f"xxxx_{key_id}_{token}"):
        assert secrets.parse_api_key(bad) is None, bad


def test_api_key_request_rules() -> None:
    assert apikeys.check_api_key_request("ci", ["*"], None, T0) == []
    found = apikeys.check_api_key_request("", [], T0, T0)
    assert [v.field for v in found] == ["name", "permissions", "expire_time"]
    assert [v.field for v in apikeys.check_api_key_request("x" * 101, ["a.b"], None, T0)] == [
        "name",
        "permissions[0]",
    ]
    assert apikeys.usable(revoke_time=None, expire_time=None, now=T0)
    assert not apikeys.usable(revoke_time=T0, expire_time=None, now=T0)
    assert not apikeys.usable(revoke_time=None, expire_time=T0, now=T0)
