"""One-time secrets (refresh, invitation, reset tokens, API keys): generated with
`secrets`, stored only as SHA-256. They are high-entropy random strings, so a
fast hash is enough (no salt or stretching needed, unlike passwords) and lets us
find the row by its hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_BYTES = 32  # 256 bits -> 43 url-safe characters
API_KEY_PREFIX = "erpk_"
_ID_LENGTH = 36  # a UUID in its canonical form


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)


@dataclass(frozen=True)
class ApiKeySecret:
    api_key_id: str
    secret: str

    def render(self) -> str:
        return f"{API_KEY_PREFIX}{self.api_key_id}_{self.secret}"


def parse_api_key(raw: str) -> ApiKeySecret | None:
    """`erpk_<uuid>_<random>`; the random part may itself contain '_'."""
    if not raw.startswith(API_KEY_PREFIX):
        return None
    rest = raw[len(API_KEY_PREFIX) :]
    key_id, sep, secret = (
        rest[:_ID_LENGTH],
        rest[_ID_LENGTH : _ID_LENGTH + 1],
        rest[_ID_LENGTH + 1 :],
    )
    if sep != "_" or len(secret) < 43 or len(key_id) != _ID_LENGTH:
        return None
    return ApiKeySecret(key_id, secret)
