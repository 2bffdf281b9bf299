"""Settling a receivable in instalments, and what an entry may hold: no instalment
clears more than is open (roundings cannot add up past the total, so no negative
line), an entry refuses negative and oversized company amounts, and the chain hashes
the same instant alike whatever offset it was read back with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mesh.errors import InvalidArgument
from svc_finance.domain.ledger import AMOUNT_MAX, Entry, Line, chain_hash, check_balanced
from svc_finance.domain.payments import settled_company


def instalments(total: int, company_total: int, parts: list[int]) -> list[int]:
    paid = settled = 0
    cleared = []
    for amount in parts:
        part = settled_company(total, paid, company_total, settled, amount)
        cleared.append(part)
        paid, settled = paid + amount, settled + part
    return cleared


def test_instalments_never_clear_more_than_is_open() -> None:
    # 100.00 USD booked at 150 JPY: 15,000 JPY; nine payments of 11.11 then 0.01.
    cleared = instalments(10_000, 15_000, [1_111] * 9 + [1])
    assert sum(cleared) == 15_000
    assert all(part >= 0 for part in cleared)
    assert cleared[-1] == 15_000 - sum(cleared[:-1])


@pytest.mark.parametrize(
    ("total", "company_total", "parts"),
    [
        (3, 1, [1, 1, 1]),
        (10_000, 9_000, [3_333, 3_333, 3_334]),
        (7, 100_000, [1] * 7),
        (1_000, 1, [999, 1]),
    ],
)
def test_instalments_add_up_to_the_booked_amount(
    total: int, company_total: int, parts: list[int]
) -> None:
    cleared = instalments(total, company_total, parts)
    assert sum(cleared) == company_total
    assert all(0 <= part <= company_total for part in cleared)


def line(debit: int, credit: int) -> Line:
    return Line("a", "EUR", debit, credit, debit, credit)


def test_an_entry_refuses_negative_and_oversized_amounts() -> None:
    with pytest.raises(InvalidArgument) as negative:
        check_balanced([line(5, 0), line(0, 8), line(0, -3)])
    assert negative.value.violations[0].field == "lines[2]"
    with pytest.raises(InvalidArgument) as huge:
        check_balanced([line(AMOUNT_MAX + 1, 0), line(0, AMOUNT_MAX + 1)])
    assert huge.value.violations[0].field == "lines[0]"
    check_balanced([line(AMOUNT_MAX, 0), line(0, AMOUNT_MAX)])  # the largest allowed


def test_the_hash_is_the_same_for_one_instant_at_any_offset() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    berlin = at.astimezone(timezone(timedelta(hours=1)))

    def entry(posted_at: datetime) -> Entry:
        return Entry(
            "t", "e", 1, "JE-000001", date(2026, 3, 1), "", "manual", "", "", "u", posted_at
        )

    assert chain_hash("0" * 64, entry(at)) == chain_hash("0" * 64, entry(berlin))
    later = at + timedelta(microseconds=1)
    assert chain_hash("0" * 64, entry(at)) != chain_hash("0" * 64, entry(later))
