"""What the contracts declare, read from the descriptor set in gen/.

The descriptor set is the single derived artefact every consumer shares: Envoy's
transcoder, reflection, the edge's public routes and the authorization interceptor.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from erp.common.v1 import options_pb2

GEN = Path(__file__).resolve().parent.parent / "gen"
DESCRIPTOR_SET_PATH = GEN / "erp.binpb"
CONTRACT_PACKAGE_PREFIX = "erp."


@dataclass(frozen=True)
class MethodContract:
    """One RPC of the contracts and the access rule it declares."""

    service: str  # fully qualified, "erp.auth.v1.AuthService"
    name: str  # "GetMe"
    public: bool
    permission: str
    feature: str
    declared: bool  # False when the RPC carries no access option at all
    internal: bool = False  # mesh services only: no token, no REST route
    reads: bool = False  # its REST route is a GET: allowed while a tenant is suspended
    during_suspension: bool = False  # a write a suspended tenant may still make (paying)

    @property
    def path(self) -> str:
        """The gRPC :path, "/erp.auth.v1.AuthService/GetMe"."""
        return f"/{self.service}/{self.name}"


@cache
def descriptor_set(path: Path = DESCRIPTOR_SET_PATH) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())


def _contract_files(
    fds: descriptor_pb2.FileDescriptorSet,
) -> list[descriptor_pb2.FileDescriptorProto]:
    return [f for f in fds.file if f.package.startswith(CONTRACT_PACKAGE_PREFIX)]


def service_names(path: Path = DESCRIPTOR_SET_PATH) -> list[str]:
    """Fully qualified names of every service in the contracts."""
    return [
        f"{f.package}.{s.name}" for f in _contract_files(descriptor_set(path)) for s in f.service
    ]


def load_modules(path: Path = DESCRIPTOR_SET_PATH) -> None:
    """Import the generated module of every contract file, so that this process's
    descriptor pool knows every service: the edge sends reflection (grpcurl's
    `describe` and calls) to one service, which must describe all of them."""
    for file in _contract_files(descriptor_set(path)):
        importlib.import_module(file.name.removesuffix(".proto").replace("/", ".") + "_pb2")


def service_domain(full_service_name: str) -> str:
    """ "erp.auth.v1.AuthService" -> "auth": the mesh service that serves it."""
    return full_service_name.split(".")[1]


@cache
def methods(path: Path = DESCRIPTOR_SET_PATH) -> dict[str, MethodContract]:
    """Every RPC in the contracts by gRPC path, with its access rule."""
    found: dict[str, MethodContract] = {}
    for file in _contract_files(descriptor_set(path)):
        for service in file.service:
            full = f"{file.package}.{service.name}"
            for method in service.method:
                opts = method.options
                declared = opts.HasExtension(options_pb2.access)
                rule = opts.Extensions[options_pb2.access]
                contract = MethodContract(
                    service=full,
                    name=method.name,
                    public=rule.public,
                    permission=rule.permission,
                    feature=rule.feature,
                    declared=declared,
                    internal=rule.internal,
                    reads=opts.Extensions[annotations_pb2.http].WhichOneof("pattern") == "get",
                    during_suspension=rule.during_suspension,
                )
                found[contract.path] = contract
    return found


def public_paths(path: Path = DESCRIPTOR_SET_PATH) -> list[str]:
    return sorted(p for p, m in methods(path).items() if m.public)


@cache
def event_types(path: Path = DESCRIPTOR_SET_PATH) -> dict[str, str]:
    """Every event of the contracts: event type -> full name of its payload message
    (the messages marked with `(erp.common.v1.event_type)`)."""
    found: dict[str, str] = {}
    for file in _contract_files(descriptor_set(path)):
        for message in file.message_type:
            event_type = message.options.Extensions[options_pb2.event_type]
            if event_type:
                found[event_type] = f"{file.package}.{message.name}"
    return found
