"""Domain errors and how they become gRPC statuses with google.rpc details.

Services raise these; the error interceptor turns them into a status whose
`grpc-status-details-bin` carries google.rpc details (BadRequest field
violations, ErrorInfo, RetryInfo), which Envoy's transcoder renders as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "erp.local"


@dataclass(frozen=True)
class FieldViolation:
    field: str  # proto field path, "email" or "page.page_size"
    description: str


class DomainError(Exception):
    """An expected failure the caller can act on. Subclasses fix the gRPC code."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, reason: str = "", metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = metadata or {}

    def details(self) -> list[any_pb2.Any]:
        if not self.reason:
            return []
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
        )
        return [_pack(info)]


class InvalidArgument(DomainError):
    """Bad input; names every offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Sequence[FieldViolation], message: str = ""):
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message or f"invalid request: {summary}", reason="INVALID_ARGUMENT")

    @classmethod
    def one(cls, field_name: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field_name, description)])

    def details(self) -> list[any_pb2.Any]:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in self.violations
            ]
        )
        return [_pack(bad)]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(DomainError):
    """A concurrent change won; retrying the same call is safe."""

    code = grpc.StatusCode.ABORTED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(DomainError):
    """Too many attempts; tells the caller when to retry."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, *, retry_after_seconds: int, reason: str = "RATE_LIMITED"):
        super().__init__(message, reason=reason)
        self.retry_after_seconds = retry_after_seconds

    def details(self) -> list[any_pb2.Any]:
        retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=self.retry_after_seconds)
        )
        return [*super().details(), _pack(retry)]


class QuotaExceeded(DomainError):
    """A plan limit is reached (RESOURCE_EXHAUSTED, not retryable as such): ErrorInfo
    names the limit, QuotaFailure says it in words."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, *, limit: str, metadata: dict[str, str] | None = None):
        named = {"limit": limit, **(metadata or {})}
        super().__init__(message, reason="LIMIT_REACHED", metadata=named)
        self.limit = limit

    def details(self) -> list[any_pb2.Any]:
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=self.limit, description=self.message
                )
            ]
        )
        return [*super().details(), _pack(quota)]


@dataclass
class Violations:
    """Collects field violations while validating, then raises them all at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_name: str, description: str) -> None:
        self.items.append(FieldViolation(field_name, description))

    def extend(self, more: Iterable[FieldViolation]) -> None:
        self.items.extend(more)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)


def _pack(
    message: error_details_pb2.BadRequest
    | error_details_pb2.ErrorInfo
    | error_details_pb2.RetryInfo
    | error_details_pb2.RequestInfo,
) -> any_pb2.Any:  # noqa: E501
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def status_proto(
    code: grpc.StatusCode, message: str, details: list[any_pb2.Any]
) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message, details=details)


def internal_status(correlation_id: str) -> status_pb2.Status:
    """What a client sees for a bug: a correlation id to quote, never a traceback."""
    info = error_details_pb2.RequestInfo(request_id=correlation_id)
    return status_proto(
        grpc.StatusCode.INTERNAL,
        f"internal error; quote correlation id {correlation_id}",
        [_pack(info)],
    )


STATUS_DETAILS_KEY = "grpc-status-details-bin"
