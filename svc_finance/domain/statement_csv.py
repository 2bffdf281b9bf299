"""Bank statements as CSV with a header row: columns found by their names (in
English or German), the delimiter and decimal comma sniffed. Pure: no I/O."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from svc_finance.domain.statement_lines import (
    DESCRIPTION_MAX,
    LINES_MAX,
    REFERENCE_MAX,
    BadValue,
    ParsedLine,
    at_line,
    clean,
    decode_text,
    no_transactions,
    parse_amount,
    parse_date,
    shown,
    too_many,
)

# ---- CSV -------------------------------------------------------------------------------

DELIMITERS = (",", ";", "\t")

# Header names, compared without case, spaces or punctuation. Exact names first (in
# this order of preference), then names containing one of the `CONTAINS` words.
DATE_NAMES = (
    "date",
    "bookingdate",
    "transactiondate",
    "postingdate",
    "posteddate",
    "dateposted",
    "entrydate",
    "buchungstag",
    "buchungsdatum",
    "datum",
    "valuedate",
    "valutadatum",
)
AMOUNT_NAMES = ("amount", "amt", "transactionamount", "value", "sum", "betrag", "umsatz")
DEBIT_NAMES = ("debit", "debits", "debitamount", "withdrawal", "withdrawals", "moneyout", "paidout")
CREDIT_NAMES = ("credit", "credits", "creditamount", "deposit", "deposits", "moneyin", "paidin")
SIDE_NAMES = ("dc", "drcr", "crdr", "debitcredit", "creditdebit", "cdtdbtind", "sollhaben")
REFERENCE_NAMES = (
    "reference",
    "ref",
    "id",
    "fitid",
    "transactionid",
    "referencenumber",
    "refno",
    "bankreference",
    "transactionreference",
)
DESCRIPTION_NAMES = (
    "description",
    "memo",
    "text",
    "payee",
    "details",
    "name",
    "narrative",
    "purpose",
    "counterparty",
    "remittanceinformation",
    "verwendungszweck",
    "buchungstext",
)
CURRENCY_NAMES = ("currency", "ccy", "curr", "currencycode", "waehrung", "wahrung", "devise")
DATE_CONTAINS = ("date",)
AMOUNT_CONTAINS = ("amount", "betrag")
DEBIT_CONTAINS = ("debit", "withdraw")
CREDIT_CONTAINS = ("credit", "deposit")
REFERENCE_CONTAINS = ("reference",)
DESCRIPTION_CONTAINS = (
    "description",
    "memo",
    "text",
    "payee",
    "detail",
    "narrative",
    "purpose",
    "counterparty",
    "name",
)
OUT_SIDES = frozenset({"d", "dr", "dbit", "debit", "s", "soll"})
IN_SIDES = frozenset({"c", "cr", "crdt", "credit", "h", "haben"})


@dataclass
class _Columns:
    width: int
    date: int
    amount: int | None = None
    debit: int | None = None
    credit: int | None = None
    side: int | None = None
    reference: int | None = None
    currency: int | None = None
    description: list[int] = field(default_factory=list)


def _key(name: str) -> str:
    """Header names compared loosely: "Währung" is "wahrung"."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    return re.sub(r"[^0-9a-z]", "", plain)


def _pick(
    keys: Sequence[str], exact: Sequence[str], contains: Sequence[str], used: set[int]
) -> int | None:
    for wanted in exact:
        for i, key in enumerate(keys):
            if key == wanted and i not in used:
                used.add(i)
                return i
    for word in contains:
        for i, key in enumerate(keys):
            if word in key and i not in used:
                used.add(i)
                return i
    return None


def _columns(header: list[str], line_no: int) -> _Columns:
    keys = [_key(name) for name in header]
    used: set[int] = set()
    found = "; ".join(shown(name) for name in header)
    day = _pick(keys, DATE_NAMES, DATE_CONTAINS, used)
    if day is None:
        raise at_line(line_no, f"the header has no date column (found {found})")
    cols = _Columns(width=len(header), date=day)
    cols.amount = _pick(keys, AMOUNT_NAMES, AMOUNT_CONTAINS, used)
    if cols.amount is None:
        cols.debit = _pick(keys, DEBIT_NAMES, DEBIT_CONTAINS, used)
        cols.credit = _pick(keys, CREDIT_NAMES, CREDIT_CONTAINS, used)
        if cols.debit is None or cols.credit is None:
            raise at_line(
                line_no,
                f"the header has no amount column, nor debit and credit columns (found {found})",
            )
    else:
        cols.side = _pick(keys, SIDE_NAMES, (), used)
    cols.currency = _pick(keys, CURRENCY_NAMES, (), used)
    cols.reference = _pick(keys, REFERENCE_NAMES, REFERENCE_CONTAINS, used)
    # Every text-like column goes into the description: the payee's name and the
    # remittance text both help to find the payment.
    while (more := _pick(keys, DESCRIPTION_NAMES, DESCRIPTION_CONTAINS, used)) is not None:
        cols.description.append(more)
    while (more := _pick(keys, REFERENCE_NAMES, REFERENCE_CONTAINS, used)) is not None:
        cols.description.append(more)
    cols.description.sort()
    return cols


def _sniff(text: str) -> str:
    """The delimiter that splits the header row into the most columns."""
    line_no, first = next(
        ((n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()), (1, "")
    )
    widths: dict[str, int] = {}
    for delimiter in DELIMITERS:
        try:
            widths[delimiter] = len(next(csv.reader([first], delimiter=delimiter)))
        except (csv.Error, StopIteration):
            widths[delimiter] = 0
    best = max(DELIMITERS, key=lambda d: widths[d])  # the first on a tie: ","
    if widths[best] < 2:
        raise at_line(
            line_no, "the header needs date and amount columns separated by ',', ';' or tab"
        )
    return best


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, cells) of each non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as problem:
            raise at_line(start, f"not valid CSV ({problem})") from None
        if any(cell.strip() for cell in cells):
            yield start, cells


def parse_csv(
    content: bytes, currency: str, *, decimal_comma: bool | None = None
) -> list[ParsedLine]:
    """Lines of a CSV statement. The decimal mark is "," when the delimiter is ";"
    (the European convention) unless `decimal_comma` says otherwise."""
    text = decode_text(content)
    delimiter = _sniff(text)
    comma = delimiter == ";" if decimal_comma is None else decimal_comma
    records = _records(text, delimiter)
    first = next(records, None)
    if first is None:
        raise no_transactions()
    header_line, header = first
    cols = _columns(header, header_line)
    lines: list[ParsedLine] = []
    for line_no, cells in records:
        if len(lines) == LINES_MAX:
            raise too_many()
        try:
            lines.append(_csv_line(cells, cols, currency, comma, delimiter))
        except BadValue as problem:
            raise at_line(line_no, str(problem)) from None
    if not lines:
        raise no_transactions()
    return lines


def _csv_line(
    cells: list[str], cols: _Columns, currency: str, comma: bool, delimiter: str
) -> ParsedLine:
    if len(cells) > cols.width and any(c.strip() for c in cells[cols.width :]):
        mark = "tab" if delimiter == "\t" else f"'{delimiter}'"
        raise BadValue(
            f"{len(cells)} fields where the header has {cols.width} "
            f"(quote values that contain {mark})"
        )
    cells = cells + [""] * (cols.width - len(cells))
    if not cells[cols.date].strip():
        raise BadValue("the date is missing")
    day = parse_date(cells[cols.date])
    if cols.currency is not None:
        code = cells[cols.currency].strip().upper()
        if code and code != currency:
            raise BadValue(f"currency {shown(code)} is not the bank account's {currency}")
    reference = cells[cols.reference] if cols.reference is not None else ""
    description = " / ".join(t for t in (cells[i].strip() for i in cols.description) if t)
    return ParsedLine(
        date=day,
        amount_minor=_csv_amount(cells, cols, currency, comma),
        reference=clean(reference, REFERENCE_MAX),
        description=clean(description, DESCRIPTION_MAX),
    )


def _csv_amount(cells: list[str], cols: _Columns, currency: str, comma: bool) -> int:
    if cols.amount is not None:
        text = cells[cols.amount]
        if not text.strip():
            raise BadValue("the amount is missing")
        amount = parse_amount(text, currency, decimal_comma=comma)
        if cols.side is None or not cells[cols.side].strip():
            return amount
        side = _key(cells[cols.side])
        if side in OUT_SIDES:
            return -abs(amount)
        if side in IN_SIDES:
            return abs(amount)
        raise BadValue(f"debit/credit mark {shown(cells[cols.side])} is neither D nor C")
    assert cols.debit is not None and cols.credit is not None
    debit_text, credit_text = cells[cols.debit], cells[cols.credit]
    if not debit_text.strip() and not credit_text.strip():
        raise BadValue("the amount is missing (neither debit nor credit is given)")
    debit = _optional_amount(debit_text, currency, comma, "debit")
    credit = _optional_amount(credit_text, currency, comma, "credit")
    if debit and credit:
        raise BadValue(f"both debit {shown(debit_text)} and credit {shown(credit_text)} are given")
    # A debit is money out however the bank signs it.
    return -abs(debit) if debit else abs(credit)


def _optional_amount(text: str, currency: str, comma: bool, label: str) -> int:
    if not text.strip():
        return 0
    return parse_amount(text, currency, decimal_comma=comma, label=label)
