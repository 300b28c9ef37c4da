"""The owner's report drawn as one self-contained HTML page: inline CSS, charts as inline SVG.

The page must open from a file, a mail attachment or a printout with nothing else around it, so
it holds no script, no web font and no reference to anything outside itself. Every string from
the document is escaped: campaign and variant names are typed by marketers and can hold markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from pathlib import Path

from lifecycle.reporting.document import Chart, ChartKind, Report, Section, Series, Table

# Okabe & Ito (2008), ordered so that the first colours are the ones that stay apart for every
# kind of colour vision and on white; yellow is last but one because it is faint on white.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

# The drawing's own coordinates; the page scales it to the width it has.
WIDTH = 720.0
HEIGHT = 360.0
EMPTY_HEIGHT = 240.0
# Text sizes in drawing units. The layout leaves room for the largest, which the stylesheet
# uses at phone width, where the drawing is shown at about half its size.
FONT_DESKTOP = 11.0
FONT_PHONE = 22.0
# Widths of a system sans-serif's characters, in font sizes: an estimate on the wide side, as
# no font is measured here (the page names none, so the reader's system picks it).
NARROW = frozenset("il.,:;'|! ()[]/")
CHAR = 0.62  # the width wrapping assumes for any character
MAX_X_LABELS = 12
MAX_LABEL_LINES = 3
MAX_SEQUENCE_LABEL = 16

DASH = " \u2013 "  # an en dash between spaces: from one day until another

KIND_NAMES = {
    ChartKind.LINE: "Line chart",
    ChartKind.BARS: "Bar chart",
    ChartKind.STACKED: "Stacked bar chart",
    ChartKind.INTERVALS: "Interval chart",
}


def render(report: Report) -> str:
    """The whole page for `report`."""
    title = f"{report.business}: report {_day(report.since)}{DASH}{_day(report.until)}"
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        _header(report),
        _contents(report.sections),
        "<main>",
        *(_section(section) for section in report.sections),
        "</main>",
        _footer(report),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def write(report: Report, out_dir: Path) -> Path:
    """Write the page to `out_dir/report.html` (making the folder) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(render(report), encoding="utf-8")
    return path


# -- the page around the charts ----------------------------------------------------------------


def _e(text: str) -> str:
    return escape(str(text), quote=True)


def _day(day: date) -> str:
    return day.isoformat()


def _moment(at: datetime) -> str:
    shown = at.strftime("%Y-%m-%d %H:%M")
    zone = at.tzname()
    return f"{shown} {zone}" if zone else shown


def _header(report: Report) -> str:
    return (
        '<header class="masthead">'
        f"<h1>{_e(report.business)}</h1>"
        '<p class="period">Report for '
        f'<time datetime="{_e(report.since.isoformat())}">{_e(_day(report.since))}</time>'
        f"{DASH}"
        f'<time datetime="{_e(report.until.isoformat())}">{_e(_day(report.until))}</time></p>'
        '<dl class="meta">'
        "<div><dt>Generated</dt>"
        f'<dd><time datetime="{_e(report.generated_at.isoformat())}">'
        f"{_e(_moment(report.generated_at))}</time></dd></div>"
        f"<div><dt>Source</dt><dd>{_e(report.source)}</dd></div>"
        "</dl>"
        "</header>"
    )


def _contents(sections: Sequence[Section]) -> str:
    if not sections:
        return ""
    items = "".join(
        f'<li><a href="#{_e(section.id)}">{_e(section.title)}</a></li>' for section in sections
    )
    return f'<nav class="contents" aria-label="Contents"><h2>Contents</h2><ol>{items}</ol></nav>'


def _footer(report: Report) -> str:
    if not report.notes:
        return ""
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.notes)
    return f'<footer class="report-notes"><h2>About these figures</h2><ul>{notes}</ul></footer>'


def _section(section: Section) -> str:
    notes = (
        '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in section.notes) + "</ul>"
        if section.notes
        else ""
    )
    return (
        f'<section id="{_e(section.id)}">'
        f"<h2>{_e(section.title)}</h2>"
        f'<p class="summary">{_e(section.summary)}</p>'
        f'<figure class="chart" data-chart="{_e(section.id)}">'
        f"{chart_svg(section.chart, section.title, section.id)}"
        f"{_legend(section.chart)}"
        "</figure>"
        f"{_table(section.table, section.id)}"
        f"{notes}"
        "</section>"
    )


def _table(table: Table, section_id: str) -> str:
    def cls(index: int) -> str:
        return ' class="num"' if index in table.numeric else ""

    head = "".join(
        f'<th scope="col"{cls(i)}>{_e(header)}</th>' for i, header in enumerate(table.headers)
    )
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_e(cell)}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in table.rows
    )
    empty = "" if table.rows else '<p class="empty-table">No rows in this period.</p>'
    # The wrapper scrolls sideways on its own so that a wide table never widens the page.
    return (
        f'<div class="table-wrap" role="region" tabindex="0" aria-label="Table: {_e(section_id)}">'
        f'<table data-table="{_e(section_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{empty}"
    )


def _legend(chart: Chart) -> str:
    # In the page rather than in the drawing: it wraps at any width instead of being clipped.
    if chart.empty:
        return ""
    shape = {
        ChartKind.LINE: "line",
        ChartKind.BARS: "box",
        ChartKind.STACKED: "box",
        ChartKind.INTERVALS: "dot",
    }[chart.kind]
    items = "".join(
        f'<li><span class="swatch {shape} c{i % len(PALETTE)}" aria-hidden="true"></span>'
        f"{_e(series.name)}</li>"
        for i, series in enumerate(chart.series)
    )
    return f'<figcaption><ul class="legend">{items}</ul></figcaption>'


# -- numbers -----------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _at(values: Sequence[float | None], index: int) -> float | None:
    return _finite(values[index]) if index < len(values) else None


def nice_ticks(low: float, high: float, count: int = 5, whole: bool = False) -> list[float]:
    """About `count` round values from at most `low` to at least `high` (1, 2, 2.5 or 5 times a
    power of ten apart); whole numbers only when `whole` (counts have no half messages)."""
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = round((last - first) / step)
    return [_clean(first + i * step) for i in range(n + 1)]


def _clean(value: float) -> float:
    rounded = round(value, 10)
    return 0.0 if rounded == 0 else rounded


def _decimals(step: float) -> int:
    for places in range(0, 7):
        if abs(round(step, places) - step) < 1e-9:
            return places
    return 6


def _number(value: float, places: int) -> str:
    text = f"{value:,.{places}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def tick_labels(ticks: Sequence[float], unit: str) -> list[str]:
    """The y axis's labels: 12,000 as 12k once values are that large, the unit on each."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    top = max(abs(t) for t in ticks)
    scale, suffix = (1e6, "M") if top >= 1e7 else (1e3, "k") if top >= 1e4 else (1.0, "")
    places = _decimals(step / scale)
    return [_with_unit("0" if t == 0 else _number(t / scale, places) + suffix, unit) for t in ticks]


def value_text(value: float, unit: str) -> str:
    """A value as a tooltip reads it: up to two decimals, trailing zeros dropped."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return _with_unit("0" if text in ("-0", "") else text, unit)


# -- the drawing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Where the plot sits in the drawing and how values map onto it."""

    left: float
    top: float
    right: float
    bottom: float
    low: float
    high: float
    n: int

    @property
    def slot(self) -> float:
        return (self.right - self.left) / self.n

    def x(self, index: float) -> float:
        return self.left + (index + 0.5) * self.slot

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.bottom - share * (self.bottom - self.top)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _extent(chart: Chart) -> tuple[float, float]:
    """The values the axis must hold, 0 always among them (counts and rates start at 0)."""
    n = len(chart.x)
    values: list[float] = [0.0]
    if chart.kind is ChartKind.STACKED:
        for i in range(n):
            column = [v for s in chart.series if (v := _at(s.values, i)) is not None]
            values.append(sum(v for v in column if v > 0))
            values.append(sum(v for v in column if v < 0))
    else:
        for series in chart.series:
            for i in range(n):
                values.extend(
                    v
                    for v in (_at(series.values, i), _at(series.low, i), _at(series.high, i))
                    if v is not None
                )
    return min(values), max(values)


def _whole(chart: Chart) -> bool:
    if chart.unit == "%":
        return False
    every = [v for s in chart.series for v in (*s.values, *s.low, *s.high) if v is not None]
    return all(float(v).is_integer() for v in every if math.isfinite(v))


def _axis(chart: Chart) -> list[float]:
    low, high = _extent(chart)
    ticks = nice_ticks(low, high, whole=_whole(chart))
    if chart.unit == "%" and ticks[-1] > 100 >= high:
        # A share is never above 100 %: end the axis there rather than at a rounder 120 %.
        ticks = [t for t in ticks if t < 100] + [100.0]
    return ticks


def _text_width(text: str, font: float) -> float:
    return font * sum(_char_width(c) for c in text)


def _char_width(c: str) -> float:
    # DejaVu Sans, the widest common system sans-serif (digits 0.64 em), so the layout holds
    # with whichever font the reader's system picks.
    if c in NARROW:
        return 0.34
    if c.isdigit():
        return 0.64
    if c.isupper() or c in "mw%@":
        return 0.78
    return 0.62


def _wrap(label: str, chars: int) -> list[str]:
    """`label` in lines of at most `chars` characters (by words where it can), at most
    MAX_LABEL_LINES of them, the last cut with an ellipsis when it does not all fit."""
    chars = max(chars, 3)
    lines: list[str] = []
    current = ""
    for word in label.split():
        while len(word) > chars:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:chars])
            word = word[chars:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= chars:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > MAX_LABEL_LINES:
        kept = lines[:MAX_LABEL_LINES]
        kept[-1] = kept[-1][: chars - 1].rstrip() + "…"
        return kept
    return lines or [""]


@dataclass(frozen=True)
class _XLabels:
    shown: list[tuple[int, list[str], bool]]  # index, lines, hidden at phone width
    lines: int


def _x_labels(labels: Sequence[str], plot_width: float) -> _XLabels:
    n = len(labels)
    slot = plot_width / n
    gap = 8.0
    if n <= MAX_X_LABELS:
        widest = max(_text_width(label, FONT_PHONE) for label in labels)
        if widest + gap <= slot:
            return _XLabels([(i, [label], False) for i, label in enumerate(labels)], 1)
        # Stages and variants: every one is needed, so wrapped to its slot at the phone's size
        # (the largest text the drawing gets), when that keeps their words whole.
        chars = int((slot - gap) / (CHAR * FONT_PHONE))
        wrapped = [_wrap(label, chars) for label in labels]
        whole = all(
            len(lines) <= MAX_LABEL_LINES and not lines[-1].endswith("…") for lines in wrapped
        ) and all(len(word) <= chars for label in labels for word in label.split())
        named = any(" " in label for label in labels)
        if whole or named:
            return _XLabels(
                [(i, lines, False) for i, lines in enumerate(wrapped)],
                max(len(lines) for lines in wrapped),
            )
    # A sequence (days, weeks, months): every step-th label, so that they fit side by side on
    # a desktop; at phone width every other one of those is hidden so the larger text fits.
    longest = max(_text_width(_cut(label), 1.0) for label in labels)
    step = 1
    while (
        n / step > MAX_X_LABELS
        or step * slot < longest * FONT_DESKTOP + gap
        or 2 * step * slot < longest * FONT_PHONE + gap
    ):
        step += 1
    shown = [(i, [_cut(labels[i])], (i // step) % 2 == 1) for i in range(0, n, step)]
    return _XLabels(shown, 1)


def _cut(label: str) -> str:
    # A sequence's labels are short (dates, weeks); a long one would push the plot aside.
    return label if len(label) <= MAX_SEQUENCE_LABEL else label[: MAX_SEQUENCE_LABEL - 1] + "…"


def chart_svg(chart: Chart, title: str, chart_id: str) -> str:
    """One chart as an inline SVG that scales to the width of its container."""
    label = _describe(chart, title)
    title_id = f"chart-title-{chart_id}"
    # An empty chart is a shorter box: it has one sentence to say.
    height = EMPTY_HEIGHT if chart.empty else HEIGHT
    opening = (
        f'<svg viewBox="0 0 {_f(WIDTH)} {_f(height)}" '
        f'width="100%" role="img" aria-labelledby="{_e(title_id)}" aria-label="{_e(label)}" '
        f'preserveAspectRatio="xMidYMid meet" class="kind-{_e(chart.kind.value)}">'
        f'<title id="{_e(title_id)}">{_e(label)}</title>'
    )
    if chart.empty:
        return opening + _placeholder() + "</svg>"
    return opening + _plot(chart) + "</svg>"


def _describe(chart: Chart, title: str) -> str:
    if chart.empty:
        return f"{title}: no data in this period"
    names = ", ".join(s.name for s in chart.series)
    what = f"{title}: {KIND_NAMES[chart.kind].lower()} of {names}"
    span = chart.x[0] if len(chart.x) == 1 else f"{chart.x[0]} to {chart.x[-1]}"
    unit = f", values in {chart.unit}" if chart.unit else ""
    axis = f" ({chart.y_label})" if chart.y_label else ""
    return f"{what}{axis}, at {len(chart.x)} points along the bottom: {span}{unit}"


def _placeholder() -> str:
    return (
        '<g class="placeholder">'
        f'<rect x="8" y="8" width="{_f(WIDTH - 16)}" height="{_f(EMPTY_HEIGHT - 16)}" rx="8" '
        'fill="#f6f7f9" stroke="#9aa3ad" stroke-dasharray="6 6"/>'
        f'<text x="{_f(WIDTH / 2)}" y="{_f(EMPTY_HEIGHT / 2)}" text-anchor="middle" '
        'dominant-baseline="middle" class="placeholder-text">No data in this period</text>'
        "</g>"
    )


def _plot(chart: Chart) -> str:
    ticks = _axis(chart)
    labels = tick_labels(ticks, chart.unit)
    widest = max(_text_width(t, FONT_PHONE) for t in labels)
    left, right = widest + 18, WIDTH - 12
    x_labels = _x_labels(chart.x, right - left)
    # The end labels are centred on their slots; leave room for the half of them that sticks
    # out at the largest size, then place the labels again in the narrower plot.
    slot = (right - left) / len(chart.x)
    first_index, first_lines, _ = x_labels.shown[0]
    last_index, last_lines, _ = x_labels.shown[-1]
    first_out = _half(first_lines) - (first_index * slot + slot / 2)
    last_out = _half(last_lines) - ((len(chart.x) - 1 - last_index) * slot + slot / 2)
    if first_out > 0 or last_out > 0:
        left = min(max(left, first_out + 4), WIDTH / 3)
        right = max(min(right, WIDTH - 4 - last_out), WIDTH * 2 / 3)
        x_labels = _x_labels(chart.x, right - left)
    # Room for the axis title when there is one, else for half of the top tick's label.
    top = FONT_PHONE * 1.2 + 22 if _y_title(chart) else FONT_PHONE * 0.6 + 10
    bottom = HEIGHT - (x_labels.lines * FONT_PHONE * 1.15 + 14)
    frame = _Frame(left, top, right, bottom, ticks[0], ticks[-1], len(chart.x))

    parts = [_grid(frame, ticks, labels), _y_title(chart), _x_axis(frame, chart.x, x_labels)]
    drawers = {
        ChartKind.LINE: _lines,
        ChartKind.BARS: _bars,
        ChartKind.STACKED: _stacks,
        ChartKind.INTERVALS: _intervals,
    }
    parts.append(f'<g class="marks">{drawers[chart.kind](frame, chart)}</g>')
    # The zero line over the marks: bars start on it and a line along 0 stays visible.
    parts.append(
        f'<line class="axis baseline" x1="{_f(frame.left)}" x2="{_f(frame.right)}" '
        f'y1="{_f(frame.y(0))}" y2="{_f(frame.y(0))}" stroke="#4b5563" stroke-width="1"/>'
    )
    return "".join(parts)


def _half(lines: Sequence[str]) -> float:
    return max(_text_width(line, FONT_PHONE) for line in lines) / 2


def _grid(frame: _Frame, ticks: Sequence[float], labels: Sequence[str]) -> str:
    parts = ['<g class="axis y-axis">']
    for tick, text in zip(ticks, labels, strict=True):
        y = _f(frame.y(tick))
        parts.append(
            f'<line x1="{_f(frame.left)}" x2="{_f(frame.right)}" y1="{y}" y2="{y}" '
            'stroke="#e3e6ea" stroke-width="1"/>'
            f'<text x="{_f(frame.left - 8)}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{_e(text)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _y_title(chart: Chart) -> str:
    text = chart.y_label
    if chart.unit and chart.unit != "%":
        text = f"{text} ({chart.unit})" if text else chart.unit
    if not text:
        return ""
    return f'<text class="axis y-title" x="4" y="{_f(FONT_PHONE)}">{_e(text)}</text>'


def _x_axis(frame: _Frame, labels: Sequence[str], shown: _XLabels) -> str:
    parts = ['<g class="axis x-axis">']
    first_line = frame.bottom + 8
    for index, lines, alternate in shown.shown:
        x = _f(frame.x(index))
        cls = ' class="alt"' if alternate else ""
        full = labels[index]
        tooltip = f"<title>{_e(full)}</title>" if " ".join(lines) != full else ""
        spans = "".join(
            f'<tspan x="{x}" dy="{"0" if n == 0 else "1.15em"}">{_e(line)}</tspan>'
            for n, line in enumerate(lines)
        )
        parts.append(
            f"<g{cls}>"
            f'<line x1="{x}" x2="{x}" y1="{_f(frame.bottom)}" y2="{_f(frame.bottom + 4)}" '
            'stroke="#9aa3ad" stroke-width="1"/>'
            f'<text x="{x}" y="{_f(first_line)}" text-anchor="middle" '
            f'dominant-baseline="hanging">{tooltip}{spans}</text>'
            "</g>"
        )
    parts.append("</g>")
    return "".join(parts)


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _mark_title(series: Series, label: str, value: float, unit: str) -> str:
    return f"<title>{_e(series.name)}, {_e(label)}: {_e(value_text(value, unit))}</title>"


def _runs(values: Iterable[float | None]) -> list[list[tuple[int, float]]]:
    """The stretches of consecutive values between the gaps."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if run]


def _lines(frame: _Frame, chart: Chart) -> str:
    parts = []
    dots = len(chart.x) <= 40  # a dot on every value while there is room for them
    for s, series in enumerate(chart.series):
        colour = _colour(s)
        values = [_at(series.values, i) for i in range(len(chart.x))]
        parts.append(f'<g class="series" data-series="{s}">')
        for run in _runs(values):
            if len(run) > 1:
                points = " ".join(f"{_f(frame.x(i))},{_f(frame.y(v))}" for i, v in run)
                parts.append(
                    f'<polyline class="mark" points="{points}" fill="none" stroke="{colour}" '
                    'stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>'
                )
            # A value alone between two gaps has no line through it; its dot shows it.
            if dots or len(run) == 1:
                for i, v in run:
                    parts.append(
                        f'<circle class="mark" cx="{_f(frame.x(i))}" cy="{_f(frame.y(v))}" '
                        f'r="3.5" fill="{colour}" stroke="#fff" stroke-width="1">'
                        f"{_mark_title(series, chart.x[i], v, chart.unit)}</circle>"
                    )
        parts.append("</g>")
    return "".join(parts)


def _rect(x: float, y0: float, y1: float, width: float, colour: str, title: str) -> str:
    top, height = min(y0, y1), abs(y1 - y0)
    return (
        f'<rect class="mark" x="{_f(x)}" y="{_f(top)}" width="{_f(max(width, 0.5))}" '
        f'height="{_f(max(height, 0.5))}" fill="{colour}">{title}</rect>'
    )


def _bars(frame: _Frame, chart: Chart) -> str:
    group = frame.slot * 0.8
    width = group / max(len(chart.series), 1)
    parts = []
    for s, series in enumerate(chart.series):
        parts.append(f'<g class="series" data-series="{s}">')
        for i in range(len(chart.x)):
            value = _at(series.values, i)
            if value is None:
                continue
            x = frame.x(i) - group / 2 + s * width
            parts.append(
                _rect(
                    x + width * 0.05,
                    frame.y(0),
                    frame.y(value),
                    width * 0.9,
                    _colour(s),
                    _mark_title(series, chart.x[i], value, chart.unit),
                )
            )
        parts.append("</g>")
    return "".join(parts)


def _stacks(frame: _Frame, chart: Chart) -> str:
    width = frame.slot * 0.7
    above = [0.0] * len(chart.x)
    below = [0.0] * len(chart.x)
    parts = []
    for s, series in enumerate(chart.series):
        parts.append(f'<g class="series" data-series="{s}">')
        for i in range(len(chart.x)):
            value = _at(series.values, i)
            if value is None or value == 0:
                continue
            heights = above if value > 0 else below
            start = heights[i]
            heights[i] = start + value
            parts.append(
                _rect(
                    frame.x(i) - width / 2,
                    frame.y(start),
                    frame.y(heights[i]),
                    width,
                    _colour(s),
                    _mark_title(series, chart.x[i], value, chart.unit),
                )
            )
        parts.append("</g>")
    return "".join(parts)


def _intervals(frame: _Frame, chart: Chart) -> str:
    count = max(len(chart.series), 1)
    # Side by side within the slot so that series with the same values do not hide each other.
    spread = frame.slot * 0.6
    offset_step = spread / count
    cap = min(8.0, offset_step * 0.6)
    parts = []
    for s, series in enumerate(chart.series):
        colour = _colour(s)
        parts.append(f'<g class="series" data-series="{s}">')
        for i in range(len(chart.x)):
            x = frame.x(i) + (s - (count - 1) / 2) * offset_step
            value, low, high = _at(series.values, i), _at(series.low, i), _at(series.high, i)
            if low is not None and high is not None:
                y_low, y_high = _f(frame.y(low)), _f(frame.y(high))
                whisker = (
                    f"{_e(series.name)}, {_e(chart.x[i])}: "
                    f"{_e(value_text(low, chart.unit))} to {_e(value_text(high, chart.unit))}"
                )
                parts.append(
                    f'<path class="mark whisker" d="M{_f(x)},{y_low}V{y_high}'
                    f"M{_f(x - cap / 2)},{y_low}h{_f(cap)}"
                    f'M{_f(x - cap / 2)},{y_high}h{_f(cap)}" '
                    f'stroke="{colour}" stroke-width="2" fill="none">'
                    f"<title>{whisker}</title></path>"
                )
            if value is not None:
                parts.append(
                    f'<circle class="mark" cx="{_f(x)}" cy="{_f(frame.y(value))}" r="5" '
                    f'fill="{colour}" stroke="#fff" stroke-width="1.5">'
                    f"{_mark_title(series, chart.x[i], value, chart.unit)}</circle>"
                )
        parts.append("</g>")
    return "".join(parts)


# -- the stylesheet ----------------------------------------------------------------------------

_SWATCHES = "".join(f".c{i}{{--c:{colour}}}" for i, colour in enumerate(PALETTE))

STYLE = (
    """
:root{color-scheme:light;--ink:#1f2933;--muted:#52606d;--line:#d9dee3;--bg:#fff;--soft:#f5f7fa}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",
sans-serif;overflow-wrap:anywhere}
.masthead,.contents,main,.report-notes{max-width:960px;margin:0 auto;padding:0 16px}
.masthead{padding-top:24px;padding-bottom:8px;border-bottom:1px solid var(--line)}
h1{font-size:1.75rem;line-height:1.2;margin:0 0 4px}
h2{font-size:1.3rem;line-height:1.25;margin:0 0 8px}
.period{margin:0 0 8px;font-size:1.05rem}
.meta{display:flex;flex-wrap:wrap;gap:4px 24px;margin:0;color:var(--muted);font-size:.9rem}
.meta div{display:flex;gap:6px}
.meta dt{font-weight:600}
.meta dd{margin:0}
.contents{padding-top:16px;padding-bottom:8px}
.contents h2{font-size:1rem;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.contents ol{margin:0;padding-left:1.4em;columns:2 16em;column-gap:32px}
.contents a{color:#0b5cad}
main section{padding:24px 0 16px;border-bottom:1px solid var(--line)}
.summary{margin:0 0 12px;max-width:70ch}
figure.chart{margin:0 0 16px;min-width:0}
figure.chart svg{display:block;width:100%;height:auto;max-width:100%;overflow:hidden}
.chart text{font-size:11px;fill:var(--ink);font-family:inherit}
.chart .y-title{fill:var(--muted);font-weight:600}
.chart .placeholder-text{font-size:20px;fill:var(--muted);font-weight:600}
figcaption{margin-top:6px}
.legend{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px 18px;
font-size:.9rem}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{display:inline-block;flex:none;background:var(--c);
-webkit-print-color-adjust:exact;print-color-adjust:exact}
.swatch.box{width:12px;height:12px;border-radius:2px}
.swatch.line{width:20px;height:3px;border-radius:2px}
.swatch.dot{width:10px;height:10px;border-radius:50%}
.table-wrap{overflow:auto;max-width:100%;max-height:28rem;margin:0 0 8px;
border:1px solid var(--line);border-radius:6px}
.table-wrap:focus{outline:2px solid #0b5cad;outline-offset:2px}
table{border-collapse:collapse;width:100%;font-size:.9rem;overflow-wrap:normal}
th,td{padding:6px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
thead th{background:var(--soft);font-weight:600;white-space:nowrap;position:sticky;top:0;
z-index:1}
tbody tr:last-child td{border-bottom:0}
td:first-child{white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.empty-table{color:var(--muted);font-style:italic;margin:0 0 8px}
.notes,.report-notes ul{margin:8px 0 0;padding-left:1.2em;color:var(--muted);font-size:.9rem}
.report-notes{padding-top:16px;padding-bottom:32px}
@media (max-width:720px){.chart text{font-size:16px}}
@media (max-width:480px){
body{font-size:15px}
.chart polyline.mark{stroke-width:4px}
.chart circle.mark{r:7px}
.chart .whisker{stroke-width:3.5px}
h1{font-size:1.45rem}
.masthead,.contents,main,.report-notes{padding-left:12px;padding-right:12px}
.chart text{font-size:22px}
.chart .alt{display:none}
.chart .placeholder-text{font-size:36px}
.contents ol{columns:1}
th,td{padding:5px 8px}
}
@media print{
@page{margin:14mm}
body{font-size:10.5pt}
.masthead,.contents,main,.report-notes{max-width:none;padding-left:0;padding-right:0}
.contents a{color:inherit;text-decoration:none}
main section{break-before:auto;break-inside:auto}
h2{break-after:avoid}
figure.chart{break-inside:avoid}
.table-wrap{overflow:visible;max-height:none;border:0}
table{font-size:8.5pt}
th,td{padding:3px 5px}
thead th{position:static;white-space:normal}
tr{break-inside:avoid}
thead{display:table-header-group}
}
"""
    + _SWATCHES
).replace("\n", "")
