"""Settling invoices with payments: how much of the receivable (payable) an
allocation clears in the company currency, and the exchange difference."""

from __future__ import annotations

from fractions import Fraction

from mesh.values import round_half_up


def settled_company(
    total: int, paid: int, company_total: int, company_settled: int, amount: int
) -> int:
    """The company-currency part of the receivable `amount` clears: its share of what
    is still open (so roundings cannot add up past the total), the last payment
    exactly what is left."""
    open_company = company_total - company_settled
    if paid + amount >= total:
        return open_company
    part = round_half_up(Fraction(open_company * amount, total - paid))
    return min(max(part, 0), open_company)


def share(pool_company: int, pool: int, taken: int) -> int:
    """The company value of `taken` out of a credit of `pool` worth `pool_company`;
    taking all of it takes exactly its value."""
    if taken >= pool:
        return pool_company
    return round_half_up(Fraction(pool_company * taken, pool))
