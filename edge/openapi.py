"""The OpenAPI 3.1 document of the REST edge, derived from the contracts.

`python -m edge.openapi [OUT]` (part of `make gen`) writes gen/openapi.json from the
descriptor set: one operation per `google.api.http` rule, schemas in the proto3
JSON mapping with proto field names (what the transcoder prints), comments as
descriptions, the access rule as security. The edge serves it at /openapi.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from erp.common.v1 import options_pb2
from mesh import contracts

Json = dict[str, Any]
FDP = descriptor_pb2.FieldDescriptorProto
OUT = contracts.GEN / "openapi.json"
STATUS_REF = "#/components/schemas/google.rpc.Status"

# proto3 JSON mapping of scalar types (64-bit integers are strings in JSON).
_SCALARS: dict[int, Json] = {
    FDP.TYPE_STRING: {"type": "string"},
    FDP.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FDP.TYPE_BOOL: {"type": "boolean"},
    FDP.TYPE_DOUBLE: {"type": "number"},
    FDP.TYPE_FLOAT: {"type": "number"},
    **{
        t: {"type": "integer", "format": "int32"}
        for t in (FDP.TYPE_INT32, FDP.TYPE_SINT32, FDP.TYPE_SFIXED32)
    },
    **{t: {"type": "integer", "format": "uint32"} for t in (FDP.TYPE_UINT32, FDP.TYPE_FIXED32)},
    **{
        t: {"type": "string", "format": "int64"}
        for t in (
            FDP.TYPE_INT64,
            FDP.TYPE_SINT64,
            FDP.TYPE_SFIXED64,
            FDP.TYPE_UINT64,
            FDP.TYPE_FIXED64,
        )
    },
}
# Well-known types have their own JSON form.
_WELL_KNOWN: dict[str, Json] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},  # any JSON value
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated paths"},
}
_HTTP_VERBS = ("get", "put", "post", "delete", "patch")


class _Contracts:
    """Messages, enums and comments of a descriptor set, by full name."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[str, str] = {}
        for file in fds.file:
            docs = {
                tuple(loc.path): loc.leading_comments.strip()
                for loc in file.source_code_info.location
                if loc.leading_comments
            }
            for i, message in enumerate(file.message_type):
                self._message(file.package, message, (4, i), docs)
            for i, enum in enumerate(file.enum_type):
                self.enums[f"{file.package}.{enum.name}"] = enum
                self.comments[f"{file.package}.{enum.name}"] = docs.get((5, i), "")
            for s, service in enumerate(file.service):
                for m, method in enumerate(service.method):
                    key = f"/{file.package}.{service.name}/{method.name}"
                    self.comments[key] = docs.get((6, s, 2, m), "")

    def _message(
        self,
        scope: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        docs: dict[tuple[int, ...], str],
    ) -> None:
        name = f"{scope}.{message.name}"
        self.messages[name] = message
        self.comments[name] = docs.get(path, "")
        for j, _ in enumerate(message.field):
            self.comments[f"{name}#{j}"] = docs.get((*path, 2, j), "")
        for k, nested in enumerate(message.nested_type):
            self._message(name, nested, (*path, 3, k), docs)
        for enum in message.enum_type:
            self.enums[f"{name}.{enum.name}"] = enum


class _Builder:
    def __init__(self, found: _Contracts) -> None:
        self.found = found
        self.schemas: dict[str, Json] = {}

    def ref(self, type_name: str) -> Json:
        name = type_name.lstrip(".")
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: messages may refer to themselves
            self.schemas[name] = self._schema(name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _schema(self, name: str) -> Json:
        if name in self.found.enums:
            values = [v.name for v in self.found.enums[name].value]
            return _described({"type": "string", "enum": values}, self.found.comments.get(name))
        message = self.found.messages[name]
        properties = {
            field.name: _described(self.field(field), self.found.comments.get(f"{name}#{j}"))
            for j, field in enumerate(message.field)
        }
        schema: Json = {"type": "object", "properties": properties}
        return _described(schema, self.found.comments.get(name))

    def field(self, field: FDP) -> Json:
        if field.type in (FDP.TYPE_MESSAGE, FDP.TYPE_ENUM):
            single = self.ref(field.type_name)
        else:
            single = dict(_SCALARS[field.type])
        if field.label == FDP.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def query_parameters(self, message_name: str, skip: set[str], prefix: str = "") -> list[Json]:
        """Every scalar leaf of the request, dotted (`page.page_size`), as a query parameter."""
        found: list[Json] = []
        message = self.found.messages[message_name.lstrip(".")]
        for field in message.field:
            name = f"{prefix}{field.name}"
            if name in skip:
                continue
            nested = field.type_name.lstrip(".")
            if field.type == FDP.TYPE_MESSAGE and nested not in _WELL_KNOWN:
                found += self.query_parameters(nested, skip, f"{name}.")
                continue
            query_name = f"{prefix}{_query_name(field)}"
            found.append(
                {"name": query_name, "in": "query", "required": False, "schema": self.field(field)}
            )
        return found


def _query_name(field: FDP) -> str:
    """A field's name in a query string: its json_name when the contract chose one
    (`from` for from_date: the edge accepts both), else its proto name."""
    head, *rest = field.name.split("_")
    default = head + "".join(part.capitalize() for part in rest)
    return field.json_name if field.json_name and field.json_name != default else field.name


def _described(schema: Json, comment: str | None) -> Json:
    if comment:
        schema["description"] = comment
    return schema


def _path_fields(template: str) -> list[str]:
    return [part.split("}")[0].split("=")[0] for part in template.split("{")[1:]]


def _operation(
    builder: _Builder, service: str, method: descriptor_pb2.MethodDescriptorProto, rule: Any
) -> Json:
    grpc_path = f"/{service}/{method.name}"
    access = method.options.Extensions[options_pb2.access]
    template = getattr(rule, rule.WhichOneof("pattern"))
    path_fields = _path_fields(template)
    summary, _, details = builder.found.comments.get(grpc_path, "").partition("\n")
    operation: Json = {
        "operationId": f"{service.rsplit('.', 1)[-1]}.{method.name}",
        "tags": [service],
        "summary": summary,
        "parameters": [
            {"name": f, "in": "path", "required": True, "schema": {"type": "string"}}
            for f in path_fields
        ],
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": builder.ref(method.output_type)}},
            },
            "default": {
                "description": "An error: the gRPC status as JSON, with google.rpc details",
                "content": {"application/json": {"schema": {"$ref": STATUS_REF}}},
            },
        },
        "x-grpc-method": grpc_path,
    }
    if details.strip():
        operation["description"] = details.strip()
    if access.public:
        operation["security"] = []
    else:
        operation["x-erp-permission"] = access.permission
        operation["x-erp-feature"] = access.feature
    if rule.body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _body_schema(builder, method, rule)}},
        }
    if rule.body != "*":  # the fields outside the body (and path) are query parameters
        skip = {*path_fields, rule.body} if rule.body else set(path_fields)
        operation["parameters"] += builder.query_parameters(method.input_type, skip)
    if rule.response_body:
        operation["responses"]["200"]["content"]["application/json"]["schema"] = _field_schema(
            builder, method.output_type, rule.response_body
        )
    return operation


def _field_schema(builder: _Builder, message_name: str, field_name: str) -> Json:
    message = builder.found.messages[message_name.lstrip(".")]
    field = next(f for f in message.field if f.name == field_name)
    return builder.field(field)


def _body_schema(
    builder: _Builder, method: descriptor_pb2.MethodDescriptorProto, rule: Any
) -> Json:
    """The request body: the whole request (`*`) or one field; a client stream takes a
    JSON array of them (the transcoder sends each element as one message)."""
    if rule.body == "*":
        schema = builder.ref(method.input_type)
    else:
        schema = _field_schema(builder, method.input_type, rule.body)
    if method.client_streaming:
        return {"type": "array", "items": schema}
    return schema


def document(path: Path = contracts.DESCRIPTOR_SET_PATH) -> Json:
    fds = contracts.descriptor_set(path)
    builder = _Builder(_Contracts(fds))
    paths: dict[str, Json] = {}
    for file in fds.file:
        if not file.package.startswith(contracts.CONTRACT_PACKAGE_PREFIX):
            continue
        for service in file.service:
            full = f"{file.package}.{service.name}"
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb not in _HTTP_VERBS:
                    continue
                url = getattr(rule, verb)
                paths.setdefault(url, {})[verb] = _operation(builder, full, method, rule)
    builder.ref("google.rpc.Status")
    builder.ref("google.rpc.BadRequest")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ERP mesh REST API",
            "version": "v1",
            "description": "Derived from the gRPC contracts in protos/; the same calls are "
            "available as gRPC on the same port.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": dict(sorted(builder.schemas.items())),
        },
    }


def write(out: Path = OUT) -> Path:
    out.write_text(json.dumps(document(), indent=1, sort_keys=False) + "\n")
    return out


if __name__ == "__main__":
    print(f"wrote {write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)}")
