"""A tiny gRPC stand-in for a mesh service: health, reflection and a few AuthService RPCs.

It lets the mesh tests exercise real Envoy configs before (or without) the real
svc_auth. It is a threaded (sync) server so that tests blocking on HTTP calls do
not stall it; run as a script it serves on $ERP_SOCKET until SIGTERM.
"""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh import contracts
from mesh.config import MeshPaths
from mesh.envoy import SidecarPorts
from mesh.pki import CertFiles

KID = "standin-1"


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


class StandinAuth(auth_service_pb2_grpc.AuthServiceServicer):
    """GetJwks publishes one ES256 key; GetMe records what the caller's sidecar forwarded."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.last_metadata: dict[str, str] = {}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": "erp-auth", "aud": "erp", "sub": "u1", "iat": now, "exp": now + 300}
        payload.update(claims)
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": KID})

    def GetJwks(self, request: Any, context: Any) -> auth_service_pb2.GetJwksResponse:  # noqa: N802
        nums = self.key.public_key().public_numbers()
        jwk = auth_service_pb2.Jwk(
            kty="EC", crv="P-256", x=_b64(nums.x), y=_b64(nums.y), kid=KID, alg="ES256", use="sig"
        )
        return auth_service_pb2.GetJwksResponse(keys=[jwk])

    def GetMe(self, request: Any, context: Any) -> auth_service_pb2.GetMeResponse:  # noqa: N802
        self.last_metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        return auth_service_pb2.GetMeResponse(tenant_id="t1")

    def Signup(self, request: Any, context: Any) -> auth_service_pb2.SignupResponse:  # noqa: N802
        if not request.email:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "email is required")
        return auth_service_pb2.SignupResponse()


def start_standin(socket: Path) -> tuple[grpc.Server, StandinAuth]:
    """Serve on a unix socket with mode 0600, like a real service."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = StandinAuth()  # type: ignore[abstract]  # the rest answer UNIMPLEMENTED
    auth_service_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    reflection.enable_server_reflection(
        [*contracts.service_names(), reflection.SERVICE_NAME, health.SERVICE_NAME], server
    )
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    socket.chmod(0o600)
    checker.set("", health_pb2.HealthCheckResponse.SERVING)
    return server, servicer


@dataclass
class Sidecar:
    """A stand-in auth service behind its real sidecar Envoy (the auth_sidecar fixture)."""

    paths: MeshPaths
    certs: dict[str, CertFiles]
    ports: SidecarPorts
    service: StandinAuth
    # Ports reserved for a second mesh member "crm" that tests may start.
    crm_ports: SidecarPorts


if __name__ == "__main__":
    # The launcher tests run this in place of `python -m svc_auth`.
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    running, _ = start_standin(Path(os.environ["ERP_SOCKET"]))
    done.wait()
    running.stop(grace=1).wait()
