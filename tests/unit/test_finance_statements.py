"""Bank statement files (svc_finance.domain.statements): CSV variants as banks write
them, OFX 1.x SGML and 2.x XML, every malformed file refused as INVALID_ARGUMENT on
`content` naming the line, and the fingerprints that make a re-import skip lines."""

from __future__ import annotations

import re
from datetime import date

import pytest

from mesh.errors import InvalidArgument
from svc_finance.domain.statements import (
    LINES_MAX,
    SIZE_MAX,
    Format,
    ParsedLine,
    fingerprint,
    fingerprints,
    parse,
    parse_amount,
    parse_csv,
    parse_date,
    parse_ofx,
)


def refused(call: object, *args: object, **kwargs: object) -> str:
    """The one violation's text; it must be on `content`."""
    assert callable(call)
    with pytest.raises(InvalidArgument) as caught:
        call(*args, **kwargs)
    violations = caught.value.violations
    assert [v.field for v in violations] == ["content"]
    return violations[0].description


def csv_of(text: str, currency: str = "EUR", **kwargs: bool) -> list[ParsedLine]:
    return parse_csv(text.encode(), currency, **kwargs)


# ---- CSV -------------------------------------------------------------------------------


def test_comma_file_with_quoted_commas() -> None:
    lines = csv_of(
        "Date,Amount,Reference,Description\n"
        '2026-03-02,1234.56,RF-001,"ACME, Inc. pays INV-2026-000012"\n'
        "2026-03-03,-12.30,,Coffee\n"
        '2026-03-04,"1,000.00",RF-003,"Transfer, ""urgent"""\n'
    )
    assert lines == [
        ParsedLine(date(2026, 3, 2), 123456, "RF-001", "ACME, Inc. pays INV-2026-000012"),
        ParsedLine(date(2026, 3, 3), -1230, "", "Coffee"),
        ParsedLine(date(2026, 3, 4), 100000, "RF-003", 'Transfer, "urgent"'),
    ]


def test_semicolon_file_with_bom_decimal_comma_and_german_headers() -> None:
    content = (
        "\ufeffBuchungstag;Valutadatum;Verwendungszweck;Betrag;Währung\r\n"
        "02.03.2026;04.03.2026;Miete März;-1.234,56;EUR\r\n"
        "05.03.2026;05.03.2026;Gutschrift RE 77;250,00;EUR\r\n"
        "06.03.2026;06.03.2026;Rundung;1.234;EUR\r\n"
    ).encode()
    lines = parse_csv(content, "EUR")
    # Booking date wins over value date; "1.234" is a thousand with a decimal comma.
    assert [(x.date, x.amount_minor, x.description) for x in lines] == [
        (date(2026, 3, 2), -123456, "Miete März"),
        (date(2026, 3, 5), 25000, "Gutschrift RE 77"),
        (date(2026, 3, 6), 123400, "Rundung"),
    ]


def test_debit_and_credit_columns_with_us_dates() -> None:
    lines = csv_of(
        "Posting Date,Description,Debit,Credit,Balance\n"
        "03/02/2026,Card purchase,12.30,,987.70\n"
        '03/04/2026,Transfer in,,"1,000.00","1,987.70"\n'
        "03/05/2026,Fee,-2.50,,1985.20\n"
    )
    assert [(x.date, x.amount_minor) for x in lines] == [
        (date(2026, 3, 2), -1230),
        (date(2026, 3, 4), 100000),
        (date(2026, 3, 5), -250),  # a debit is money out however the bank signs it
    ]


def test_tab_file_and_loose_header_names() -> None:
    lines = csv_of(
        "Booking Date\tTransaction ID\tPayee\tMemo\tAmount (EUR)\n"
        "2026-03-02\tTX9\tACME GmbH\tINV-2026-000012\t99.90\n"
    )
    assert lines == [
        ParsedLine(date(2026, 3, 2), 9990, "TX9", "ACME GmbH / INV-2026-000012"),
    ]


def test_comma_file_with_decimal_comma_when_told() -> None:
    lines = csv_of('date,amount\n2026-03-02,"12,30"\n2026-03-03,"1.234,5"\n', decimal_comma=True)
    assert [x.amount_minor for x in lines] == [1230, 123450]


def test_semicolon_file_with_decimal_points() -> None:
    lines = csv_of("date;amount;text\n2026-03-02;12.30;a\n2026-03-03;-0.5;b\n")
    assert [x.amount_minor for x in lines] == [1230, -50]


def test_debit_credit_mark_column_signs_the_amount() -> None:
    lines = csv_of("Date,Amount,D/C,Text\n2026-03-02,12.30,D,out\n2026-03-02,5.00,C,in\n")
    assert [x.amount_minor for x in lines] == [-1230, 500]


def test_blank_lines_trailing_delimiters_and_whitespace_in_text() -> None:
    lines = csv_of(
        "\n\nDate,Amount,Description,\n"
        '2026-03-02,1.00,"two\nlines",\n'
        "\n"
        "2026-03-03,2.00,  spaced   out  ,,\n"
    )
    assert [(x.amount_minor, x.description) for x in lines] == [
        (100, "two lines"),
        (200, "spaced out"),
    ]


def test_zero_decimal_currency() -> None:
    lines = csv_of("date,amount\n2026-03-02,1500\n2026-03-03,-1500.00\n", currency="JPY")
    assert [x.amount_minor for x in lines] == [1500, -1500]


def test_long_text_is_cut_to_the_columns() -> None:
    lines = csv_of(f"date,amount,reference,description\n2026-03-02,1,{'r' * 300},{'d' * 900}\n")
    assert (len(lines[0].reference), len(lines[0].description)) == (200, 500)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("Date,Amount\n2026-03-02,1.00\n2026-03-03,12,3x\n", "line 3: 3 fields"),
        ('Date,Amount\n2026-03-02,1.00\n2026-03-03,"12,3x"\n', "line 3: amount '12,3x' is not"),
        ("Date,Amount\n2026-03-02,1.00\n\n2026-13-01,2.00\n", "line 4: date '2026-13-01' is not"),
        ("Date,Amount\n2026-03-02,1.00\n03.02.26,2.00\n", "line 3: date '03.02.26' is not"),
        ("Date,Amount\n2026-03-02,1.005\n", "line 2: amount '1.005' has more decimals"),
        ("Date,Amount\n2026-03-02,\n", "line 2: the amount is missing"),
        ("Date,Amount\n,1.00\n", "line 2: the date is missing"),
        ('Date,Amount,Text\n2026-03-02,1.00,"open\n2026-03-03,2.00,x\n', "line 2: not valid CSV"),
        ('Date,Amount,Text\n2026-03-02,1.00,"a"b\n', "line 2: not valid CSV"),
        ("Datum,Wert,Text\n2026-03-02,1.00,x\n", "line 1: the header has no amount column"),
        ("When,Amount\n2026-03-02,1.00\n", "line 1: the header has no date column"),
        ("Date Amount\n2026-03-02 1.00\n", "line 1: the header needs date and amount"),
        ("Date,Debit,Credit\n2026-03-02,1.00,2.00\n", "line 2: both debit '1.00' and credit"),
        ("Date,Debit,Credit\n2026-03-02,,\n", "line 2: the amount is missing"),
        ("Date,Amount,Currency\n2026-03-02,1.00,USD\n", "line 2: currency 'USD' is not"),
        ("Date,Amount,DC\n2026-03-02,1.00,X\n", "line 2: debit/credit mark 'X'"),
        ("Date,Amount\n2026-03-02,99999999999999999.00\n", "line 2: amount"),
    ],
)
def test_malformed_csv_names_the_line(text: str, where: str) -> None:
    assert refused(parse_csv, text.encode(), "EUR").startswith(where)


def test_the_problem_is_spelled_out() -> None:
    found = refused(parse_csv, b'Date,Amount\n2026-03-02,1.00\n2026-03-03,"12,3x"\n', "EUR")
    assert found == "line 3: amount '12,3x' is not a number"
    found = refused(parse_csv, b"Date,Amount\n2026-03-02,12,30\n", "EUR")
    assert found == "line 2: 3 fields where the header has 2 (quote values that contain ',')"


def test_not_utf8_names_the_line() -> None:
    content = b"Date,Amount,Text\n2026-03-02,1.00,ok\n2026-03-03,2.00,caf\xe9\n"
    assert refused(parse_csv, content, "EUR") == "line 3: the file is not UTF-8 text"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"  \n\r\n", "the file is empty"),
        (b"\xef\xbb\xbf\n", "the file is empty"),
        (b"Date,Amount\n", "the file has no transactions"),
        (b"Date,Amount\n,\n", "the file has no transactions"),
    ],
)
def test_empty_files(content: bytes, problem: str) -> None:
    assert refused(parse_csv, content, "EUR") == problem


def test_size_and_line_limits() -> None:
    assert refused(parse_csv, b"x" * (SIZE_MAX + 1), "EUR").startswith("at most 5 MB")
    rows = "".join(f"2026-03-02,1.00,{i}\n" for i in range(LINES_MAX + 1))
    found = refused(parse_csv, ("Date,Amount,Ref\n" + rows).encode(), "EUR")
    assert found == f"more than {LINES_MAX} transactions; split the file"
    rows = "".join(f"2026-03-02,1.00,{i}\n" for i in range(LINES_MAX))
    assert len(parse_csv(("Date,Amount,Ref\n" + rows).encode(), "EUR")) == LINES_MAX


def test_binary_garbage_is_refused_not_crashed() -> None:
    garbage = bytes(range(256)) * 10
    for fmt in Format:
        with pytest.raises(InvalidArgument):
            parse(fmt, garbage, "EUR")


# ---- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "comma", "minor"),
    [
        ("1234.56", False, 123456),
        ("-12.30", False, -1230),
        ("+12.30", False, 1230),
        ("1,234.56", False, 123456),
        ("1.234,56", False, 123456),  # both marks: the last one is the decimal
        ("1.234,56", True, 123456),
        ("12,30", False, 1230),  # not three digits after it: a decimal comma
        ("1,234", False, 123400),  # three digits: grouping, unless the file says ","
        ("1,5", True, 150),
        ("1.234", True, 123400),
        ("1.234.567", False, 123456700),
        ("1 234,56", True, 123456),
        ("1'234.56", False, 123456),
        ("12.30-", False, -1230),
        ("(5.00)", False, -500),
        ("EUR 12.30", False, 1230),
        ("-€3,50", True, -350),
        ("0.5", False, 50),
        (".5", False, 50),
        ("7", False, 700),
        ("1.200", False, 120),  # a trailing zero beyond the cents loses nothing
    ],
)
def test_amounts(text: str, comma: bool, minor: int) -> None:
    assert parse_amount(text, "EUR", decimal_comma=comma) == minor


@pytest.mark.parametrize("text", ["12,3x", "", "-", "1..2", "1,2,3", "1,23,456", "12.30.", "5,"])
def test_not_amounts(text: str) -> None:
    with pytest.raises(Exception, match="is not a number"):
        parse_amount(text, "EUR")


def test_amount_digits_follow_the_currency() -> None:
    assert parse_amount("1.234", "KWD") == 1234
    assert parse_amount("12", "JPY") == 12
    with pytest.raises(Exception, match=re.escape("more decimals than EUR has (2)")):
        parse_amount("1,234", "EUR", decimal_comma=True)
    with pytest.raises(Exception, match=re.escape("more decimals than JPY has (0)")):
        parse_amount("12.5", "JPY")


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-03-02", date(2026, 3, 2)),
        ("2026-03-02T10:15:00Z", date(2026, 3, 2)),
        ("2026-03-02 10:15", date(2026, 3, 2)),
        ("02.03.2026", date(2026, 3, 2)),
        ("2.3.2026", date(2026, 3, 2)),
        ("03/02/2026", date(2026, 3, 2)),
    ],
)
def test_dates(text: str, day: date) -> None:
    assert parse_date(text) == day


@pytest.mark.parametrize("text", ["2026-02-30", "31.02.2026", "13/01/2026", "2026/03/02", "x"])
def test_not_dates(text: str) -> None:
    with pytest.raises(Exception, match="date"):
        parse_date(text)


# ---- OFX -------------------------------------------------------------------------------

OFX_SGML = b"""OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1>
<SONRS>
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<DTSERVER>20260305120000
<LANGUAGE>ENG
</SONRS>
</SIGNONMSGSRSV1>
<BANKMSGSRSV1>
<STMTTRNRS>
<TRNUID>1
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<STMTRS>
<CURDEF>EUR
<BANKACCTFROM>
<BANKID>12345678
<ACCTID>0001234567
<ACCTTYPE>CHECKING
</BANKACCTFROM>
<BANKTRANLIST>
<DTSTART>20260301
<DTEND>20260305
<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20260302120000.000[-5:EST]
<TRNAMT>1234.56
<FITID>2026030201
<NAME>ACME Inc
<MEMO>INV-2026-000012
</STMTTRN>
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20260303
<TRNAMT>-12.30
<FITID>2026030302
<NAME>Caf\xe9 &amp; Bar
<MEMO>
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL>
<BALAMT>1222.26
<DTASOF>20260305
</LEDGERBAL>
</STMTRS>
</STMTTRNRS>
</BANKMSGSRSV1>
</OFX>
"""

OFX_XML = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX>
  <BANKMSGSRSV1>
    <STMTTRNRS>
      <TRNUID>1</TRNUID>
      <STMTRS>
        <CURDEF>EUR</CURDEF>
        <BANKACCTFROM><BANKID>1</BANKID><ACCTID>2</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE>
        </BANKACCTFROM>
        <BANKTRANLIST>
          <DTSTART>20260301</DTSTART><DTEND>20260305</DTEND>
          <STMTTRN>
            <TRNTYPE>DEBIT</TRNTYPE>
            <DTPOSTED>20260303000000</DTPOSTED>
            <TRNAMT>-12.30</TRNAMT>
            <FITID>abc-1</FITID>
            <NAME>Café &amp; Co</NAME>
            <MEMO></MEMO>
          </STMTTRN>
          <STMTTRN>
            <TRNTYPE>CREDIT</TRNTYPE>
            <DTPOSTED>20260304</DTPOSTED>
            <TRNAMT>500.00</TRNAMT>
            <FITID>abc-2</FITID>
            <PAYEE><NAME>Big Customer Ltd</NAME><CITY>Leeds</CITY></PAYEE>
            <MEMO><![CDATA[Payment <PAY-2026-000003>]]></MEMO>
          </STMTTRN>
        </BANKTRANLIST>
      </STMTRS>
    </STMTTRNRS>
  </BANKMSGSRSV1>
</OFX>
"""


def test_ofx_1_sgml_with_unclosed_elements_and_charset_1252() -> None:
    assert parse_ofx(OFX_SGML, "EUR") == [
        ParsedLine(date(2026, 3, 2), 123456, "2026030201", "ACME Inc / INV-2026-000012"),
        ParsedLine(date(2026, 3, 3), -1230, "2026030302", "Café & Bar"),
    ]


def test_ofx_2_xml() -> None:
    assert parse(Format.OFX, OFX_XML.encode(), "EUR") == [
        ParsedLine(date(2026, 3, 3), -1230, "abc-1", "Café & Co"),
        ParsedLine(
            date(2026, 3, 4), 50000, "abc-2", "Big Customer Ltd / Payment <PAY-2026-000003>"
        ),
    ]


def test_ofx_with_crlf_and_no_header() -> None:
    body = OFX_SGML.split(b"\n\n", 1)[1].replace(b"\n", b"\r\n").replace(b"\xe9", b"e")
    assert [x.amount_minor for x in parse_ofx(body, "EUR")] == [123456, -1230]


def ofx_line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("<TRNAMT>500.00", "<TRNAMT>12,3x", "TRNAMT '12,3x' is not a number"),
        ("<TRNAMT>500.00", "<TRNAMT>500.001", "TRNAMT '500.001' has more decimals"),
        ("<DTPOSTED>20260304", "<DTPOSTED>2026-0", "DTPOSTED '2026-0' is not a date"),
        ("<DTPOSTED>20260304", "<DTPOSTED>20260231", "DTPOSTED '20260231' is not a date"),
        ("<CURDEF>EUR", "<CURDEF>USD", "the statement is in USD, the bank account in EUR"),
    ],
)
def test_malformed_ofx_names_the_line(old: str, new: str, problem: str) -> None:
    text = OFX_XML.replace(old, new)
    line_no = ofx_line_of(text, new)
    assert refused(parse_ofx, text.encode(), "EUR").startswith(f"line {line_no}: {problem}")


def test_ofx_transaction_without_amount_names_its_start() -> None:
    text = OFX_XML.replace("<TRNAMT>500.00</TRNAMT>", "")
    line_no = ofx_line_of(text, "<STMTTRN>\n            <TRNTYPE>CREDIT")
    assert refused(parse_ofx, text.encode(), "EUR") == f"line {line_no}: <STMTTRN> has no TRNAMT"


def test_ofx_transaction_in_another_currency() -> None:
    text = OFX_XML.replace(
        "<FITID>abc-2</FITID>",
        "<FITID>abc-2</FITID><CURRENCY><CURRATE>1.1</CURRATE><CURSYM>USD</CURSYM></CURRENCY>",
    )
    found = refused(parse_ofx, text.encode(), "EUR")
    assert found.endswith("the transaction is in USD, the bank account in EUR")


def test_ofx_structure_problems() -> None:
    unclosed = OFX_SGML.replace(b"</STMTTRN>\n</BANKTRANLIST>", b"</BANKTRANLIST>")
    line_no = OFX_SGML[: OFX_SGML.rindex(b"<STMTTRN>")].count(b"\n") + 1
    assert refused(parse_ofx, unclosed, "EUR") == f"line {line_no}: <STMTTRN> is never closed"
    truncated = OFX_SGML[: OFX_SGML.index(b"</BANKTRANLIST>")]
    assert refused(parse_ofx, truncated, "EUR") == "line 11: <OFX> is never closed"
    assert refused(parse_ofx, b"<HTML><BODY>hi</BODY></HTML>", "EUR") == (
        "line 1: not an OFX file (no <OFX> element)"
    )
    empty = OFX_XML.split("<STMTTRN>")[0] + "</BANKTRANLIST></STMTRS></STMTTRNRS>"
    empty += "</BANKMSGSRSV1></OFX>"
    assert refused(parse_ofx, empty.encode(), "EUR") == "the file has no transactions"
    assert refused(parse_ofx, b"", "EUR") == "the file is empty"


def test_ofx_empty_sgml_element_inside_a_transaction() -> None:
    body = OFX_SGML.replace(b"<NAME>ACME Inc\n", b"<NAME>\n<PAYEEID>\n")
    first = parse_ofx(body, "EUR")[0]
    # The empty elements swallow nothing: the memo and id after them still count.
    assert first == ParsedLine(date(2026, 3, 2), 123456, "2026030201", "INV-2026-000012")


def test_hostile_ofx_is_refused_quickly() -> None:
    unclosed_comment = b"<OFX>\n<!-- " + b"<!--" * 100_000
    assert refused(parse_ofx, unclosed_comment, "EUR") == "line 2: <!-- is never closed by -->"
    deep = b"<OFX>" + b"<A>" * 1000
    assert refused(parse_ofx, deep, "EUR").endswith("elements nest deeper than 40")


def test_ofx_utf8_error_names_the_line() -> None:
    text = OFX_XML.encode().replace("Café".encode(), b"Caf\xff")
    line_no = ofx_line_of(OFX_XML, "Café")
    assert refused(parse_ofx, text, "EUR") == f"line {line_no}: the file is not UTF-8 text"


# ---- fingerprints ----------------------------------------------------------------------

COFFEE = ParsedLine(date(2026, 3, 3), -350, "", "Coffee")


def test_fingerprint_is_a_sha256_of_the_line() -> None:
    found = fingerprint("acct", COFFEE, 0)
    assert re.fullmatch(r"[0-9a-f]{64}", found)
    assert found == fingerprint("acct", ParsedLine(date(2026, 3, 3), -350, "", "Coffee"), 0)
    assert found != fingerprint("other", COFFEE, 0)
    assert found != fingerprint("acct", COFFEE, 1)
    assert found != fingerprint("acct", ParsedLine(date(2026, 3, 3), -351, "", "Coffee"), 0)
    assert found != fingerprint("acct", ParsedLine(date(2026, 3, 4), -350, "", "Coffee"), 0)


def test_fingerprint_keeps_the_parts_apart() -> None:
    a = ParsedLine(date(2026, 3, 3), 1, "a|b", "c")
    b = ParsedLine(date(2026, 3, 3), 1, "a", "b|c")
    assert fingerprint("x", a, 0) != fingerprint("x", b, 0)


def test_identical_lines_in_one_file_both_count_and_reimport_matches() -> None:
    text = b"Date,Amount,Text\n2026-03-03,-3.50,Coffee\n2026-03-03,-3.50,Coffee\n"
    first = fingerprints("acct", parse_csv(text, "EUR"))
    assert len(set(first)) == 2
    assert first == [fingerprint("acct", COFFEE, 0), fingerprint("acct", COFFEE, 1)]
    assert fingerprints("acct", parse_csv(text, "EUR")) == first
    # A later file with a third coffee that day: only that one is new.
    later = text + b"2026-03-03,-3.50,Coffee\n"
    assert set(fingerprints("acct", parse_csv(later, "EUR"))) - set(first) == {
        fingerprint("acct", COFFEE, 2)
    }


def test_the_same_transactions_as_csv_and_as_ofx_share_fingerprints() -> None:
    ofx = parse_ofx(OFX_XML.encode(), "EUR")
    csv_text = (
        "Date;Reference;Description;Amount\n"
        "2026-03-03;abc-1;Café & Co;-12,30\n"
        "2026-03-04;abc-2;Big Customer Ltd / Payment <PAY-2026-000003>;500,00\n"
    )
    assert fingerprints("a", csv_of(csv_text)) == fingerprints("a", ofx)
