"""How every service other than svc_auth checks a caller's token: keys from the
real svc_auth's GetJwks over mTLS, the same verifier the interceptor uses."""

from __future__ import annotations

import grpc
import pytest
from real_mesh import RunningMesh  # type: ignore[import-not-found]

from mesh.errors import Unauthenticated
from mesh.jwks_client import jwks_over
from mesh.pki import ensure_pki, sni
from mesh.tokens import TokenVerifier

pytestmark = pytest.mark.mesh


def _mesh_channel(running_mesh: RunningMesh) -> grpc.aio.Channel:
    """What a sidecar does for its service: present a mesh certificate to auth's inbound."""
    edge = ensure_pki(running_mesh.paths, ["edge"])["edge"]
    credentials = grpc.ssl_channel_credentials(
        root_certificates=edge.ca.read_bytes(),
        private_key=edge.key.read_bytes(),
        certificate_chain=edge.cert.read_bytes(),
    )
    return grpc.aio.secure_channel(
        f"127.0.0.1:{running_mesh.ports['auth.inbound']}",
        credentials,
        options=[("grpc.ssl_target_name_override", sni("auth"))],
    )


async def test_a_service_verifies_real_tokens_with_keys_from_auth(
    running_mesh: RunningMesh,
) -> None:
    owner = running_mesh.signup()
    token = owner["tokens"]["access_token"]
    async with _mesh_channel(running_mesh) as channel:
        verifier = TokenVerifier(jwks_over(channel))
        principal = await verifier.verify(token)
        assert principal.subject == owner["user"]["user_id"]
        assert principal.tenant_id == owner["tenant"]["tenant_id"]
        assert principal.permissions == ("*",) and principal.roles == ("owner",)
        with pytest.raises(Unauthenticated):
            await verifier.verify(token[:-6] + "AAAAAA")
