"""Exchange rates and conversion between minor units of two currencies.

A rate is the value of one unit of a foreign currency in the company currency,
kept as the decimal text it was given (exact on every backend) and computed with
as a Fraction, so conversion rounds once, half up, at the end."""

from __future__ import annotations

import re
from fractions import Fraction

from mesh.currencies import MINOR_UNITS
from mesh.errors import FieldViolation
from mesh.values import round_half_up

RATE_TEXT = re.compile(r"\d{1,12}(\.\d{1,10})?")
ONE = "1"


def check_rate(text: str, field: str) -> list[FieldViolation]:
    if not RATE_TEXT.fullmatch(text):
        return [FieldViolation(field, "must be a decimal such as 1.0842 (up to 10 decimals)")]
    if Fraction(text) <= 0:
        return [FieldViolation(field, "must be greater than zero")]
    return []


def scale(from_currency: str, to_currency: str) -> Fraction:
    """Minor units of `to_currency` per minor unit of `from_currency` at a rate of 1."""
    return Fraction(10) ** (MINOR_UNITS[to_currency] - MINOR_UNITS[from_currency])


def to_company(amount_minor: int, currency: str, rate: str, company_currency: str) -> int:
    """`amount_minor` of `currency` in minor units of the company currency."""
    if currency == company_currency:
        return amount_minor
    return round_half_up(amount_minor * Fraction(rate) * scale(currency, company_currency))


def from_company(amount_minor: int, currency: str, rate: str, company_currency: str) -> int:
    """Minor units of the company currency in minor units of `currency`."""
    if currency == company_currency:
        return amount_minor
    return round_half_up(amount_minor / (Fraction(rate) * scale(currency, company_currency)))
