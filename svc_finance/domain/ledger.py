"""Double entry and the hash chain.

An entry balances when its debits equal its credits in the company currency.
Each posted entry's hash is SHA-256 over the previous entry's hash and a
canonical JSON of everything the entry says (tenant, number, date, lines with
both amounts, ...), so changing, adding or removing any stored line, or an
entry, breaks the chain from that point on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from mesh.errors import FieldViolation, InvalidArgument

GENESIS = "0" * 64
MEMO_MAX = 500
LINES_MAX = 1000
AMOUNT_MAX = 10**15  # minor units; far inside int64 even summed over many lines


class Source(StrEnum):
    MANUAL = "manual"
    INVOICE = "invoice"
    PAYMENT = "payment"
    REVERSAL = "reversal"
    REVALUATION = "revaluation"
    YEAR_END_CLOSE = "year_end_close"


@dataclass(frozen=True)
class Line:
    account_id: str
    currency: str
    debit_minor: int  # in `currency`
    credit_minor: int
    company_debit_minor: int
    company_credit_minor: int
    rate: str = "1"
    description: str = ""

    def mirrored(self) -> Line:
        return replace(
            self,
            debit_minor=self.credit_minor,
            credit_minor=self.debit_minor,
            company_debit_minor=self.company_credit_minor,
            company_credit_minor=self.company_debit_minor,
        )


@dataclass(frozen=True)
class Entry:
    """What the chain hashes: an entry as posted."""

    tenant_id: str
    entry_id: str
    seq: int
    number: str
    date: date
    memo: str
    source: str
    source_id: str
    reverses_id: str
    posted_by: str
    posted_at: datetime
    lines: Sequence[Line] = field(default_factory=tuple)


def check_balanced(lines: Sequence[Line], field_name: str = "lines") -> None:
    """INVALID_ARGUMENT unless there are two or more lines whose company-currency
    debits equal their credits."""
    if len(lines) < 2:
        raise InvalidArgument.one(field_name, "an entry needs two or more lines")
    for i, line in enumerate(lines):
        amounts = (line.company_debit_minor, line.company_credit_minor)
        if min(amounts) < 0:
            raise InvalidArgument.one(f"{field_name}[{i}]", "amounts must not be negative")
        if max(amounts) > AMOUNT_MAX:
            raise InvalidArgument.one(
                f"{field_name}[{i}]",
                f"{max(amounts)} minor units of the company currency: at most {AMOUNT_MAX}",
            )
    debit = sum(line.company_debit_minor for line in lines)
    credit = sum(line.company_credit_minor for line in lines)
    if debit != credit:
        raise InvalidArgument(
            [
                FieldViolation(
                    field_name,
                    f"unbalanced: debits {debit} and credits {credit} (minor units of the "
                    f"company currency) differ by {abs(debit - credit)}",
                )
            ],
            "the entry does not balance",
        )


def canonical(entry: Entry) -> bytes:
    body = {
        "tenant": entry.tenant_id,
        "id": entry.entry_id,
        "seq": entry.seq,
        "number": entry.number,
        "date": entry.date.isoformat(),
        "memo": entry.memo,
        "source": entry.source,
        "source_id": entry.source_id,
        "reverses": entry.reverses_id,
        "by": entry.posted_by,
        "at": entry.posted_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "lines": [
            [
                line.account_id,
                line.currency,
                line.debit_minor,
                line.credit_minor,
                line.company_debit_minor,
                line.company_credit_minor,
                line.rate,
                line.description,
            ]
            for line in entry.lines
        ],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous_hash: str, entry: Entry) -> str:
    digest = hashlib.sha256(previous_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(entry))
    return digest.hexdigest()


@dataclass(frozen=True)
class Problem:
    entry_id: str
    number: str
    seq: int
    problem: str


@dataclass(frozen=True)
class Stored:
    """An entry as read back, with the links stored beside it."""

    entry: Entry
    previous_hash: str
    hash: str


@dataclass
class ChainCheck:
    """Walks stored entries in sequence order and collects what does not match."""

    previous_hash: str = GENESIS
    expected_seq: int = 1
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    def check(self, stored: Stored) -> None:
        entry = stored.entry
        if entry.seq != self.expected_seq:
            self._report(stored, f"sequence {self.expected_seq} is missing before this entry")
        if stored.previous_hash != self.previous_hash:
            self._report(stored, "does not link to the entry before it")
        if chain_hash(stored.previous_hash, entry) != stored.hash:
            self._report(stored, "content does not match its hash")
        self.previous_hash = stored.hash
        self.expected_seq = entry.seq + 1
        self.checked += 1

    def _report(self, stored: Stored, problem: str) -> None:
        entry = stored.entry
        self.problems.append(Problem(entry.entry_id, entry.number, entry.seq, problem))
