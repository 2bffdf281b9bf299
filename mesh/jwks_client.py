"""Where a service other than svc_auth gets the token keys: AuthService.GetJwks,
called through its own sidecar's outbound listener (mTLS to auth's sidecar)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh.tokens import JwksKeys

FETCH_TIMEOUT_SECONDS = 3.0


def jwks_over(channel: grpc.aio.Channel) -> JwksKeys:
    """Keys fetched with GetJwks over `channel`, cached and refreshed on rotation."""
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)

    async def fetch() -> dict[str, Any]:
        answer = await stub.GetJwks(
            auth_service_pb2.GetJwksRequest(), timeout=FETCH_TIMEOUT_SECONDS
        )
        return MessageToDict(answer, preserving_proto_field_name=True)

    return JwksKeys(fetch)


def remote_jwks(outbound: str) -> JwksKeys:
    """The usual case: plaintext to the local sidecar, which adds mTLS."""
    return jwks_over(grpc.aio.insecure_channel(outbound))
