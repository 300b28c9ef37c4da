"""What the owner's report says, apart from how it is drawn. Pure.

A report is a list of sections; every section has one chart and, under it, a table with the
chart's numbers (and more). Values arrive already counted: nothing here reads a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class ChartKind(StrEnum):
    LINE = "line"  # a value per x label, one line per series (rates, counts over time)
    BARS = "bars"  # grouped bars: one bar per series at each x label
    STACKED = "stacked"  # stacked bars: the series add up at each x label
    INTERVALS = "intervals"  # a point per series at each x label, with `low` to `high` drawn


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | None, ...]  # one per x label; None: no value there (a gap)
    # INTERVALS only: the interval's ends, one per x label (None where there is none).
    low: tuple[float | None, ...] = ()
    high: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Chart:
    kind: ChartKind
    x: tuple[str, ...]  # the labels along the bottom: days, weeks, months, stages, variants
    series: tuple[Series, ...]
    unit: str = ""  # how values read: "%" (values are percentages, 0-100), "h", "EUR", ""
    y_label: str = ""

    @property
    def empty(self) -> bool:
        return not self.x or all(v is None for s in self.series for v in s.values)


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # already formatted, one cell per header
    # Columns whose cells are numbers (aligned right), by index.
    numeric: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Section:
    id: str  # a stable anchor: letters, digits and dashes
    title: str
    summary: str  # one or two sentences: what it shows and how to read it
    chart: Chart
    table: Table
    notes: tuple[str, ...] = ()  # caveats under the table (open windows, thresholds, ...)


@dataclass(frozen=True)
class Report:
    business: str
    since: date
    until: date
    generated_at: datetime
    source: str  # where the figures came from: "stack lifecycle-prod", "local simulation"
    sections: tuple[Section, ...]
    notes: tuple[str, ...] = field(default=())
