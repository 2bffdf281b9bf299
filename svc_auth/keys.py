"""Signing keys for access tokens: ES256 (P-256) pairs kept in the auth database,
the private half encrypted with AES-256-GCM under a key-encryption key (KEK) that
lives in a 0600 file beside the mesh's other secrets, never in the database. A
stolen database dump therefore cannot mint tokens.

Rotation: a new key signs from the moment it is made; retired keys keep
verifying (and stay in the JWKS) for one access-token lifetime plus a grace, so
no valid token is orphaned.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import ECAlgorithm

from mesh.db import Database
from mesh.ids import new_id
from mesh.tokens import ALGORITHM
from svc_auth.config import JWKS_GRACE
from svc_auth.store import SigningKeyRow, SigningKeys

KEK_FILE = "auth-kek.bin"
_NONCE = 12
_RELOAD_MIN_SECONDS = 1.0  # an unknown kid reloads from the DB at most this often


def load_or_create_kek(certs: Path) -> bytes:
    """The 32-byte KEK; created 0600 on first start (O_EXCL: never overwritten)."""
    certs.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = certs / KEK_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        kek = path.read_bytes()
        if len(kek) != 32:
            raise RuntimeError(f"{path} is not a 32-byte key") from None
        return kek
    kek = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "wb") as out:
        out.write(kek)
    return kek


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey
    created_at: datetime
    activates_at: datetime


@dataclass(frozen=True)
class PublicKey:
    kid: str
    jwk: dict[str, str]
    key: Any  # what PyJWT verifies with
    created_at: datetime
    retired_at: datetime | None


class KeyStore:
    """Signs with the current key; serves public keys to the verifier and JWKS.

    Implements mesh.tokens.KeyProvider. Keys are cached in memory; an unknown kid
    (a key made by another instance) triggers a reload from the database.
    """

    def __init__(self, db: Database, kek: bytes, access_ttl: timedelta) -> None:
        self._db = db
        self._aead = AESGCM(kek)
        self._access_ttl = access_ttl
        self._signers: list[SigningKey] = []  # not yet retired, newest first
        self._public: dict[str, PublicKey] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    # --- KeyProvider -------------------------------------------------------------

    async def public_key(self, kid: str) -> Any | None:
        known = self._public.get(kid)
        if known is None and time.monotonic() - self._loaded_at >= _RELOAD_MIN_SECONDS:
            await self.load()
            known = self._public.get(kid)
        return None if known is None else known.key

    # --- signing -----------------------------------------------------------------

    async def current(self) -> SigningKey:
        """The newest key whose activation time has come (a published-ahead key waits)."""
        if not self._signers:
            await self.ensure_key()
        now = datetime.now(UTC)
        active = [k for k in self._signers if k.activates_at <= now]
        return active[0] if active else self._signers[-1]

    def jwks(self, now: datetime | None = None) -> list[dict[str, str]]:
        """The signing key, the next one once published, and keys retired less than
        access TTL + grace ago (tokens they signed are still valid)."""
        now = now or datetime.now(UTC)
        oldest = now - self._access_ttl - JWKS_GRACE
        keys = [k for k in self._public.values() if k.retired_at is None or k.retired_at > oldest]
        keys.sort(key=lambda k: k.created_at, reverse=True)
        return [k.jwk for k in keys]

    # --- lifecycle ---------------------------------------------------------------

    async def load(self) -> None:
        async with self._db.sessions() as session:
            rows = await SigningKeys(session).newest_first()
        now = datetime.now(UTC)
        self._public = {row.kid: self._public_of(row) for row in rows}
        self._signers = [
            self._decrypt(row) for row in rows if row.retired_at is None or row.retired_at > now
        ]
        self._loaded_at = time.monotonic()

    async def published(self) -> list[dict[str, str]]:
        """The JWKS as the database has it now: another replica may have rotated."""
        if time.monotonic() - self._loaded_at >= _RELOAD_MIN_SECONDS:
            await self.load()
        return self.jwks()

    async def ensure_key(self) -> None:
        """Load the keys; make the first one on a fresh database."""
        await self.load()
        if not self._signers:
            await self.rotate_now()

    async def rotate_now(self, publish_ahead: timedelta = timedelta(0)) -> SigningKey:
        """Make a new key: published at once, signing after `publish_ahead`.

        Zero (first key, or an emergency after a leak) signs at once; scheduled
        rotations wait until every verifier's JWKS cache has seen the new key.
        """
        async with self._lock:
            private = ec.generate_private_key(ec.SECP256R1())
            now = datetime.now(UTC)
            activates = now + publish_ahead
            kid = new_id()
            row = SigningKeyRow(
                kid=kid,
                private_key=self._encrypt(private),
                public_jwk={**self._jwk_of(private), "kid": kid},
                created_at=now,
                activates_at=activates,
            )
            async with self._db.transaction() as session:
                keys = SigningKeys(session)
                keys.add(row)
                await session.flush()
                await keys.retire_all_but(row.kid, activates)
            await self.load()
            return self._decrypt(row)

    async def rotate_if_due(self, max_age: timedelta, publish_ahead: timedelta) -> bool:
        """Publish the next key `publish_ahead` before the current one reaches `max_age`."""
        await self.load()
        now = datetime.now(UTC)
        if any(k.activates_at > now for k in self._signers):
            return False  # the next key is already published and waiting
        current = await self.current()
        if now - current.activates_at < max_age - publish_ahead:
            return False
        await self.rotate_now(publish_ahead)
        return True

    # --- crypto ------------------------------------------------------------------

    def _encrypt(self, private: ec.EllipticCurvePrivateKey) -> bytes:
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, der, b"erp-auth-signing-key")

    def _decrypt(self, row: SigningKeyRow) -> SigningKey:
        blob = row.private_key
        der = self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], b"erp-auth-signing-key")
        private = serialization.load_der_private_key(der, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return SigningKey(row.kid, private, row.created_at, row.activates_at)

    @staticmethod
    def _jwk_of(private: ec.EllipticCurvePrivateKey) -> dict[str, str]:
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)  # kty, crv, x, y
        return {**jwk, "alg": ALGORITHM, "use": "sig"}

    @staticmethod
    def _public_of(row: SigningKeyRow) -> PublicKey:
        jwk = dict(row.public_jwk)
        key = ECAlgorithm.from_jwk(json.dumps(jwk))
        return PublicKey(row.kid, jwk, key, row.created_at, row.retired_at)
