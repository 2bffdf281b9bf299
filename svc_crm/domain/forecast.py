"""The arithmetic of the deal reports, free of I/O: stage totals of a pipeline,
months of a forecast, win rates per owner. Amounts are integer minor units; sums
are weighted per stage (the sum of a stage's deals times its probability, rounded
once), never per deal."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from mesh.values import round_half_up
from svc_crm.domain.deals import DealStatus, weighted

BPS = 10_000


@dataclass(frozen=True)
class StageInfo:
    id: str
    name: str
    win_probability: int


@dataclass(frozen=True)
class StageSum:
    """What SQL summed for one stage and currency."""

    stage_id: str
    currency: str
    count: int
    total: int


@dataclass(frozen=True)
class StageLine:
    """One line of a pipeline report; `currency` is "" for a stage without deals."""

    stage: StageInfo
    currency: str
    count: int
    value: int
    weighted_value: int


def stage_lines(stages: Sequence[StageInfo], sums: Iterable[StageSum]) -> list[StageLine]:
    """One line per stage and currency in stage order (currencies alphabetical);
    a stage without deals once, with count 0 and no currency."""
    by_stage: dict[str, dict[str, tuple[int, int]]] = {}
    for s in sums:
        per = by_stage.setdefault(s.stage_id, {})
        count, total = per.get(s.currency, (0, 0))
        per[s.currency] = (count + s.count, total + s.total)
    lines: list[StageLine] = []
    for stage in stages:
        per = by_stage.get(stage.id, {})
        if not per:
            lines.append(StageLine(stage, "", 0, 0, 0))
            continue
        for currency in sorted(per):
            count, total = per[currency]
            lines.append(
                StageLine(stage, currency, count, total, weighted(total, stage.win_probability))
            )
    return lines


@dataclass(frozen=True)
class ForecastSum:
    """What SQL summed for one close date, stage and currency."""

    expected_close: date
    stage_id: str
    win_probability: int
    currency: str
    count: int
    total: int


@dataclass(frozen=True)
class MonthLine:
    month: str  # "YYYY-MM"
    currency: str
    count: int
    value: int
    weighted_value: int


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has fewer."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def fold_months(sums: Iterable[ForecastSum]) -> list[MonthLine]:
    """Per month and currency: count, value, and the weighted value summed over the
    month's stages (each stage's sum weighted once). In month, then currency order."""
    # (month, currency) -> stage id -> [count, total, probability]
    groups: dict[tuple[str, str], dict[str, list[int]]] = {}
    for s in sums:
        per_stage = groups.setdefault((month_key(s.expected_close), s.currency), {})
        acc = per_stage.setdefault(s.stage_id, [0, 0, s.win_probability])
        acc[0] += s.count
        acc[1] += s.total
    lines: list[MonthLine] = []
    for (month, currency), per_stage in sorted(groups.items()):
        count = sum(a[0] for a in per_stage.values())
        value = sum(a[1] for a in per_stage.values())
        weighted_value = sum(weighted(a[1], a[2]) for a in per_stage.values())
        lines.append(MonthLine(month, currency, count, value, weighted_value))
    return lines


@dataclass(frozen=True)
class ClosedSum:
    """What SQL counted for one owner, outcome and currency."""

    owner_id: str
    status: str  # "won" or "lost"
    currency: str
    count: int
    total: int


@dataclass
class WinRate:
    owner_id: str
    won: int = 0
    lost: int = 0
    won_value: dict[str, int] = field(default_factory=dict)  # currency -> minor units

    @property
    def win_rate_bps(self) -> int:
        return rate_bps(self.won, self.lost)

    def add(self, s: ClosedSum) -> None:
        if s.status == DealStatus.WON.value:
            self.won += s.count
            self.won_value[s.currency] = self.won_value.get(s.currency, 0) + s.total
        elif s.status == DealStatus.LOST.value:
            self.lost += s.count


def rate_bps(won: int, lost: int) -> int:
    """won / (won + lost) in basis points, rounded half up; 0 when nothing closed."""
    if won + lost == 0:
        return 0
    return round_half_up(Fraction(won * BPS, won + lost))


def win_rates(sums: Iterable[ClosedSum]) -> tuple[list[WinRate], WinRate]:
    """One row per owner (by owner id) and the total of all owners."""
    owners: dict[str, WinRate] = {}
    total = WinRate("")
    for s in sums:
        owners.setdefault(s.owner_id, WinRate(s.owner_id)).add(s)
        total.add(s)
    return [owners[k] for k in sorted(owners)], total
