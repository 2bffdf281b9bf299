"""Structured JSON logs, one object per line, with tenant, trace and correlation ids.

The request context is stamped onto each record when it is created (a record
factory), so a record formatted later, or by another handler, still carries it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from mesh.context import current_principal, current_request

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_base_factory = logging.getLogRecordFactory()


def _context_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    request = current_request()
    if request is not None:
        fields["correlation_id"] = request.correlation_id
        fields["method"] = request.method
        if request.trace_id:
            fields["trace_id"] = request.trace_id
    principal = current_principal()
    if principal is not None:
        fields["tenant_id"] = principal.tenant_id
        fields["principal"] = principal.subject
    return fields


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    for key, value in _context_fields().items():
        record.__dict__.setdefault(key, value)  # an explicit `extra` wins
    return record


def stamp_context() -> None:
    """Make every new log record carry the current request's ids (idempotent)."""
    logging.setLogRecordFactory(_record_with_context)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(service: str) -> None:
    stamp_context()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("ERP_LOG_LEVEL", "INFO").upper())
