"""How every service other than svc_auth checks a caller's token: keys from the
real svc_auth's GetJwks over mTLS, the same verifier the interceptor uses."""

from __future__ import annotations

import pytest
from real_mesh import RunningMesh  # type: ignore[import-not-found]

from mesh.errors import Unauthenticated
from mesh.jwks_client import jwks_over
from mesh.pki import ensure_pki, mesh_channel
from mesh.tokens import TokenVerifier

pytestmark = pytest.mark.mesh


async def test_a_service_verifies_real_tokens_with_keys_from_auth(
    running_mesh: RunningMesh,
) -> None:
    owner = running_mesh.signup()
    token = owner["tokens"]["access_token"]
    edge = ensure_pki(running_mesh.paths, ["edge"])["edge"]  # the files `erp up` made
    inbound = running_mesh.ports["auth.inbound"]
    async with mesh_channel(edge, "auth", inbound) as channel:
        verifier = TokenVerifier(jwks_over(channel))
        principal = await verifier.verify(token)
        assert principal.subject == owner["user"]["user_id"]
        assert principal.tenant_id == owner["tenant"]["tenant_id"]
        assert principal.permissions == ("*",) and principal.roles == ("owner",)
        with pytest.raises(Unauthenticated):
            await verifier.verify(token[:-6] + "AAAAAA")
