"""Bank statement files read into plain lines: CSV with a header row, and OFX 1.x
(SGML) or 2.x (XML). Pure: bytes in, lines out. Every problem with a file is
INVALID_ARGUMENT on `content` naming the line, never a stray ValueError.

This module is the formats' common door; each format has its own module."""

from __future__ import annotations

from svc_finance.domain.statement_csv import parse_csv
from svc_finance.domain.statement_lines import (
    LINES_MAX,
    SIZE_MAX,
    Format,
    ParsedLine,
    check_size,
    fingerprint,
    fingerprints,
    parse_amount,
    parse_date,
)
from svc_finance.domain.statement_ofx import parse_ofx

__all__ = [
    "LINES_MAX",
    "SIZE_MAX",
    "Format",
    "ParsedLine",
    "check_size",
    "fingerprint",
    "fingerprints",
    "parse",
    "parse_amount",
    "parse_csv",
    "parse_date",
    "parse_ofx",
]


def parse(fmt: Format, content: bytes, currency: str) -> list[ParsedLine]:
    if fmt is Format.OFX:
        return parse_ofx(content, currency)
    return parse_csv(content, currency)
