"""svc_auth wired to the mesh: setup builds the key store and the servicer;
a background task rotates the signing key when it gets old."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from erp.auth.v1 import auth_service_pb2_grpc
from mesh.config import MeshPaths
from mesh.server import Runtime, ServiceDefinition
from mesh.tokens import KeyProvider
from svc_auth.api import AuthApi
from svc_auth.app.common import Deps
from svc_auth.app.profiles import ProfileCache
from svc_auth.config import AuthConfig
from svc_auth.keys import KeyStore, load_or_create_kek
from svc_auth.passwords import Passwords
from svc_auth.store import TABLES, Base
from svc_auth.tokens import TokenIssuer

log = logging.getLogger("svc_auth")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MAX_ROTATION_CHECK_SECONDS = 60.0


class AuthService:
    """One instance per process; `keys` is there after setup (tests rotate with it)."""

    def __init__(self, config: AuthConfig | None = None) -> None:
        self.config = config or AuthConfig.from_env()
        self._keys: KeyStore | None = None

    @property
    def keys(self) -> KeyStore:
        assert self._keys is not None, "the service has not been set up yet"
        return self._keys

    def definition(self) -> ServiceDefinition:
        return ServiceDefinition(
            name="auth",
            metadata=Base.metadata,
            tables=TABLES,
            migrations=MIGRATIONS,
            setup=self.setup,
            background=[self.rotate_keys],
        )

    async def setup(self, runtime: Runtime) -> KeyProvider:
        kek = load_or_create_kek(MeshPaths(runtime.settings.home).certs)
        self._keys = KeyStore(runtime.db, kek, self.config.access_ttl)
        await self._keys.ensure_key()
        deps = Deps(
            db=runtime.db,
            keys=self._keys,
            issuer=TokenIssuer(self._keys, self.config.access_ttl),
            passwords=Passwords(),
            config=self.config,
            profiles=ProfileCache(self.config.profile_cache_seconds),
        )
        auth_service_pb2_grpc.add_AuthServiceServicer_to_server(AuthApi(deps), runtime.server)
        return self._keys

    async def rotate_keys(self, runtime: Runtime) -> None:
        """Checks now and then whether the signing key is due for rotation."""
        interval = min(MAX_ROTATION_CHECK_SECONDS, self.config.key_rotation.total_seconds() / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                due = self.config.key_rotation
                if await self.keys.rotate_if_due(due, self.config.publish_ahead):
                    log.info("next signing key published; it signs from its activation time")
            except Exception:
                log.exception("signing key rotation failed; will retry")


def definition() -> ServiceDefinition:
    return AuthService().definition()
