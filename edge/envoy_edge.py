"""The edge Envoy's bootstrap: REST and gRPC on one port, thin and contract-driven.

Filter order matters: CORS answers preflights first; the transcoder turns REST into
gRPC (so every later filter sees gRPC paths); jwt_authn checks tokens except on the
contracts' public RPCs; the rate limiter spends tokens only on authenticated-or-public
calls; the router forwards over mTLS to the owning service's sidecar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mesh import contracts
from mesh.config import DEFAULT_EDGE_PORT
from mesh.envoy.common import (
    TYPE,
    Json,
    access_log,
    bootstrap,
    cluster,
    grpc_route,
    http_connection_manager,
    listener,
    socket_address,
)
from mesh.envoy.sidecar import mesh_cluster, service_cluster
from mesh.pki import CertFiles
from mesh.tokens import AUDIENCE, ISSUER, JWKS_CACHE_SECONDS

JWT_ISSUER = ISSUER  # the token contract lives in mesh.tokens
JWT_AUDIENCE = AUDIENCE
JWT_PROVIDER = "erp"
JWKS_PATH = "/v1/auth/jwks"
JWKS_CLUSTER = "edge_self"
# Served by whichever service hosts reflection and health for the whole mesh.
PLATFORM_SERVICE = "auth"
PLATFORM_PREFIXES = ("/grpc.reflection.", "/grpc.health.v1.")
# The REST API's OpenAPI document (gen/openapi.json, from `make gen`), served as is.
OPENAPI_PATH = "/openapi.json"
OPENAPI_FILE = contracts.GEN / "openapi.json"
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024

# HTTP status of an Envoy-made reply -> the gRPC code its JSON body carries.
STATUS_TO_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 8, 429: 8, 501: 12, 503: 14, 504: 4}
GRPC_UNKNOWN = 2
# Client addresses with a bucket of their own; the least recently seen make room.
MAX_TRACKED_CLIENTS = 10_000
CLIENT_RPS = 2000  # requests per second one client address may make
TOTAL_RPS = 20000  # requests per second the whole edge admits


@dataclass(frozen=True)
class RateLimit:
    """Token bucket of the edge's local rate limit, per client address."""

    max_tokens: int
    tokens_per_fill: int
    fill_interval_s: float = 1.0

    @classmethod
    def per_second(cls, rate: int, burst: int | None = None) -> RateLimit:
        return cls(max_tokens=burst or 2 * rate, tokens_per_fill=rate, fill_interval_s=1.0)

    @classmethod
    def from_env(cls, variable: str, default_per_second: int) -> RateLimit:
        """`variable` requests per second (burst twice that)."""
        return cls.per_second(int(os.environ.get(variable, str(default_per_second))))


def _cors_origins_from_env() -> tuple[str, ...]:
    raw = os.environ.get("ERP_CORS_ORIGINS", "*")
    return tuple(o.strip() for o in raw.split(",") if o.strip()) or ("*",)


@dataclass(frozen=True)
class EdgeSettings:
    """Where the edge listens and how it limits; `from_env` reads the ERP_EDGE_* variables."""

    port: int = DEFAULT_EDGE_PORT
    admin_port: int = 0
    address: str = "127.0.0.1"
    cors_origins: tuple[str, ...] = ("*",)
    # Per client address, and for the whole edge (every request takes from both).
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit.per_second(CLIENT_RPS))
    total_rate_limit: RateLimit = field(default_factory=lambda: RateLimit.per_second(TOTAL_RPS))
    # Where jwt_authn fetches the JWKS: normally this edge itself (None = same port).
    jwks_port: int | None = None
    descriptor: Path = contracts.DESCRIPTOR_SET_PATH

    @classmethod
    def from_env(cls, admin_port: int, port: int | None = None) -> EdgeSettings:
        return cls(
            port=port or int(os.environ.get("ERP_EDGE_PORT", str(DEFAULT_EDGE_PORT))),
            admin_port=admin_port,
            address=os.environ.get("ERP_EDGE_ADDRESS", "127.0.0.1"),
            cors_origins=_cors_origins_from_env(),
            rate_limit=RateLimit.from_env("ERP_EDGE_RATE_LIMIT", CLIENT_RPS),
            total_rate_limit=RateLimit.from_env("ERP_EDGE_RATE_LIMIT_TOTAL", TOTAL_RPS),
        )

    @property
    def local_host(self) -> str:
        """An address of this edge reachable from the box itself."""
        return "127.0.0.1" if self.address in ("0.0.0.0", "::", "") else self.address


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _cors_policy(origins: tuple[str, ...]) -> Json:
    matchers = [{"safe_regex": {"regex": ".*"}} if o == "*" else {"exact": o} for o in origins]
    return {
        "@type": TYPE + "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": matchers,
        "allow_methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "allow_headers": (
            "authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, "
            "idempotency-key, x-request-id"
        ),
        "expose_headers": "grpc-status, grpc-message, grpc-status-details-bin, x-request-id",
        "max_age": "600",
    }


def _cors_filter() -> Json:
    return {
        "name": "envoy.filters.http.cors",
        "typed_config": {"@type": TYPE + "envoy.extensions.filters.http.cors.v3.Cors"},
    }


def _transcoder(descriptor: Path) -> Json:
    return {
        "name": "envoy.filters.http.grpc_json_transcoder",
        "typed_config": {
            "@type": TYPE
            + "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor": str(descriptor),
            "services": contracts.service_names(descriptor),
            "convert_grpc_status": True,
            # Browsers (URLSearchParams, HTML forms) encode a space in a query as "+":
            # `?filter=owner+%3D+u_1` must reach the service as "owner = u_1". A real
            # plus arrives as %2B.
            "query_param_unescape_plus": True,
            "print_options": {
                "always_print_primitive_fields": True,
                "preserve_proto_field_names": True,
            },
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
            },
        },
    }


def _jwt_authn(settings: EdgeSettings) -> Json:
    jwks_port = settings.jwks_port or settings.port
    public = [{"match": {"path": p}} for p in contracts.public_paths(settings.descriptor)]
    public.append({"match": {"path": OPENAPI_PATH}})
    platform = [{"match": {"prefix": p}} for p in PLATFORM_PREFIXES]
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                JWT_PROVIDER: {
                    "issuer": JWT_ISSUER,
                    "audiences": [JWT_AUDIENCE],
                    "remote_jwks": {
                        "http_uri": {
                            "uri": f"http://{settings.local_host}:{jwks_port}{JWKS_PATH}",
                            "cluster": JWKS_CLUSTER,
                            "timeout": "2s",
                        },
                        "cache_duration": f"{JWKS_CACHE_SECONDS}s",
                        # fast_listener: the JWKS comes from this very listener, so the
                        # listener must not wait for it; a failed fetch is retried soon.
                        "async_fetch": {"fast_listener": True, "failed_refetch_duration": "2s"},
                    },
                    # Services verify the token again, so it travels on.
                    "forward": True,
                }
            },
            "rules": [
                *public,
                *platform,
                {"match": {"prefix": "/"}, "requires": {"provider_name": JWT_PROVIDER}},
            ],
        },
    }


def _bucket(limit: RateLimit) -> Json:
    return {
        "max_tokens": limit.max_tokens,
        "tokens_per_fill": limit.tokens_per_fill,
        "fill_interval": _duration(limit.fill_interval_s),
    }


def _local_ratelimit(per_client: RateLimit, total: RateLimit) -> Json:
    """A token bucket per client address, so a noisy client cannot lock out the rest,
    and one for the whole edge; a request must find a token in both."""
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": TYPE + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "edge_rate_limit",
            "token_bucket": _bucket(total),
            # An entry without a value is a wildcard: a bucket per distinct address.
            "descriptors": [
                {"entries": [{"key": "remote_address"}], "token_bucket": _bucket(per_client)}
            ],
            "max_dynamic_descriptors": MAX_TRACKED_CLIENTS,
            "rate_limits": [{"actions": [{"remote_address": {}}]}],
            "filter_enabled": {**always, "runtime_key": "edge_rate_limit_enabled"},
            "filter_enforced": {**always, "runtime_key": "edge_rate_limit_enforced"},
            "rate_limited_as_resource_exhausted": True,
        },
    }


def _not_grpc() -> Json:
    """Matches requests that did not arrive as gRPC (REST, browsers, curl).

    The transcoder records the REST path in x-envoy-original-path when it rewrites a
    request into gRPC, so such requests still count as REST here.
    """
    grpc_ct = {
        "header_filter": {
            "header": {
                "name": "content-type",
                "string_match": {"prefix": "application/grpc"},
                "invert_match": True,
                # curl's GET sends no content-type at all: that is REST too.
                "treat_missing_header_as_empty": True,
            }
        }
    }
    transcoded = {
        "header_filter": {"header": {"name": "x-envoy-original-path", "present_match": True}}
    }
    return {"or_filter": {"filters": [grpc_ct, transcoded]}}


def _json_body(code: int) -> Json:
    return {"json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%"}}


def _status_filter(op: str, value: int) -> Json:
    return {
        "status_code_filter": {
            "comparison": {
                "op": op,
                "value": {"default_value": value, "runtime_key": f"edge_local_reply_{value}"},
            }
        }
    }


def _local_reply_config() -> Json:
    """Envoy's own errors (text/plain by default) as the same JSON shape services answer."""
    mappers = [
        {
            "filter": {"and_filter": {"filters": [_status_filter("EQ", status), _not_grpc()]}},
            "body_format_override": _json_body(code),
        }
        for status, code in STATUS_TO_GRPC.items()
    ]
    mappers.append(
        {
            "filter": {"and_filter": {"filters": [_status_filter("GE", 400), _not_grpc()]}},
            "body_format_override": _json_body(GRPC_UNKNOWN),
        }
    )
    return {"mappers": mappers}


def _openapi_route() -> Json:
    """GET /openapi.json: a file Envoy serves itself; no transcoding, no token."""
    disabled = {"@type": TYPE + "envoy.config.route.v3.FilterConfig", "disabled": True}
    return {
        "match": {"path": OPENAPI_PATH, "headers": [{"name": ":method", "exact_match": "GET"}]},
        "direct_response": {"status": 200, "body": {"filename": str(OPENAPI_FILE)}},
        "response_headers_to_add": [
            {"header": {"key": "content-type", "value": "application/json"}}
        ],
        "typed_per_filter_config": {
            "envoy.filters.http.grpc_json_transcoder": disabled,
            "envoy.filters.http.jwt_authn": disabled,
        },
    }


def _routes(settings: EdgeSettings, domains: list[str]) -> Json:
    routes = [grpc_route(f"/erp.{d}.v1.", service_cluster(d)) for d in domains]
    routes += [grpc_route(p, service_cluster(PLATFORM_SERVICE)) for p in PLATFORM_PREFIXES]
    # Catch-all to a real cluster: the CORS filter runs before the transcoder, so it
    # matches REST paths, and it skips routes that are direct responses. Valid REST
    # calls are rewritten to gRPC paths (matched above); unknown REST paths are
    # answered 404 by the transcoder; only unknown gRPC paths reach this cluster,
    # whose server answers UNIMPLEMENTED.
    routes.append(_openapi_route())
    routes.append(grpc_route("/", service_cluster(PLATFORM_SERVICE)))
    return {
        "name": "edge",
        "max_direct_response_body_size_bytes": MAX_DOCUMENT_BYTES,
        "virtual_hosts": [
            {
                "name": "erp",
                "domains": ["*"],
                "routes": routes,
                "typed_per_filter_config": {
                    "envoy.filters.http.cors": _cors_policy(settings.cors_origins)
                },
            }
        ],
    }


def edge_bootstrap(
    settings: EdgeSettings, edge_certs: CertFiles, inbound_ports: dict[str, int]
) -> Json:
    """Envoy bootstrap for the edge.

    `edge_certs` are the edge's own mesh certificate files; `inbound_ports` maps each
    running service to its sidecar's inbound port. Contract domains without a running
    service get no route (their calls answer UNAVAILABLE-free 404/UNIMPLEMENTED).
    """
    domains = sorted(
        {contracts.service_domain(s) for s in contracts.service_names(settings.descriptor)}
        & set(inbound_ports)
    )
    targets = sorted(set(domains) | ({PLATFORM_SERVICE} & set(inbound_ports)))
    hcm = http_connection_manager(
        "edge",
        _routes(settings, domains),
        [
            _cors_filter(),
            _transcoder(settings.descriptor),
            _jwt_authn(settings),
            _local_ratelimit(settings.rate_limit, settings.total_rate_limit),
        ],
        codec_type="AUTO",
        local_reply_config=_local_reply_config(),
        # The edge is the trust boundary: it never believes client-sent forwarding headers.
        use_remote_address=True,
        forward_client_cert_details="SANITIZE",
        access_log=access_log("edge"),
    )
    jwks_port = settings.jwks_port or settings.port
    return bootstrap(
        node="edge",
        admin_port=settings.admin_port,
        listeners=[listener("edge", socket_address(settings.port, settings.address), hcm)],
        clusters=[
            *(mesh_cluster(s, inbound_ports[s], edge_certs) for s in targets),
            cluster(JWKS_CLUSTER, socket_address(jwks_port, settings.local_host), http2=False),
        ],
    )
