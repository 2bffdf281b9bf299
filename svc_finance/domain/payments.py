"""Settling invoices with payments: how much of the receivable (payable) an
allocation clears in the company currency, and the exchange difference."""

from __future__ import annotations

from fractions import Fraction

from mesh.values import round_half_up


def settled_company(
    total: int, paid: int, company_total: int, company_settled: int, amount: int
) -> int:
    """The company-currency part of the receivable `amount` clears: in proportion at
    the invoice's rate, except the last payment, which clears exactly what is left."""
    if paid + amount >= total:
        return company_total - company_settled
    return round_half_up(Fraction(company_total * amount, total))


def share(pool_company: int, pool: int, taken: int) -> int:
    """The company value of `taken` out of a credit of `pool` worth `pool_company`;
    taking all of it takes exactly its value."""
    if taken >= pool:
        return pool_company
    return round_half_up(Fraction(pool_company * taken, pool))
