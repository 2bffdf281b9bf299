"""Calling a service of the contract through the real edge, both ways, for any
service: its google.api.http rules read from the descriptor, a request (a contract
message) turned into the REST call those rules map it to (path variables, body field,
query parameters, a JSON array for a client stream) or sent as gRPC on the same port.

Answers of both ways are compared in one form, the proto3 JSON that the transcoder
prints (field names as in the .proto, int64 as strings, enums by name), so one
expectation checks both. Errors come back in that form too: `{"code", "message",
"details"}`, from the REST body or from the gRPC status details.

The service's own tables (crm_calls.py, finance_calls.py) hold its factories and its
one happy call per RPC; everything here knows nothing of any one service.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.api import annotations_pb2
from google.protobuf import field_mask_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from google.type import date_pb2
from real_mesh import Reply, RunningMesh, eventually  # type: ignore[import-not-found]

Json = dict[str, Any]
Request = Message | tuple[Message, ...]  # a tuple is the messages of a client stream
_ = error_details_pb2  # registers BadRequest and ErrorInfo for reading status details

# ---- the contract's REST mapping ---------------------------------------------------------


@dataclass(frozen=True)
class Route:
    verb: str  # GET, POST, PATCH, DELETE
    template: str  # "/v1/crm/contacts/{contact.id}"
    body: str  # "", "*" or a field name


class Contract:
    """One service of the contract, as the edge's transcoder reads it."""

    def __init__(self, service: ServiceDescriptor) -> None:
        self.service = service

    @property
    def name(self) -> str:
        """The full name grpcurl and reflection list: "erp.crm.v1.CrmService"."""
        return str(self.service.full_name)

    def every_rpc(self) -> set[str]:
        return set(self.service.methods_by_name)

    def route(self, rpc: str) -> Route:
        """The RPC's google.api.http rule."""
        options = self.service.methods_by_name[rpc].GetOptions()
        rule = options.Extensions[annotations_pb2.http]
        verb = rule.WhichOneof("pattern")
        return Route(str(verb).upper(), str(getattr(rule, verb)), str(rule.body))

    def path_variables(self, rpc: str) -> list[str]:
        return re.findall(r"\{([\w.]+)\}", self.route(rpc).template)

    def client_streaming(self, rpc: str) -> bool:
        return bool(self.service.methods_by_name[rpc].client_streaming)

    def rest_form(self, rpc: str, request: Request) -> tuple[str, str, str | None]:
        """(verb, path with query, JSON body) of the REST call for `request`."""
        r = self.route(rpc)
        if isinstance(request, tuple):  # a client stream: the body is a JSON array
            rows = [json_format.MessageToDict(m, preserving_proto_field_name=True) for m in request]
            return r.verb, r.template, json.dumps(rows)
        fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
        path = re.sub(
            r"\{([\w.]+)\}",
            lambda m: urllib.parse.quote(_pop(fields, m.group(1)), safe=""),
            r.template,
        )
        body: Any = None
        if r.body == "*":
            body, fields = fields, {}
        elif r.body:
            body = fields.pop(r.body, {})
        query = urllib.parse.urlencode(_query(fields), quote_via=urllib.parse.quote)
        if query:
            path += "?" + query
        if body is None and r.verb in ("POST", "PATCH"):
            body = {}
        return r.verb, path, None if body is None else json.dumps(body)


def as_json(message: Message) -> Json:
    """A message in the transcoder's JSON form, default values included."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _pop(fields: Json, dotted: str) -> str:
    *parents, last = dotted.split(".")
    for name in parents:
        fields = fields.setdefault(name, {})
    return str(fields.pop(last, ""))


def _query(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Query parameters of the fields not bound to the path or the body: nested
    messages as dotted names, repeated fields as repeated parameters."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _query(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(value, list):
        return [p for v in value for p in _query(v, prefix)]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]


# ---- comparing answers with expectations -------------------------------------------------


class Is:
    """A test on one value of an answer, named for the failure message."""

    def __init__(self, name: str, test: Callable[[Any], bool]) -> None:
        self.name, self.test = name, test

    def __repr__(self) -> str:
        return self.name


NONEMPTY = Is("non-empty", bool)


def starts(prefix: str) -> Is:
    return Is(f"starts with {prefix!r}", lambda v: isinstance(v, str) and v.startswith(prefix))


def has(**like: Any) -> Is:
    """A list with at least one item like `like`."""
    return Is(
        f"a list with an item like {like}", lambda v: any(not mismatches(i, like) for i in v or [])
    )


def mismatches(actual: Any, expected: Any, at: str = "") -> list[str]:
    """Where `actual` differs from `expected`: dicts compare the expected keys only,
    lists item by item, `Is` by its test, anything else by equality."""
    if isinstance(expected, Is):
        return [] if expected.test(actual) else [f"{at or '.'}: {actual!r} is not {expected!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{at or '.'}: {actual!r} is not an object"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{at}.{key}: missing")
            else:
                found += mismatches(actual[key], value, f"{at}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{at or '.'}: {actual!r} is not a list of {len(expected)} like {expected!r}"]
        return [
            p
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for p in mismatches(a, e, f"{at}[{i}]")
        ]
    return [] if actual == expected else [f"{at or '.'}: {actual!r} != {expected!r}"]


def assert_like(actual: Any, expected: Any, what: str = "") -> None:
    problems = mismatches(actual, expected)
    assert not problems, f"{what}: " + "; ".join(problems) + f"\nanswer: {json.dumps(actual)}"


# ---- errors in one form --------------------------------------------------------------------


def violated_fields(body: Json) -> set[str]:
    """The fields named by google.rpc.BadRequest details."""
    fields: set[str] = set()
    for detail in body.get("details", []):
        if str(detail.get("@type", "")).endswith("google.rpc.BadRequest"):
            fields |= {v["field"] for v in detail.get("field_violations", [])}
    return fields


def error_info(body: Json) -> Json:
    for detail in body.get("details", []):
        if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            return dict(detail)
    raise AssertionError(f"no google.rpc.ErrorInfo in {body}")


@dataclass(frozen=True)
class GrpcAnswer:
    code: Any  # grpc.StatusCode
    body: Json  # the answer, or the google.rpc.Status with its details


def status_of(error: Any) -> Json:
    """A gRPC error's google.rpc.Status (with its details) as JSON."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return json_format.MessageToDict(
                status_pb2.Status.FromString(value), preserving_proto_field_name=True
            )
    return {"code": error.code().value[0], "message": error.details() or "", "details": []}


# ---- values for requests -------------------------------------------------------------------


def unique(prefix: str = "x") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def day(value: str) -> date_pb2.Date:
    y, m, d = (int(p) for p in value.split("-"))
    return date_pb2.Date(year=y, month=m, day=d)


def today(offset_days: int = 0) -> date_pb2.Date:
    return day((datetime.now(UTC) + timedelta(days=offset_days)).date().isoformat())


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def at(iso: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString(iso)
    return stamp


# ---- the world: tenants and both ways of calling -------------------------------------------


@dataclass(frozen=True)
class Tenant:
    token: str
    tenant_id: str
    user_id: str


class EdgeWorld:
    """Tenant A (who the tables act as) and tenant B (whose ids A must not reach), and
    one service's RPCs sent as either tenant, both ways. `ready_path` is a GET the
    service answers 200 once a new tenant may use it (the plan that signup starts
    reaches the service over NATS)."""

    def __init__(self, mesh: RunningMesh, contract: Contract, stub: Any, ready_path: str) -> None:
        self.mesh = mesh
        self.contract = contract
        self.stub = stub
        self.ready_path = ready_path
        self.a = self.tenant("Alpha")
        self.b = self.tenant("Beta")

    def tenant(self, name: str) -> Tenant:
        """A new tenant, signed up through the edge, ready to use the service."""
        owner = self.mesh.signup(name)
        tenant = Tenant(
            owner["tokens"]["access_token"], owner["tenant"]["tenant_id"], owner["user"]["user_id"]
        )
        eventually(
            lambda: self.mesh.call("GET", self.ready_path, token=tenant.token),
            lambda r: r.status == 200,
        )
        return tenant

    # --- sending -----------------------------------------------------------------------

    def rest(self, rpc: str, request: Request, as_: Tenant | None = None) -> Reply:
        verb, path, body = self.contract.rest_form(rpc, request)
        token = None if as_ is None else as_.token
        return self.mesh.call(verb, path, body, token=token)

    def grpc(self, rpc: str, request: Request, as_: Tenant | None = None) -> GrpcAnswer:
        metadata = () if as_ is None else (("authorization", f"Bearer {as_.token}"),)
        send = getattr(self.stub, rpc)
        try:
            if isinstance(request, tuple):
                answer = send(iter(request), metadata=metadata, timeout=15)
            else:
                answer = send(request, metadata=metadata, timeout=15)
        except grpc.RpcError as error:
            return GrpcAnswer(error.code(), status_of(error))
        return GrpcAnswer(grpc.StatusCode.OK, as_json(answer))

    def ok(self, rpc: str, request: Request, as_: Tenant | None = None) -> Json:
        """A call that must succeed (REST), for setting up the record a case needs."""
        reply = self.rest(rpc, request, as_ or self.a)
        assert reply.status == 200, (rpc, reply)
        return dict(reply.body)

    def get(self, path: str, as_: Tenant | None = None) -> Json:
        reply = self.mesh.call("GET", path, token=(as_ or self.a).token)
        assert reply.status == 200, (path, reply)
        return dict(reply.body)


# ---- one happy call per RPC ---------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A request, what its answer must look like, and checks beyond the answer."""

    request: Request
    expect: Json
    public: bool = False  # sent without a token
    also: Callable[[Json], None] | None = None
    as_: Tenant | None = None  # who sends it, when not the world's tenant A


Build = Callable[[Any], Call]  # a world in, the call out


def registry(table: dict[str, Build]) -> Callable[[str], Callable[[Build], Build]]:
    """The `@happy("Rpc")` decorator filling `table`, one row per RPC."""

    def happy(rpc: str) -> Callable[[Build], Build]:
        def register(build: Build) -> Build:
            assert rpc not in table, rpc
            table[rpc] = build
            return build

        return register

    return happy
