"""The edge: the one public door of the mesh (Envoy config generator)."""

from edge.envoy_edge import EdgeSettings, RateLimit, edge_bootstrap

__all__ = ["EdgeSettings", "RateLimit", "edge_bootstrap"]
