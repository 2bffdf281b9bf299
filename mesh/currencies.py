"""ISO 4217 currencies in use and the digits of their minor unit: amounts are
integers of minor units, so converting between currencies needs the exponent."""

from __future__ import annotations

from collections.abc import Mapping

# Code -> decimal digits of the minor unit (ISO 4217). Codes not listed are refused.
MINOR_UNITS: Mapping[str, int] = {
    **dict.fromkeys(
        "AED ARS AUD BGN BRL CAD CHF CNY COP CZK DKK EGP EUR GBP HKD HUF IDR ILS INR "
        "KES MAD MXN MYR NGN NOK NZD PEN PHP PKR PLN QAR RON RSD SAR SEK SGD THB TRY "
        "TWD UAH USD ZAR".split(),
        2,
    ),
    **dict.fromkeys("CLP ISK JPY KRW VND".split(), 0),
    **dict.fromkeys("KWD".split(), 3),
}
CODES = frozenset(MINOR_UNITS)


def minor_unit_digits(code: str) -> int:
    return MINOR_UNITS[code]
