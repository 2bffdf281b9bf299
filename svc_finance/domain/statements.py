"""Bank statement files read into plain lines: CSV with a header row, and OFX 1.x
(SGML) or 2.x (XML). Pure: bytes in, lines out. Every problem with a file is
INVALID_ARGUMENT on `content` naming the line, never a stray ValueError.

Also the fingerprint by which a re-import skips the lines already imported."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from mesh.currencies import MINOR_UNITS
from mesh.errors import InvalidArgument

FIELD = "content"
SIZE_MAX = 5 * 1024 * 1024
LINES_MAX = 20_000
REFERENCE_MAX = 200
DESCRIPTION_MAX = 500
AMOUNT_MAX = 10**15  # minor units, as the ledger's amounts
SHOWN_MAX = 40  # characters of a bad value quoted back in an error


class Format(StrEnum):
    CSV = "csv"
    OFX = "ofx"


@dataclass(frozen=True)
class ParsedLine:
    date: date
    amount_minor: int  # signed: positive is money in, negative money out
    reference: str
    description: str


class _Bad(Exception):
    """A bad value; the caller knows the line and reports it."""


def _at(line_no: int, problem: str) -> InvalidArgument:
    return InvalidArgument.one(FIELD, f"line {line_no}: {problem}")


def _shown(value: str) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in value.strip())
    return f"'{clean[:SHOWN_MAX]}…'" if len(clean) > SHOWN_MAX else f"'{clean}'"


def _clean(value: str, limit: int) -> str:
    """One line of printable text (bank text has line breaks and tabs), cut to fit."""
    printable = "".join(c if c.isprintable() else " " for c in value)
    return " ".join(printable.split())[:limit]


def parse(fmt: Format, content: bytes, currency: str) -> list[ParsedLine]:
    if fmt is Format.OFX:
        return parse_ofx(content, currency)
    return parse_csv(content, currency)


def check_size(content: bytes) -> None:
    if len(content) > SIZE_MAX:
        raise InvalidArgument.one(FIELD, f"at most 5 MB (the file has {len(content)} bytes)")
    if not content.strip():
        raise InvalidArgument.one(FIELD, "the file is empty")


def _decode(content: bytes) -> str:
    check_size(content)
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]  # the BOM; dropped here so error offsets stay the file's
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as problem:
        line_no = content.count(b"\n", 0, problem.start) + 1
        raise _at(line_no, "the file is not UTF-8 text") from None
    if not text.strip():
        raise InvalidArgument.one(FIELD, "the file is empty")
    return text


def _digits(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def _too_many() -> InvalidArgument:
    return InvalidArgument.one(FIELD, f"more than {LINES_MAX} transactions; split the file")


def _no_transactions() -> InvalidArgument:
    return InvalidArgument.one(FIELD, "the file has no transactions")


# ---- values ----------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]*(?:Z|[+-][0-9:]+)?)?")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASHED_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_GROUPING = re.compile(r"[\s\u00a0\u202f']")  # 1 234,56 and 1'234.56
_NO_SYMBOLS = str.maketrans("", "", "€$£¥")


def parse_date(text: str) -> date:
    """YYYY-MM-DD (a time after it is ignored), DD.MM.YYYY or MM/DD/YYYY."""
    value = text.strip()
    try:
        if found := _ISO_DATE.fullmatch(value):
            return date(int(found[1]), int(found[2]), int(found[3]))
        if found := _DOTTED_DATE.fullmatch(value):
            return date(int(found[3]), int(found[2]), int(found[1]))
        if found := _SLASHED_DATE.fullmatch(value):
            return date(int(found[3]), int(found[1]), int(found[2]))
    except ValueError:
        raise _Bad(f"date {_shown(text)} is not a calendar date") from None
    raise _Bad(f"date {_shown(text)} is not a date (YYYY-MM-DD, DD.MM.YYYY or MM/DD/YYYY)")


def parse_amount(
    text: str, currency: str, *, decimal_comma: bool = False, label: str = "amount"
) -> int:
    """A decimal amount as signed minor units of `currency`.

    Takes a sign in front or behind ("12.30-"), parentheses for negative, grouping by
    spaces or apostrophes, and the currency's code or symbol. When both "." and ","
    appear the last one is the decimal mark; one of them followed by exactly three
    digits ("1,234") is grouping unless it is the file's decimal mark."""
    digits = _digits(currency)
    bad = _Bad(f"{label} {_shown(text)} is not a number")
    value = text.strip().replace("\u2212", "-")
    negative = len(value) > 1 and value[0] == "(" and value[-1] == ")"
    if negative:
        value = value[1:-1]
    value = _GROUPING.sub("", value).translate(_NO_SYMBOLS)
    if currency:  # "12.30 EUR", "EUR 12.30"
        code = re.escape(currency)
        value = re.sub(rf"^{code}|{code}$", "", value, flags=re.I)
    if value[:1] in ("-", "+"):
        negative, value = negative != (value[0] == "-"), value[1:]
    elif value.endswith("-"):
        negative, value = not negative, value[:-1]
    if not value or value.strip("0123456789.,") or not any(c.isdigit() for c in value):
        raise bad
    integer, fraction = _split_decimal(value, decimal_comma, bad)
    if len(fraction) > digits and not fraction[digits:].strip("0"):
        fraction = fraction[:digits]  # "1234.00" in yen loses nothing
    if len(fraction) > digits:
        raise _Bad(f"{label} {_shown(text)} has more decimals than {currency} has ({digits})")
    if len(integer) > 16:
        raise _Bad(f"{label} {_shown(text)} is too large")
    scale: int = 10**digits
    minor = int(integer or "0") * scale + int(fraction.ljust(digits, "0") or "0")
    if minor > AMOUNT_MAX:
        raise _Bad(f"{label} {_shown(text)} is too large")
    return -minor if negative else minor


def _split_decimal(value: str, decimal_comma: bool, bad: _Bad) -> tuple[str, str]:
    """(integer digits, fraction digits) of an unsigned number with marks in it."""
    dots, commas = value.count("."), value.count(",")
    if dots and commas:
        mark: str | None = "." if value.rfind(".") > value.rfind(",") else ","
    elif dots + commas == 1:
        sep = "." if dots else ","
        head, _, tail = value.partition(sep)
        looks_grouped = len(tail) == 3 and 1 <= len(head) <= 3 and head != "0"
        file_mark = "," if decimal_comma else "."
        mark = None if looks_grouped and sep != file_mark else sep
    else:
        mark = None  # no mark, or only grouping ("1.234.567")
    integer, fraction = value, ""
    if mark is not None:
        integer, _, fraction = value.rpartition(mark)
        if mark in integer or not fraction.isdigit():
            raise bad
    groups = re.split(r"[.,]", integer)
    if len(groups) > 1:
        grouped = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
        if not grouped:
            raise bad
    integer = "".join(groups)
    if not integer.isdigit() and not (integer == "" and fraction):
        raise bad
    return integer, fraction


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
    found = "; ".join(_shown(name) for name in header)
    day = _pick(keys, DATE_NAMES, DATE_CONTAINS, used)
    if day is None:
        raise _at(line_no, f"the header has no date column (found {found})")
    cols = _Columns(width=len(header), date=day)
    cols.amount = _pick(keys, AMOUNT_NAMES, AMOUNT_CONTAINS, used)
    if cols.amount is None:
        cols.debit = _pick(keys, DEBIT_NAMES, DEBIT_CONTAINS, used)
        cols.credit = _pick(keys, CREDIT_NAMES, CREDIT_CONTAINS, used)
        if cols.debit is None or cols.credit is None:
            raise _at(
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
        raise _at(line_no, "the header needs date and amount columns separated by ',', ';' or tab")
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
            raise _at(start, f"not valid CSV ({problem})") from None
        if any(cell.strip() for cell in cells):
            yield start, cells


def parse_csv(
    content: bytes, currency: str, *, decimal_comma: bool | None = None
) -> list[ParsedLine]:
    """Lines of a CSV statement. The decimal mark is "," when the delimiter is ";"
    (the European convention) unless `decimal_comma` says otherwise."""
    text = _decode(content)
    delimiter = _sniff(text)
    comma = delimiter == ";" if decimal_comma is None else decimal_comma
    records = _records(text, delimiter)
    first = next(records, None)
    if first is None:
        raise _no_transactions()
    header_line, header = first
    cols = _columns(header, header_line)
    lines: list[ParsedLine] = []
    for line_no, cells in records:
        if len(lines) == LINES_MAX:
            raise _too_many()
        try:
            lines.append(_csv_line(cells, cols, currency, comma, delimiter))
        except _Bad as problem:
            raise _at(line_no, str(problem)) from None
    if not lines:
        raise _no_transactions()
    return lines


def _csv_line(
    cells: list[str], cols: _Columns, currency: str, comma: bool, delimiter: str
) -> ParsedLine:
    if len(cells) > cols.width and any(c.strip() for c in cells[cols.width :]):
        shown = "tab" if delimiter == "\t" else f"'{delimiter}'"
        raise _Bad(
            f"{len(cells)} fields where the header has {cols.width} "
            f"(quote values that contain {shown})"
        )
    cells = cells + [""] * (cols.width - len(cells))
    if not cells[cols.date].strip():
        raise _Bad("the date is missing")
    day = parse_date(cells[cols.date])
    if cols.currency is not None:
        code = cells[cols.currency].strip().upper()
        if code and code != currency:
            raise _Bad(f"currency {_shown(code)} is not the bank account's {currency}")
    reference = cells[cols.reference] if cols.reference is not None else ""
    description = " / ".join(t for t in (cells[i].strip() for i in cols.description) if t)
    return ParsedLine(
        date=day,
        amount_minor=_csv_amount(cells, cols, currency, comma),
        reference=_clean(reference, REFERENCE_MAX),
        description=_clean(description, DESCRIPTION_MAX),
    )


def _csv_amount(cells: list[str], cols: _Columns, currency: str, comma: bool) -> int:
    if cols.amount is not None:
        text = cells[cols.amount]
        if not text.strip():
            raise _Bad("the amount is missing")
        amount = parse_amount(text, currency, decimal_comma=comma)
        if cols.side is None or not cells[cols.side].strip():
            return amount
        side = _key(cells[cols.side])
        if side in OUT_SIDES:
            return -abs(amount)
        if side in IN_SIDES:
            return abs(amount)
        raise _Bad(f"debit/credit mark {_shown(cells[cols.side])} is neither D nor C")
    assert cols.debit is not None and cols.credit is not None
    debit_text, credit_text = cells[cols.debit], cells[cols.credit]
    if not debit_text.strip() and not credit_text.strip():
        raise _Bad("the amount is missing (neither debit nor credit is given)")
    debit = _optional_amount(debit_text, currency, comma, "debit")
    credit = _optional_amount(credit_text, currency, comma, "credit")
    if debit and credit:
        raise _Bad(f"both debit {_shown(debit_text)} and credit {_shown(credit_text)} are given")
    # A debit is money out however the bank signs it.
    return -abs(debit) if debit else abs(credit)


def _optional_amount(text: str, currency: str, comma: bool, label: str) -> int:
    if not text.strip():
        return 0
    return parse_amount(text, currency, decimal_comma=comma, label=label)


# ---- OFX -------------------------------------------------------------------------------

# Tags only, no XML parser: OFX 1.x leaves elements unclosed (SGML), and a scan
# of tags cannot be made to expand entities or fetch external DTDs.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.]*)[^<>]*?(/?)>")
_CDATA = "<![CDATA["
_SKIPPED = (("<!--", "-->"), (_CDATA, "]]>"), ("<?", "?>"), ("<!", ">"))
DEPTH_MAX = 40  # OFX nests a dozen deep; a cap keeps every walk of the tree short
# Aggregates a file must close; any other tag left open is an empty SGML element.
_AGGREGATES = frozenset({"OFX", "STMTRS", "CCSTMTRS", "BANKTRANLIST", "STMTTRN"})
_OFX_CHARSET = re.compile(rb"CHARSET:\s*(1252|ISO-?8859-1|8859-1)", re.I)
_OFX_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


@dataclass(frozen=True)
class _Tag:
    start: int
    end: int
    name: str = ""  # "" for comments, declarations and CDATA
    closing: bool = False
    empty: bool = False  # <MEMO/>
    cdata: str | None = None


def _tags(text: str, lines: _Lines) -> Iterator[_Tag]:
    """The markup in order. Each scan stops at the next "<" or at the first closer,
    so a hostile file costs linear time."""
    pos = text.find("<")
    while pos != -1:
        found = _TAG.match(text, pos)
        if found is not None:
            yield _Tag(pos, found.end(), found[2].upper(), bool(found[1]), bool(found[3]))
            pos = text.find("<", found.end())
            continue
        for opener, closer in _SKIPPED:
            if text.startswith(opener, pos):
                end = text.find(closer, pos + len(opener))
                if end == -1:
                    raise _at(lines.at(pos), f"{opener} is never closed by {closer}")
                end += len(closer)
                cdata = text[pos + len(_CDATA) : end - 3] if opener == _CDATA else None
                yield _Tag(pos, end, cdata=cdata)
                pos = text.find("<", end)
                break
        else:
            pos = text.find("<", pos + 1)  # a "<" in text: "A<B Ltd"


@dataclass(eq=False)
class _Node:
    name: str
    line: int
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # leaf: (text, line)
    children: list[_Node] = field(default_factory=list)

    def merge(self, other: _Node) -> None:
        for name, value in other.values.items():
            self.values.setdefault(name, value)
        self.children.extend(other.children)

    def walk(self) -> Iterator[_Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def text(self, name: str) -> str:
        return self.values.get(name, ("", 0))[0]


class _Lines:
    """Line numbers of character offsets."""

    def __init__(self, text: str) -> None:
        self.starts = [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect_right(self.starts, offset) + 1


def _ofx_text(content: bytes) -> str:
    """OFX 1.x declares its character set in the header; 2.x is UTF-8 XML."""
    check_size(content)
    declared = _OFX_CHARSET.search(content[:2000])
    if declared is None:
        return _decode(content)
    codec = "cp1252" if declared[1] == b"1252" else "latin-1"
    return content.decode(codec, errors="replace")


def _tree(text: str) -> _Node:
    """The element tree. A tag followed by text is a leaf (closed or not); one
    followed by a tag opens an aggregate. An empty SGML leaf looks like an aggregate
    that is never closed: when its parent closes, its contents go to the parent."""
    lines = _Lines(text)
    root = _Node("", 0)
    stack = [root]
    tags = list(_tags(text, lines))
    for i, tag in enumerate(tags):
        if not tag.name or tag.empty:
            continue
        if tag.closing:
            _close(stack, tag.name)
            continue
        upcoming = tags[i + 1] if i + 1 < len(tags) else None
        following = text[tag.end : upcoming.start if upcoming else len(text)].strip()
        line_no = lines.at(tag.start)
        if following:
            stack[-1].values.setdefault(tag.name, (html.unescape(following), line_no))
        elif upcoming is not None and upcoming.cdata is not None:
            stack[-1].values.setdefault(tag.name, (upcoming.cdata.strip(), line_no))
        elif len(stack) > DEPTH_MAX:
            raise _at(line_no, f"elements nest deeper than {DEPTH_MAX}")
        else:
            node = _Node(tag.name, line_no)
            stack[-1].children.append(node)
            stack.append(node)
    if len(stack) > 1:
        unclosed = stack[1]
        raise _at(unclosed.line, f"<{unclosed.name}> is never closed")
    return root


def _close(stack: list[_Node], name: str) -> None:
    """Close the open aggregate `name`; a closing tag of a leaf (XML) changes nothing."""
    if not any(node.name == name for node in stack[1:]):
        return
    while stack[-1].name != name:
        orphan = stack.pop()
        if orphan.name in _AGGREGATES:
            raise _at(orphan.line, f"<{orphan.name}> is never closed")
        stack[-1].children.pop()  # the orphan: its parent's last child
        stack[-1].merge(orphan)
    stack.pop()


def parse_ofx(content: bytes, currency: str) -> list[ParsedLine]:
    """Lines of an OFX statement; its currency (CURDEF) must be `currency`."""
    root = _tree(_ofx_text(content))
    if not any(node.name == "OFX" for node in root.walk()):
        raise _at(1, "not an OFX file (no <OFX> element)")
    for node in root.walk():
        declared = node.text("CURDEF").upper()
        if declared and declared != currency:
            line_no = node.values["CURDEF"][1]
            raise _at(line_no, f"the statement is in {declared}, the bank account in {currency}")
    lines: list[ParsedLine] = []
    for node in root.walk():
        if node.name != "STMTTRN":
            continue
        if len(lines) == LINES_MAX:
            raise _too_many()
        lines.append(_ofx_line(node, currency))
    if not lines:
        raise _no_transactions()
    return lines


def _ofx_line(node: _Node, currency: str) -> ParsedLine:
    for child in node.children:
        code = child.text("CURSYM").upper()
        if child.name == "CURRENCY" and code and code != currency:
            raise _at(child.line, f"the transaction is in {code}, the bank account in {currency}")
    for needed in ("DTPOSTED", "TRNAMT"):
        if not node.text(needed):
            raise _at(node.line, f"<STMTTRN> has no {needed}")
    posted, posted_line = node.values["DTPOSTED"]
    amount, amount_line = node.values["TRNAMT"]
    try:
        day = _ofx_date(posted)
    except _Bad as problem:
        raise _at(posted_line, str(problem)) from None
    try:
        minor = parse_amount(amount, currency, label="TRNAMT")
    except _Bad as problem:
        raise _at(amount_line, str(problem)) from None
    payee = next((c.text("NAME") for c in node.children if c.name == "PAYEE"), "")
    texts = [node.text("NAME") or payee, node.text("MEMO")]
    reference = node.text("FITID") or node.text("REFNUM") or node.text("CHECKNUM")
    return ParsedLine(
        date=day,
        amount_minor=minor,
        reference=_clean(reference, REFERENCE_MAX),
        description=_clean(" / ".join(dict.fromkeys(t for t in texts if t)), DESCRIPTION_MAX),
    )


def _ofx_date(text: str) -> date:
    """YYYYMMDD, maybe followed by a time and zone: "20260301120000.000[-5:EST]"."""
    found = _OFX_DATE.match(text.strip())
    try:
        if found is None:
            raise ValueError(text)
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        raise _Bad(f"DTPOSTED {_shown(text)} is not a date (YYYYMMDD)") from None


# ---- fingerprints ----------------------------------------------------------------------


def fingerprint(bank_account_id: str, line: ParsedLine, occurrence: int) -> str:
    """Identity of a bank transaction on an account. `occurrence` counts the identical
    lines before it in the same file: two equal coffees on one day are two lines,
    and importing the file again finds both."""
    # JSON keeps the parts apart: ("a|b", "c") and ("a", "b|c") must differ.
    parts = [
        bank_account_id,
        line.date.isoformat(),
        line.amount_minor,
        line.reference,
        line.description,
        occurrence,
    ]
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def fingerprints(bank_account_id: str, lines: Sequence[ParsedLine]) -> list[str]:
    """The fingerprint of each line, in order."""
    seen: Counter[ParsedLine] = Counter()
    found = []
    for line in lines:
        found.append(fingerprint(bank_account_id, line, seen[line]))
        seen[line] += 1
    return found
