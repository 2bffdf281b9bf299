"""Envoy bootstrap generators for the mesh's sidecars (the edge's lives in `edge/`)."""

from mesh.envoy.common import envoy_binary, envoy_command, write_bootstrap
from mesh.envoy.sidecar import SidecarPorts, sidecar_bootstrap

__all__ = ["SidecarPorts", "envoy_binary", "envoy_command", "sidecar_bootstrap", "write_bootstrap"]
