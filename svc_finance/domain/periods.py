"""Monthly periods and fiscal years. A period is named by its calendar month
("2026-03"); a fiscal year by the calendar year it starts in."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from mesh.errors import InvalidArgument

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(text: str, field: str = "id") -> tuple[int, int]:
    found = MONTH.fullmatch(text)
    if found is None or int(found.group(1)) < 1:
        raise InvalidArgument.one(field, "must be a month such as 2026-03")
    return int(found.group(1)), int(found.group(2))


def month_bounds(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def fiscal_year_of(day: date, start_month: int) -> int:
    """The fiscal year (calendar year it starts in) holding `day`."""
    return day.year if day.month >= start_month else day.year - 1


def year_months(year: int, start_month: int) -> list[tuple[int, int]]:
    """The twelve (year, month) of a fiscal year, in order."""
    months = []
    for i in range(12):
        m = start_month - 1 + i
        months.append((year + m // 12, m % 12 + 1))
    return months


def year_bounds(year: int, start_month: int) -> tuple[date, date]:
    months = year_months(year, start_month)
    return month_bounds(*months[0])[0], month_bounds(*months[-1])[1]


def end_of_previous_month(day: date) -> date:
    return day.replace(day=1) - timedelta(days=1)


def previous_span(first: date, last: date) -> tuple[date, date]:
    """The span of the same length just before [first, last]: for a span of whole
    months, the same number of months before it."""
    if first.day == 1 and last == month_bounds(last.year, last.month)[1]:
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        index = first.year * 12 + first.month - 1 - months
        start = date(index // 12, index % 12 + 1, 1)
        return start, first - timedelta(days=1)
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)
