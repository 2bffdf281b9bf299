"""The reconciliation rules (svc_finance.domain.matching): which payment a bank
statement line is suggested, when a match is confirmed at once, and why a payment
cannot be matched by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from svc_finance.domain.matching import (
    INCOMING,
    OUTGOING,
    Candidate,
    Item,
    Match,
    Rules,
    mismatch,
    reference_found,
    show,
    suggest,
    suggest_all,
)

DAY = date(2026, 3, 10)
RULES = Rules(date_tolerance_days=3, match_reference=True, auto_confirm=False)
AUTO = Rules(date_tolerance_days=3, match_reference=True, auto_confirm=True)


def item(amount: int = 10000, day: date = DAY, text: str = "", ref: str = "") -> Item:
    return Item(day, amount, "EUR", ref, text)


def pay(
    pid: str,
    amount: int = 10000,
    days: int = 0,
    *,
    direction: str = INCOMING,
    currency: str = "EUR",
    number: str = "",
    reference: str = "",
    invoices: tuple[str, ...] = (),
    reconciled: bool = False,
) -> Candidate:
    return Candidate(
        id=pid,
        direction=direction,
        currency=currency,
        amount_minor=amount,
        date=DAY + timedelta(days=days),
        number=number or f"PAY-2026-{pid}",
        reference=reference,
        invoice_numbers=invoices,
        reconciled=reconciled,
    )


# ---- what fits -------------------------------------------------------------------------


def test_same_amount_direction_currency_and_date_is_suggested() -> None:
    assert suggest(item(), [pay("p1")], RULES) == Match("p1", "amount, same date", False)


def test_money_out_matches_outgoing_payments_only() -> None:
    out = [pay("in1"), pay("out1", direction=OUTGOING)]
    assert suggest(item(-10000), out, RULES) == Match("out1", "amount, same date", False)
    assert suggest(item(10000), out, RULES) == Match("in1", "amount, same date", False)


@pytest.mark.parametrize(
    "payment",
    [
        pay("p", amount=10001),
        pay("p", amount=9999),
        pay("p", currency="USD"),
        pay("p", direction=OUTGOING),
        pay("p", days=4),
        pay("p", days=-4),
        pay("p", reconciled=True),
    ],
)
def test_what_does_not_fit(payment: Candidate) -> None:
    assert suggest(item(text=payment.number), [payment], RULES) is None


def test_date_tolerance_is_inclusive_and_both_ways() -> None:
    assert suggest(item(), [pay("p", days=3)], RULES) == Match(
        "p", "amount, date within 3 days", False
    )
    assert suggest(item(), [pay("p", days=-1)], RULES) == Match(
        "p", "amount, date within 1 day", False
    )
    exact = Rules(date_tolerance_days=0)
    assert suggest(item(), [pay("p", days=1)], exact) is None
    assert suggest(item(), [pay("p", days=1)], Rules(date_tolerance_days=-5)) is None


def test_a_zero_line_matches_nothing() -> None:
    assert suggest(item(0), [pay("p", amount=0)], RULES) is None


def test_payments_given_to_other_lines_are_not_proposed_again() -> None:
    assert suggest(item(), [pay("p1"), pay("p2", days=1)], RULES, taken={"p1"}) == Match(
        "p2", "amount, date within 1 day", False
    )
    assert suggest(item(), [pay("p1")], RULES, taken={"p1"}) is None


# ---- preference and ambiguity ----------------------------------------------------------


def test_closer_date_wins_without_references() -> None:
    found = suggest(item(), [pay("far", days=-3), pay("near", days=1), pay("mid", days=2)], RULES)
    assert found == Match("near", "amount, date within 1 day", False)


def test_reference_wins_over_a_closer_date() -> None:
    candidates = [pay("plain"), pay("ref", days=2, reference="RF18 5390 0754 7034")]
    found = suggest(item(text="SEPA credit RF18 5390 0754 7034 ACME"), candidates, RULES)
    assert found == Match("ref", "amount, date within 2 days, reference", False)


@pytest.mark.parametrize(
    ("line_text", "line_ref", "payment"),
    [
        ("Payment for inv-2026-000012, thanks", "", pay("p", invoices=("INV-2026-000012",))),
        ("", "INV2026000012", pay("p", invoices=("INV-2026-000012",))),  # dashes dropped
        ("ACME PAY-2026-000003", "", pay("p", number="PAY-2026-000003")),
        ("", "e2e-REF-77", pay("p", reference="E2E-ref-77")),
    ],
)
def test_reference_number_or_invoice_number_is_found(
    line_text: str, line_ref: str, payment: Candidate
) -> None:
    assert reference_found(item(text=line_text, ref=line_ref), payment)


def test_short_or_absent_references_are_not_found() -> None:
    payment = pay("p", number="7", reference="", invoices=("", "AB"))
    assert not reference_found(item(text="invoice 7 AB 2026"), payment)
    assert not reference_found(item(text="PAY-2026-000004"), pay("p", number="PAY-2026-000003"))


def test_references_are_ignored_when_the_rules_say_so() -> None:
    rules = Rules(date_tolerance_days=3, match_reference=False, auto_confirm=True)
    candidates = [pay("near"), pay("ref", days=2, reference="ORDER-991")]
    found = suggest(item(text="ORDER-991"), candidates, rules)
    assert found == Match("near", "amount, same date", False)


def test_two_equally_good_payments_are_no_suggestion() -> None:
    assert suggest(item(), [pay("a", days=1), pay("b", days=-1)], RULES) is None
    both = [pay("a", reference="X-100"), pay("b", reference="X-200")]
    assert suggest(item(text="X-100 X-200"), both, RULES) is None
    # A reference breaks the tie.
    assert suggest(item(text="X-200"), both, RULES) == Match(
        "b", "amount, same date, reference", False
    )
    # Equally close but not the best: the best still wins.
    found = suggest(item(), [pay("a", days=1), pay("b", days=-1), pay("c")], RULES)
    assert found == Match("c", "amount, same date", False)


# ---- auto-confirm ----------------------------------------------------------------------


def test_auto_confirm_needs_the_reference_and_a_single_fitting_payment() -> None:
    line = item(text="INV-2026-000012")
    invoice = ("INV-2026-000012",)
    assert suggest(line, [pay("p", invoices=invoice)], AUTO) == Match(
        "p", "amount, same date, reference", True
    )
    # Off in the rules: only suggested.
    assert suggest(line, [pay("p", invoices=invoice)], RULES) == Match(
        "p", "amount, same date, reference", False
    )
    # No reference: only suggested.
    assert suggest(item(), [pay("p")], AUTO) == Match("p", "amount, same date", False)
    # Another payment of that amount fits too: the referenced one is only suggested.
    found = suggest(line, [pay("p", invoices=invoice, days=1), pay("q", days=-2)], AUTO)
    assert found == Match("p", "amount, date within 1 day, reference", False)
    # A payment of another amount is no competitor.
    found = suggest(line, [pay("p", invoices=invoice), pay("q", amount=5)], AUTO)
    assert found == Match("p", "amount, same date, reference", True)


def test_a_reconciled_competitor_does_not_block_auto_confirm() -> None:
    line = item(text="INV-1001")
    candidates = [pay("p", invoices=("INV-1001",)), pay("old", reconciled=True)]
    assert suggest(line, candidates, AUTO) == Match("p", "amount, same date, reference", True)


# ---- a whole file ----------------------------------------------------------------------


def test_a_payment_goes_to_one_line_of_a_file() -> None:
    coffee = item(-350)
    candidates = [pay("p", amount=350, direction=OUTGOING)]
    assert suggest_all([coffee, coffee], candidates, RULES) == [
        Match("p", "amount, same date", False),
        None,
    ]


def test_identical_lines_share_out_identical_payments() -> None:
    lines = [item(-350), item(-350, day=DAY + timedelta(days=1))]
    candidates = [
        pay("a", amount=350, direction=OUTGOING),
        pay("b", amount=350, direction=OUTGOING, days=1),
    ]
    assert suggest_all(lines, candidates, RULES) == [
        Match("a", "amount, same date", False),
        Match("b", "amount, same date", False),
    ]


def test_earlier_suggestions_are_respected() -> None:
    assert suggest_all([item()], [pay("p")], RULES, taken=["p"]) == [None]


# ---- matching by hand ------------------------------------------------------------------


def test_mismatch_names_what_differs() -> None:
    assert mismatch(item(), pay("p", days=30)) == ""  # the date is the user's call
    assert mismatch(item(-10000), pay("p")) == "the line is money out, the payment is incoming"
    assert mismatch(item(), pay("p", currency="USD")) == "the line is in EUR, the payment in USD"
    assert mismatch(item(12345), pay("p", amount=12340)) == (
        "the line is 123.45 EUR, the payment 123.40 EUR"
    )
    both = mismatch(item(-5), pay("p", amount=6))
    assert both == "the line is money out, the payment is incoming; the line is 0.05 EUR, " + (
        "the payment 0.06 EUR"
    )
    assert mismatch(item(0), pay("p")).startswith("the line has no amount")


def test_show_follows_the_currency_digits() -> None:
    assert show(123456, "EUR") == "1234.56 EUR"
    assert show(-5, "EUR") == "-0.05 EUR"
    assert show(1500, "JPY") == "1500 JPY"
    assert show(1234, "KWD") == "1.234 KWD"
