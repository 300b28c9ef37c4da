"""The owner's report, section by section, from figures already read (`Figures`). Pure.

Every section's table holds the numbers its chart draws (and a few more beside them), so the
report can be checked against what was put in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from lifecycle.engagement_report import Rates
from lifecycle.reporting.document import Chart, ChartKind, Report, Section, Series, Table
from lifecycle.reporting.tally import NO_COHORT, Count, Measure
from lifecycle.retention_report import Programme
from lifecycle.retention_report import Report as RetentionReport

# The stages in the order a customer moves through them.
STAGES = ("prospect", "new", "active", "loyal", "at_risk", "dormant", "won_back")
# The messaging stages in the order of the lifecycle.
MESSAGE_STAGES = ("announcement", "welcome", "order", "feedback", "retention")
CHANNELS = ("email", "sms")
FEEDBACK_REQUEST = ("feedback", "feedback_request")  # the stage and template asking for a rating
DORMANT = "dormant"
TOP_MOVES = 8


class WeekRow(Protocol):
    """A week of complaint cases (lifecycle.stages.feedback.cases.WeekRow)."""

    @property
    def week(self) -> str: ...
    @property
    def alerts(self) -> int: ...
    @property
    def acknowledged(self) -> int: ...
    @property
    def resolved(self) -> int: ...
    @property
    def escalated(self) -> int: ...
    @property
    def still_open(self) -> int: ...
    @property
    def ack_median_hours(self) -> float | None: ...
    @property
    def ack_p90_hours(self) -> float | None: ...
    @property
    def resolve_median_hours(self) -> float | None: ...
    @property
    def resolve_p90_hours(self) -> float | None: ...


@dataclass(frozen=True)
class CampaignResult:
    campaign_id: str
    status: str
    held_out: int
    skipped: int
    failed: int


@dataclass(frozen=True)
class Figures:
    """Everything the report reads, already read."""

    since: date
    until: date
    counts: Sequence[Count]  # the tally, from its first day (running totals need it) to until
    engagement_days: Sequence[tuple[date, Rates]]  # each day's rates, per stage etc.
    engagement: Sequence[Rates]  # the period's rates per stage, campaign and variant
    open_tracking: bool
    retention: RetentionReport | None
    campaigns: Sequence[CampaignResult] = ()
    complaint_weeks: Sequence[WeekRow] | None = None  # None: the stack keeps no cases
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------- helpers
def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def _ratio(hits: float, trials: float) -> float | None:
    return hits / trials if trials else None


def _int(value: int) -> str:
    return f"{value:,}"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


class Periods:
    """The report's time buckets: days for a month or so, weeks up to half a year, months
    beyond."""

    def __init__(self, since: date, until: date) -> None:
        span = (until - since).days + 1
        self.unit = "day" if span <= 45 else "week" if span <= 190 else "month"
        labels: list[str] = []
        day = since
        while day <= until:
            label = self.label(day)
            if not labels or labels[-1] != label:
                labels.append(label)
            day += timedelta(days=1)
        self.labels = tuple(labels)

    def label(self, day: date) -> str:
        if self.unit == "day":
            return day.isoformat()
        if self.unit == "week":
            year, week, _ = day.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{day:%Y-%m}"


def _ordered(found: Iterable[str], order: Sequence[str]) -> list[str]:
    present = set(found)
    return [s for s in order if s in present] + sorted(present - set(order))


def _series_table(
    periods: Sequence[str],
    names: Sequence[str],
    values: Mapping[tuple[str, str], float],
    first: str,
    *,
    total: bool,
) -> tuple[tuple[Series, ...], Table]:
    series = tuple(
        Series(name, tuple(float(values.get((p, name), 0)) for p in periods)) for name in names
    )
    headers = (first, *names, *(("total",) if total else ()))
    rows = []
    for p in periods:
        cells = [values.get((p, name), 0) for name in names]
        row = [p, *(_int(int(c)) for c in cells)]
        if total:
            row.append(_int(int(sum(cells))))
        rows.append(tuple(row))
    return series, Table(headers, tuple(rows), frozenset(range(1, len(headers))))


# ---------------------------------------------------------------------------- sections
def messages_by_stage(figures: Figures, periods: Periods) -> Section:
    sent: dict[tuple[str, str], float] = defaultdict(float)
    stages: set[str] = set()
    other: dict[str, Counter[str]] = defaultdict(Counter)
    for c in _within(figures, Measure.MESSAGES):
        stage, _, _, status = c.dimensions
        label = periods.label(c.day)
        if status == "sent":
            sent[(label, stage)] += c.count
            stages.add(stage)
        else:
            other[label][status] += c.count
    names = _ordered(stages, MESSAGE_STAGES)
    series, table = _series_table(periods.labels, names, sent, periods.unit, total=True)
    headers = (*table.headers, "skipped", "failed")
    rows = tuple(
        (*row, _int(other[row[0]]["skipped"]), _int(other[row[0]]["failed"])) for row in table.rows
    )
    return Section(
        "messages-by-stage",
        "Messages sent per stage",
        f"Messages the product sent per {periods.unit}, by lifecycle stage (email and SMS). "
        "Skipped messages (no consent, unsubscribed, suppressed, capped) and failed ones are "
        "in the table.",
        Chart(ChartKind.STACKED, periods.labels, series, y_label="messages sent"),
        Table(headers, rows, frozenset(range(1, len(headers)))),
    )


def messages_by_channel(figures: Figures, periods: Periods) -> Section:
    sent: dict[tuple[str, str], float] = defaultdict(float)
    channels: set[str] = set()
    for c in _within(figures, Measure.MESSAGES):
        _, _, channel, status = c.dimensions
        if status == "sent":
            sent[(periods.label(c.day), channel)] += c.count
            channels.add(channel)
    names = _ordered(channels, CHANNELS)
    series, table = _series_table(periods.labels, names, sent, periods.unit, total=True)
    return Section(
        "messages-by-channel",
        "Messages sent per channel",
        f"Emails (through SES) and text messages (through SNS) sent per {periods.unit}.",
        Chart(ChartKind.STACKED, periods.labels, series, y_label="messages sent"),
        table,
    )


def _within(figures: Figures, measure: Measure) -> Iterable[Count]:
    return (
        c
        for c in figures.counts
        if c.measure == measure and figures.since <= c.day <= figures.until
    )


_RATE_NAMES = ("delivery", "bounce", "complaint", "open", "click")


def _rates_of(rows: Iterable[Rates]) -> dict[str, int]:
    """Summed counts of some rate rows: what the rates over them are made of."""
    total: Counter[str] = Counter()
    for row in rows:
        for name, value in row.counts.items():
            total[name] += value
        total["sent_"] += row.sent
        total["delivered_"] += row.delivered
    return total


def _rate_values(total: Mapping[str, int], open_tracking: bool) -> dict[str, float | None]:
    sent, delivered = total.get("sent_", 0), total.get("delivered_", 0)
    return {
        "delivery": _ratio(delivered, sent),
        "bounce": _ratio(total.get("bounce", 0), sent),
        "complaint": _ratio(total.get("complaint", 0), delivered),
        "open": _ratio(total.get("opened", 0), delivered) if open_tracking else None,
        "click": _ratio(total.get("clicked", 0), delivered),
    }


def _rate_names(open_tracking: bool) -> tuple[str, ...]:
    return tuple(n for n in _RATE_NAMES if open_tracking or n != "open")


def email_rates(figures: Figures, periods: Periods) -> Section:
    by_period: dict[str, list[Rates]] = defaultdict(list)
    for day, row in figures.engagement_days:
        if row.stage != "unknown":
            by_period[periods.label(day)].append(row)
    names = _rate_names(figures.open_tracking)
    sums = {p: _rates_of(by_period[p]) for p in periods.labels}
    values = {p: _rate_values(sums[p], figures.open_tracking) for p in periods.labels}
    series = tuple(
        Series(f"{n} rate", tuple(_pct(values[p][n]) for p in periods.labels)) for n in names
    )
    headers = (periods.unit, "sent", "delivered", *(f"{n} rate" for n in names))
    rows = tuple(
        (
            p,
            _int(sums[p].get("sent_", 0)),
            _int(sums[p].get("delivered_", 0)),
            *(_percent(values[p][n]) for n in names),
        )
        for p in periods.labels
    )
    notes = [
        "Delivery and bounce rates are of emails sent; complaint, open and click rates of "
        "emails delivered. SES reviews an account at a 5% bounce rate and 0.1% complaint "
        "rate, and may pause its sending at 10% and 0.5%."
    ]
    if not figures.open_tracking:
        notes.append(
            "Opens are not tracked (the stack's OpenTracking is off): mail privacy features "
            "open every message, so an open rate would mislead."
        )
    return Section(
        "email-rates",
        "Email delivery, bounce, complaint, open and click rates",
        f"Each {periods.unit}'s emails, by the day they were sent, from SES's events.",
        Chart(ChartKind.LINE, periods.labels, series, unit="%"),
        Table(headers, rows, frozenset(range(1, len(headers)))),
        tuple(notes),
    )


def rates_by_stage(figures: Figures) -> Section:
    by_stage: dict[str, list[Rates]] = defaultdict(list)
    for row in figures.engagement:
        by_stage[row.stage].append(row)
    stages = _ordered(by_stage, (*MESSAGE_STAGES, "unknown"))
    names = _rate_names(figures.open_tracking)
    sums = {s: _rates_of(by_stage[s]) for s in stages}
    values = {s: _rate_values(sums[s], figures.open_tracking) for s in stages}
    if "unknown" in values:  # emails sent before they carried their ledger key: totals only
        values["unknown"].update(open=None, click=None)
    series = tuple(Series(f"{n} rate", tuple(_pct(values[s][n]) for s in stages)) for n in names)
    headers = ("stage", "sent", "delivered", *(f"{n} rate" for n in names), "clicks per engaged")
    rows = tuple(
        (
            s,
            _int(sums[s].get("sent_", 0)),
            _int(sums[s].get("delivered_", 0)),
            *(_percent(values[s][n]) for n in names),
            _two(_ratio(sums[s].get("click", 0), sums[s].get("engaged", 0))),
        )
        for s in stages
    )
    return Section(
        "rates-by-stage",
        "Email rates per stage",
        "The period's emails per lifecycle stage. Actions per engagement: clicks per "
        "recipient who opened or clicked.",
        Chart(ChartKind.BARS, tuple(stages), series, unit="%"),
        Table(headers, rows, frozenset(range(1, len(headers)))),
    )


def _two(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _running(figures: Figures, measure: Measure) -> Callable[[date], dict[tuple[str, ...], int]]:
    """The running total of a delta measure at the end of any day (from the tally's start):
    one pass over the deltas, then a lookup per day asked."""
    days: list[date] = []
    totals: list[dict[tuple[str, ...], int]] = []
    current: dict[tuple[str, ...], int] = defaultdict(int)
    for c in sorted((c for c in figures.counts if c.measure == measure), key=lambda c: c.day):
        if days and days[-1] != c.day:
            totals.append(dict(current))
        if not days or days[-1] != c.day:
            days.append(c.day)
        current[c.dimensions] += c.count
    if days:
        totals.append(dict(current))

    def at(day: date) -> dict[tuple[str, ...], int]:
        index = bisect_right(days, day)
        return dict(totals[index - 1]) if index else {}

    return at


def _period_ends(figures: Figures, periods: Periods) -> list[tuple[str, date]]:
    ends: dict[str, date] = {}
    day = figures.since
    while day <= figures.until:
        ends[periods.label(day)] = day
        day += timedelta(days=1)
    return list(ends.items())


def customers_by_stage(figures: Figures, periods: Periods) -> Section:
    at = _running(figures, Measure.CUSTOMERS)
    ends = _period_ends(figures, periods)
    counted = {label: at(end) for label, end in ends}
    stages = _ordered({d[0] for c in counted.values() for d, n in c.items() if n}, STAGES)
    values = {(label, s): float(counted[label].get((s,), 0)) for label, _ in ends for s in stages}
    series, table = _series_table(periods.labels, stages, values, periods.unit, total=True)
    return Section(
        "customers-by-stage",
        "Customers per lifecycle stage",
        f"Customers with a profile (they have ordered) in each stage at the end of each "
        f"{periods.unit}. Prospects who never ordered have no profile and are not counted.",
        Chart(ChartKind.STACKED, periods.labels, series, y_label="customers"),
        table,
    )


def stage_moves(figures: Figures) -> Section:
    moves: Counter[str] = Counter()
    for c in _within(figures, Measure.MOVES):
        moves[f"{c.dimensions[0]} → {c.dimensions[1]}"] += c.count
    top = sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = top[:TOP_MOVES]
    chart = Chart(
        ChartKind.BARS,
        tuple(name for name, _ in shown),
        (Series("customers", tuple(float(n) for _, n in shown)),),
        y_label="moves",
    )
    rows = tuple((name.split(" → ")[0], name.split(" → ")[1], _int(n)) for name, n in top)
    notes = () if len(top) <= TOP_MOVES else (f"The chart shows the {TOP_MOVES} most common.",)
    return Section(
        "stage-moves",
        "Moves between stages",
        "How many times customers moved from one lifecycle stage to another in the period.",
        chart,
        Table(("from", "to", "moves"), rows, frozenset({2})),
        notes,
    )


def unsubscribes_and_churn(figures: Figures) -> Section:
    span = (figures.until - figures.since).days + 1
    months = tuple(dict.fromkeys(f"{figures.since + timedelta(days=d):%Y-%m}" for d in range(span)))
    unsubscribed: Counter[str] = Counter()
    for c in _within(figures, Measure.UNSUBSCRIBES):
        unsubscribed[f"{c.day:%Y-%m}"] += c.count
    dormant: Counter[str] = Counter()
    for c in _within(figures, Measure.MOVES):
        if c.dimensions[1] == DORMANT:
            dormant[f"{c.day:%Y-%m}"] += c.count
    at = _running(figures, Measure.CUSTOMERS)
    rows, churn = [], []
    for month in months:
        first = max(date.fromisoformat(f"{month}-01"), figures.since)
        before = at(first - timedelta(days=1))
        base = sum(n for (stage,), n in before.items() if stage not in (DORMANT, "prospect"))
        rate = _ratio(dormant[month], base)
        churn.append(rate)
        rows.append(
            (month, _int(unsubscribed[month]), _int(dormant[month]), _int(base), _percent(rate))
        )
    chart = Chart(
        ChartKind.BARS,
        months,
        (
            Series("unsubscribes", tuple(float(unsubscribed[m]) for m in months)),
            Series("turned dormant", tuple(float(dormant[m]) for m in months)),
        ),
        y_label="customers",
    )
    return Section(
        "unsubscribes-churn",
        "Unsubscribes and churn per month",
        "Unsubscribes (every channel and topic, from links, the preference centre, STOP "
        "replies and complaints) and customers turning dormant each month. Churn rate: "
        "customers turning dormant over the customers neither dormant nor prospects at the "
        "month's start.",
        chart,
        Table(
            ("month", "unsubscribes", "turned dormant", "customers at start", "churn rate"),
            tuple(rows),
            frozenset({1, 2, 3, 4}),
        ),
    )


def feedback(figures: Figures) -> Section:
    ratings: Counter[str] = Counter()
    for c in _within(figures, Measure.RATINGS):
        ratings[c.dimensions[0]] += c.count
    asked = sum(
        c.count
        for c in _within(figures, Measure.MESSAGES)
        if c.dimensions[:2] == FEEDBACK_REQUEST and c.dimensions[3] == "sent"
    )
    scores = ("1", "2", "3", "4", "5")
    total = sum(ratings[s] for s in scores)
    rows = tuple((s, _int(ratings[s]), _percent(_ratio(ratings[s], total))) for s in scores)
    average = _ratio(sum(int(s) * ratings[s] for s in scores), total)
    response = _ratio(total, asked)
    return Section(
        "feedback",
        "Feedback: response rate and ratings",
        f"{_plural(total, 'rating')} from {_plural(asked, 'feedback request')}: a response "
        f"rate of {_percent(response)}; average rating {_two(average)}.",
        Chart(
            ChartKind.BARS,
            scores,
            (Series("ratings", tuple(float(ratings[s]) for s in scores)),),
            y_label="ratings",
        ),
        Table(("rating", "ratings", "share"), rows, frozenset({1, 2})),
        (
            "The response rate is the period's ratings over its feedback requests sent; a "
            "rating given days after its request may fall in the next period.",
        ),
    )


def complaint_response(figures: Figures) -> Section:
    weeks = list(figures.complaint_weeks or [])
    labels = tuple(w.week for w in weeks)
    chart = Chart(
        ChartKind.LINE,
        labels,
        (
            Series("to acknowledge (median)", tuple(w.ack_median_hours for w in weeks)),
            Series("to resolve (median)", tuple(w.resolve_median_hours for w in weeks)),
        ),
        unit="h",
    )
    rows = tuple(
        (
            w.week,
            _int(w.alerts),
            _int(w.acknowledged),
            _int(w.resolved),
            _int(w.escalated),
            _int(w.still_open),
            _hours(w.ack_median_hours),
            _hours(w.ack_p90_hours),
            _hours(w.resolve_median_hours),
            _hours(w.resolve_p90_hours),
        )
        for w in weeks
    )
    headers = (
        "week",
        "complaints",
        "acknowledged",
        "resolved",
        "escalated",
        "open",
        "acknowledge median",
        "acknowledge p90",
        "resolve median",
        "resolve p90",
    )
    notes: tuple[str, ...] = ()
    if figures.complaint_weeks is None:
        notes = ("This stack keeps no complaint cases.",)
    return Section(
        "complaint-response",
        "Complaint response times",
        "Hours from a complaint's alert to staff to its acknowledgement and to its resolution, "
        "per week of the alert.",
        chart,
        Table(headers, rows, frozenset(range(1, len(headers)))),
        notes,
    )


def winback(figures: Figures) -> Section:
    programmes: list[Programme] = list(figures.retention.programmes) if figures.retention else []
    shown = [p for p in programmes if p.treated or p.held_out]
    labels = tuple(p.label for p in shown)

    def series(name: str, rate: Callable[[Programme], Any]) -> Series:
        values, low, high = [], [], []
        for p in shown:
            r = rate(p)
            interval = r.interval()
            values.append(_pct(r.value))
            low.append(_pct(interval[0]) if interval else None)
            high.append(_pct(interval[1]) if interval else None)
        return Series(name, tuple(values), tuple(low), tuple(high))

    def with_interval(r: Any) -> str:
        interval = r.interval()
        if interval is None:
            return "-"
        return f"{_percent(r.value)} ({_percent(interval[0])} to {_percent(interval[1])})"

    rows = []
    for p in shown:
        lifted = p.lift
        lift_text = (
            "-"
            if lifted is None
            else f"{lifted[0] * 100:+.1f} pp ({lifted[1] * 100:+.1f} to {lifted[2] * 100:+.1f})"
        )
        revenue = ", ".join(_money(a, c) for c, a in sorted(p.revenue.items())) or "-"
        rows.append(
            (
                p.label,
                _int(p.treated),
                _int(p.converted),
                with_interval(p.conversion),
                _int(p.held_out),
                _int(p.held_out_converted),
                with_interval(p.holdout_conversion),
                lift_text,
                revenue,
            )
        )
    window = figures.retention.window_days if figures.retention else 0
    return Section(
        "winback",
        "Win-back and rewards: conversion against the holdout",
        f"Customers who ordered within {window} days of a retention message, against the "
        "holdout who were sent nothing, with 95% intervals (Wilson; Newcombe for the lift).",
        Chart(
            ChartKind.INTERVALS,
            labels,
            (
                series("messaged", lambda p: p.conversion),
                series("holdout", lambda p: p.holdout_conversion),
            ),
            unit="%",
        ),
        Table(
            (
                "programme",
                "messaged",
                "ordered",
                "conversion",
                "holdout",
                "holdout ordered",
                "holdout conversion",
                "lift",
                "revenue",
            ),
            tuple(rows),
            frozenset({1, 2, 4, 5}),
        ),
        ("Exposures whose attribution window has not closed yet are left out.",),
    )


def campaigns(figures: Figures) -> Section:
    rows_of = [r for r in figures.engagement if r.campaign]
    status = {c.campaign_id: c for c in figures.campaigns}
    ids = sorted({r.campaign for r in rows_of if r.campaign} | set(status))
    names = _rate_names(figures.open_tracking)
    labels, table_rows = [], []
    values: dict[str, list[float | None]] = {n: [] for n in names if n != "bounce"}
    for campaign_id in ids:
        variants = sorted(
            (r for r in rows_of if r.campaign == campaign_id), key=lambda r: r.variant or ""
        )
        for r in variants:
            label = f"{campaign_id} / {r.variant or '-'}"
            labels.append(label)
            rates = _rate_values(_rates_of([r]), figures.open_tracking)
            for n in values:
                values[n].append(_pct(rates[n]))
            table_rows.append(
                (
                    campaign_id,
                    r.variant or "-",
                    _int(r.sent),
                    _int(r.delivered),
                    *(_percent(rates[n]) for n in values),
                )
            )
        found = status.get(campaign_id)
        if found is not None:
            table_rows.append(
                (
                    campaign_id,
                    f"holdout ({found.status})",
                    f"{_int(found.held_out)} held out",
                    f"{_int(found.skipped)} skipped, {_int(found.failed)} failed",
                    *("" for _ in values),
                )
            )
    series = tuple(Series(f"{n} rate", tuple(v)) for n, v in values.items())
    return Section(
        "campaigns",
        "Campaign results per variant",
        "Each announcement campaign's emails per variant: delivered, and the share of "
        "delivered emails opened (where tracked) and clicked. The holdout row counts the "
        "customers held out, who were sent nothing.",
        Chart(ChartKind.BARS, tuple(labels), series, unit="%"),
        Table(
            ("campaign", "variant", "sent", "delivered", *(f"{n} rate" for n in values)),
            tuple(table_rows),
            frozenset(range(2, 4 + len(values))),
        ),
    )


@dataclass(frozen=True)
class _Lifetime:
    groups: list[str]  # stages or cohorts with customers, in order
    customers: dict[str, int]
    spend: dict[tuple[str, str], Decimal]  # (group, currency) -> spend
    spenders: dict[tuple[str, str], int]  # (group, currency) -> customers with spend in it
    main: str | None  # the currency with the most spend: the chart's

    def value(self, group: str, currency: str) -> Decimal | None:
        spenders = self.spenders.get((group, currency), 0)
        return self.spend.get((group, currency), Decimal(0)) / spenders if spenders else None


def _lifetime(
    figures: Figures, measures: tuple[Measure, Measure, Measure], order: Sequence[str]
) -> _Lifetime:
    customers, spend, spenders = measures
    people = {d[0]: n for d, n in _running(figures, customers)(figures.until).items() if n}
    paying = {(d[0], d[1]): n for d, n in _running(figures, spenders)(figures.until).items()}
    money: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for c in figures.counts:
        if c.measure == spend and c.day <= figures.until:
            money[(c.dimensions[0], c.dimensions[1])] += c.amount
    by_currency: dict[str, Decimal] = defaultdict(Decimal)
    for (_, currency), amount in money.items():
        by_currency[currency] += amount
    main = max(by_currency, key=lambda c: by_currency[c]) if by_currency else None
    return _Lifetime(_ordered(people, order), people, dict(money), paying, main)


def _lifetime_section(
    figures: Figures,
    section_id: str,
    title: str,
    summary: str,
    first: str,
    measures: tuple[Measure, Measure, Measure],
    order: Sequence[str],
) -> Section:
    found = _lifetime(figures, measures, order)
    currencies = sorted({c for _, c in found.spend})
    rows = []
    for g in found.groups:
        mine = [c for c in currencies if found.spend.get((g, c))]
        spent = ", ".join(_money(found.spend[(g, c)], c) for c in mine)
        each = ", ".join(_money(v, c) for c in mine if (v := found.value(g, c)) is not None)
        rows.append((g, _int(found.customers[g]), spent or "-", each or "-"))
    values = tuple(
        None if found.main is None or (v := found.value(g, found.main)) is None else float(v)
        for g in found.groups
    )
    return Section(
        section_id,
        title,
        summary,
        Chart(
            ChartKind.BARS,
            tuple(found.groups),
            (Series("lifetime value", values),),
            unit=found.main or "",
        ),
        Table((first, "customers", "spend", "lifetime value"), tuple(rows), frozenset({1, 2, 3})),
        (
            "Spend is on delivered orders, less refunds, in each order's currency. Lifetime "
            "value is the spend per customer who spent in that currency (a customer whose "
            "first order is not delivered yet has spent nothing).",
        ),
    )


def ltv_by_cohort(figures: Figures) -> Section:
    section = _lifetime_section(
        figures,
        "ltv-cohort",
        "Lifetime value per cohort",
        "What customers spent so far, on average, by the month of their first order.",
        "cohort",
        (Measure.COHORT_CUSTOMERS, Measure.COHORT_SPEND, Measure.COHORT_SPENDERS),
        (),
    )
    return _without_no_cohort(section)


def _without_no_cohort(section: Section) -> Section:
    keep = [i for i, label in enumerate(section.chart.x) if label != NO_COHORT]
    chart = Chart(
        section.chart.kind,
        tuple(section.chart.x[i] for i in keep),
        tuple(Series(s.name, tuple(s.values[i] for i in keep)) for s in section.chart.series),
        unit=section.chart.unit,
    )
    rows = tuple(r for r in section.table.rows if r[0] != NO_COHORT)
    return Section(
        section.id,
        section.title,
        section.summary,
        chart,
        Table(section.table.headers, rows, section.table.numeric),
        section.notes,
    )


def ltv_by_stage(figures: Figures) -> Section:
    return _lifetime_section(
        figures,
        "ltv-stage",
        "Lifetime value per stage",
        "What the customers in each lifecycle stage spent so far, on average, as of the "
        "report's last day.",
        "stage",
        (Measure.CUSTOMERS, Measure.SPEND, Measure.SPENDERS),
        STAGES,
    )


def report(figures: Figures, business: str, source: str, generated_at: datetime) -> Report:
    periods = Periods(figures.since, figures.until)
    sections = (
        messages_by_stage(figures, periods),
        messages_by_channel(figures, periods),
        email_rates(figures, periods),
        rates_by_stage(figures),
        unsubscribes_and_churn(figures),
        customers_by_stage(figures, periods),
        stage_moves(figures),
        feedback(figures),
        complaint_response(figures),
        winback(figures),
        campaigns(figures),
        ltv_by_cohort(figures),
        ltv_by_stage(figures),
    )
    return Report(
        business, figures.since, figures.until, generated_at, source, sections, figures.notes
    )
