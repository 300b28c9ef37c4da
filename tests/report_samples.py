"""A sample owner's report with every kind of chart and the awkward cases a real one can have:
gaps, an empty period, a year of days, long labels, a wide table and marketer-typed markup."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from lifecycle.reporting.document import Chart, ChartKind, Report, Section, Series, Table

SINCE = date(2025, 12, 1)
DAYS = 365
HOSTILE = "Winter <script>alert('x')</script> & \"deals\""


def _days() -> tuple[str, ...]:
    return tuple((SINCE + timedelta(days=i)).isoformat() for i in range(DAYS))


def _sends() -> Section:
    days = _days()

    def daily(base: float, swing: float, phase: float) -> tuple[float | None, ...]:
        values: list[float | None] = []
        for i in range(DAYS):
            if 120 <= i < 127:  # a week the sender was paused: no figures, not zero
                values.append(None)
            else:
                values.append(float(round(base + swing * math.sin(i / 9 + phase) + (i % 7) * 6)))
        return tuple(values)

    email, sms = daily(420, 160, 0.0), daily(90, 40, 1.3)
    rows = tuple(
        (day, "–" if e is None else f"{int(e):,}", "–" if s is None else f"{int(s):,}")
        for day, e, s in zip(days, email, sms, strict=True)
    )
    return Section(
        id="sends",
        title="Messages sent per day",
        summary="Emails and text messages sent each day. The gap in April is the week sending "
        "was paused.",
        chart=Chart(
            ChartKind.LINE,
            days,
            (Series("Email", email), Series("SMS", sms)),
            y_label="Messages",
        ),
        table=Table(("Day", "Email", "SMS"), rows, frozenset({1, 2})),
        notes=("Days without figures are shown as gaps, not as zero.",),
    )


def _open_rate() -> Section:
    weeks = tuple(f"W{n:02d}" for n in range(1, 27))
    rate: list[float | None] = [round(38 + 6 * math.cos(n / 3), 1) for n in range(26)]
    clicks: list[float | None] = [round(7 + 2 * math.sin(n / 4), 1) for n in range(26)]
    rate[10] = None  # a lone value between gaps must still show
    rate[12] = None
    clicks[0] = None
    rows = tuple(
        (w, "–" if r is None else f"{r:.1f} %", "–" if c is None else f"{c:.1f} %")
        for w, r, c in zip(weeks, rate, clicks, strict=True)
    )
    return Section(
        id="open-rate",
        title="Open and click rates per week",
        summary="The share of emails opened and clicked, by the week they were sent.",
        chart=Chart(
            ChartKind.LINE,
            weeks,
            (Series("Opened", tuple(rate)), Series("Clicked", tuple(clicks))),
            unit="%",
        ),
        table=Table(("Week", "Opened", "Clicked"), rows, frozenset({1, 2})),
    )


def _stages() -> Section:
    stages = (
        "Booked",
        "Reminder sent the day before the appointment",
        "Visited",
        "Asked for a review",
        "Reviewed",
    )
    now = (1200.0, 1130.0, 1010.0, 640.0, 212.0)
    before = (1100.0, 990.0, None, 580.0, 170.0)
    rows = tuple(
        (stage, f"{int(a):,}", "–" if b is None else f"{int(b):,}")
        for stage, a, b in zip(stages, now, before, strict=True)
    )
    return Section(
        id="stages",
        title="Customers at each stage",
        summary="How many customers reached each stage of the journey, this period and the one "
        "before.",
        chart=Chart(
            ChartKind.BARS,
            stages,
            (Series("This period", now), Series("Previous period", before)),
            y_label="Customers",
        ),
        table=Table(("Stage", "This period", "Previous period"), rows, frozenset({1, 2})),
    )


def _mix() -> Section:
    months = tuple(f"{2025 + (11 + m) // 12}-{(11 + m) % 12 + 1:02d}" for m in range(12))
    email = tuple(float(3000 + 150 * m) for m in range(12))
    sms = tuple(float(800 + 40 * (m % 4)) for m in range(12))
    push = tuple(None if m < 3 else float(200 * (m - 2)) for m in range(12))
    rows = tuple(
        (month, f"{e:,.0f}", f"{s:,.0f}", "–" if p is None else f"{p:,.0f}")
        for month, e, s, p in zip(months, email, sms, push, strict=True)
    )
    return Section(
        id="channels",
        title="Messages by channel per month",
        summary="All messages sent each month, stacked by channel. Push started in March.",
        chart=Chart(
            ChartKind.STACKED,
            months,
            (Series("Email", email), Series("SMS", sms), Series("Push", push)),
            y_label="Messages",
        ),
        table=Table(("Month", "Email", "SMS", "Push"), rows, frozenset({1, 2, 3})),
    )


def _variants() -> Section:
    variants = ("Control (no message)", "Variant A: 10 % off", HOSTILE, "Variant C")
    conversion = Series(
        "Booked again",
        (12.1, 15.4, 17.9, None),
        low=(10.2, 13.1, 15.0, None),
        high=(14.3, 17.9, 21.1, None),
    )
    lift = Series(
        f"Lift over control — {HOSTILE}",
        (None, 3.3, 5.8, 1.0),
        low=(None, -0.4, 1.9, None),
        high=(None, 7.0, 9.6, None),
    )
    headers = (
        "Variant",
        "Sent",
        "Delivered",
        "Opened",
        "Clicked",
        "Booked again",
        "Rate",
        "95 % interval",
        "Lift",
        "Lift interval",
    )
    rows = (
        ("Control (no message)", "0", "0", "0", "0", "121", "12.1 %", "10.2–14.3 %", "–", "–"),
        (
            "Variant A: 10 % off",
            "1,000",
            "988",
            "402",
            "96",
            "154",
            "15.4 %",
            "13.1–17.9 %",
            "+3.3",
            "−0.4–7.0",
        ),
        (HOSTILE, "1,000", "991", "455", "131", "179", "17.9 %", "15.0–21.1 %", "+5.8", "1.9–9.6"),
        ("Variant C", "12", "12", "3", "1", "0", "–", "–", "+1.0", "–"),
    )
    return Section(
        id="variants",
        title=f"Campaign {HOSTILE}: booked again by variant",
        summary="The share of customers who booked again within 30 days, with its 95 % interval, "
        "and each variant's lift over the control group.",
        chart=Chart(ChartKind.INTERVALS, variants, (conversion, lift), unit="%"),
        table=Table(headers, rows, frozenset(range(1, 10))),
        notes=(
            "Variant C reached too few customers for an interval.",
            f"Names are shown as typed: {HOSTILE}.",
        ),
    )


def _quiet() -> Section:
    return Section(
        id="referrals",
        title="Referrals",
        summary="Customers who came through a friend's referral link.",
        chart=Chart(
            ChartKind.BARS,
            ("2025-12", "2026-01"),
            (Series("Referred", (None, None)),),
        ),
        table=Table(("Month", "Referred"), (), frozenset({1})),
        notes=("The referral programme had no sign-ups in this period.",),
    )


def sample_report() -> Report:
    """A year's report of a made-up salon with one section of every kind and edge case."""
    return Report(
        business="Salon <b>Sanne</b> & Co",
        since=SINCE,
        until=SINCE + timedelta(days=DAYS - 1),
        generated_at=datetime(2026, 12, 2, 6, 30, tzinfo=UTC),
        source="local simulation",
        sections=(_sends(), _open_rate(), _stages(), _mix(), _variants(), _quiet()),
        notes=("Figures count each customer once per message.", "Rates are of delivered mail."),
    )
