"""Bank statements as OFX 1.x (SGML) or 2.x (XML). Pure: no I/O."""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from svc_finance.domain.statement_lines import (
    DESCRIPTION_MAX,
    LINES_MAX,
    REFERENCE_MAX,
    BadValue,
    ParsedLine,
    at_line,
    check_size,
    clean,
    decode_text,
    no_transactions,
    parse_amount,
    shown,
    too_many,
)

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
                    raise at_line(lines.at(pos), f"{opener} is never closed by {closer}")
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
        return decode_text(content)
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
            raise at_line(line_no, f"elements nest deeper than {DEPTH_MAX}")
        else:
            node = _Node(tag.name, line_no)
            stack[-1].children.append(node)
            stack.append(node)
    if len(stack) > 1:
        unclosed = stack[1]
        raise at_line(unclosed.line, f"<{unclosed.name}> is never closed")
    return root


def _close(stack: list[_Node], name: str) -> None:
    """Close the open aggregate `name`; a closing tag of a leaf (XML) changes nothing."""
    if not any(node.name == name for node in stack[1:]):
        return
    while stack[-1].name != name:
        orphan = stack.pop()
        if orphan.name in _AGGREGATES:
            raise at_line(orphan.line, f"<{orphan.name}> is never closed")
        stack[-1].children.pop()  # the orphan: its parent's last child
        stack[-1].merge(orphan)
    stack.pop()


def parse_ofx(content: bytes, currency: str) -> list[ParsedLine]:
    """Lines of an OFX statement; its currency (CURDEF) must be `currency`."""
    root = _tree(_ofx_text(content))
    if not any(node.name == "OFX" for node in root.walk()):
        raise at_line(1, "not an OFX file (no <OFX> element)")
    for node in root.walk():
        declared = node.text("CURDEF").upper()
        if declared and declared != currency:
            line_no = node.values["CURDEF"][1]
            raise at_line(
                line_no, f"the statement is in {declared}, the bank account in {currency}"
            )
    lines: list[ParsedLine] = []
    for node in root.walk():
        if node.name != "STMTTRN":
            continue
        if len(lines) == LINES_MAX:
            raise too_many()
        lines.append(_ofx_line(node, currency))
    if not lines:
        raise no_transactions()
    return lines


def _ofx_line(node: _Node, currency: str) -> ParsedLine:
    for child in node.children:
        code = child.text("CURSYM").upper()
        if child.name == "CURRENCY" and code and code != currency:
            raise at_line(
                child.line, f"the transaction is in {code}, the bank account in {currency}"
            )
    for needed in ("DTPOSTED", "TRNAMT"):
        if not node.text(needed):
            raise at_line(node.line, f"<STMTTRN> has no {needed}")
    posted, posted_line = node.values["DTPOSTED"]
    amount, amount_line = node.values["TRNAMT"]
    try:
        day = _ofx_date(posted)
    except BadValue as problem:
        raise at_line(posted_line, str(problem)) from None
    try:
        minor = parse_amount(amount, currency, label="TRNAMT")
    except BadValue as problem:
        raise at_line(amount_line, str(problem)) from None
    payee = next((c.text("NAME") for c in node.children if c.name == "PAYEE"), "")
    texts = [node.text("NAME") or payee, node.text("MEMO")]
    reference = node.text("FITID") or node.text("REFNUM") or node.text("CHECKNUM")
    return ParsedLine(
        date=day,
        amount_minor=minor,
        reference=clean(reference, REFERENCE_MAX),
        description=clean(" / ".join(dict.fromkeys(t for t in texts if t)), DESCRIPTION_MAX),
    )


def _ofx_date(text: str) -> date:
    """YYYYMMDD, maybe followed by a time and zone: "20260301120000.000[-5:EST]"."""
    found = _OFX_DATE.match(text.strip())
    try:
        if found is None:
            raise ValueError(text)
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        raise BadValue(f"DTPOSTED {shown(text)} is not a date (YYYYMMDD)") from None
