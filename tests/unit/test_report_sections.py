"""The owner's report's sections from a known history: every table says what was put in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from lifecycle.engagement_report import rates
from lifecycle.reporting.document import Report, Section
from lifecycle.reporting.sections import CampaignResult, Figures, Periods, report
from lifecycle.reporting.tally import Count
from lifecycle.retention_report import Programme
from lifecycle.retention_report import Report as RetentionReport

SINCE, UNTIL = date(2026, 11, 1), date(2026, 11, 14)


def count(day: int, measure: str, *dimensions: str, n: int = 0, amount: str = "0") -> Count:
    return Count(date(2026, 11, day), measure, dimensions, n, Decimal(amount))


def aggregate(
    day: int, stage: str, campaign: str = "-", variant: str = "-", **n: int
) -> dict[str, Any]:
    return {
        "pk": f"day#2026-11-{day:02d}",
        "sk": f"{stage}#{campaign}#{variant}#0",
        "day": f"2026-11-{day:02d}",
        "stage": stage,
        "campaign": campaign,
        "variant": variant,
        **n,
    }


@dataclass(frozen=True)
class Week:
    week: str
    alerts: int
    acknowledged: int
    resolved: int
    escalated: int
    still_open: int
    ack_median_hours: float | None
    ack_p90_hours: float | None
    resolve_median_hours: float | None
    resolve_p90_hours: float | None


def history() -> Figures:
    counts = [
        # before the period: two customers already active, one new (running totals)
        Count(date(2026, 10, 20), "customers", ("active",), 2, Decimal(0)),
        Count(date(2026, 10, 20), "customers", ("new",), 1, Decimal(0)),
        count(2, "messages", "welcome", "welcome", "email", "sent", n=3),
        count(2, "messages", "welcome", "welcome", "sms", "sent", n=1),
        count(3, "messages", "order", "order_picked_up", "sms", "sent", n=4),
        count(3, "messages", "welcome", "welcome", "email", "skipped", n=2),
        count(9, "messages", "feedback", "feedback_request", "email", "sent", n=4),
        count(9, "messages", "order", "order_receipt", "email", "failed", n=1),
        # the new customer turns active on day 5, an active one dormant on day 10
        count(5, "customers", "new", n=-1),
        count(5, "customers", "active", n=1),
        count(5, "moves", "new", "active", n=1),
        count(10, "customers", "active", n=-1),
        count(10, "customers", "dormant", n=1),
        count(10, "moves", "active", "dormant", n=1),
        count(11, "ratings", "5", n=2),
        count(11, "ratings", "1", n=1),
        count(12, "unsubscribes", "email", "announcements", n=2),
        Count(date(2026, 10, 20), "cohort_customers", ("2026-09",), 3, Decimal(0)),
        Count(date(2026, 10, 20), "cohort_spend", ("2026-09", "EUR"), 0, Decimal("90")),
        Count(date(2026, 10, 20), "cohort_spenders", ("2026-09", "EUR"), 3, Decimal(0)),
        Count(date(2026, 10, 20), "spend", ("active", "EUR"), 0, Decimal("60")),
        Count(date(2026, 10, 20), "spenders", ("active", "EUR"), 2, Decimal(0)),
        Count(date(2026, 10, 20), "spend", ("new", "EUR"), 0, Decimal("30")),
        Count(date(2026, 10, 20), "spenders", ("new", "EUR"), 1, Decimal(0)),
        # a second currency: one of the active customers also spent 12 GBP
        Count(date(2026, 10, 20), "spend", ("active", "GBP"), 0, Decimal("12")),
        Count(date(2026, 10, 20), "spenders", ("active", "GBP"), 1, Decimal(0)),
    ]
    items = [
        aggregate(2, "welcome", send=3, delivery=3, delivered=3, clicked=1, click=2, engaged=1),
        aggregate(
            6,
            "announcement",
            "launch",
            "a",
            send=4,
            delivery=4,
            delivered=4,
            clicked=2,
            click=2,
            engaged=2,
        ),
        aggregate(6, "announcement", "launch", "b", send=4, delivered=2, bounce=2, complaint=1),
    ]
    days = [
        (date.fromisoformat(i["day"]), r) for i in items for r in rates([i], open_tracking=False)
    ]
    winback = Programme(
        "winback#0",
        "win-back 1: reminder",
        treated=40,
        sent=40,
        converted=10,
        held_out=10,
        held_out_converted=1,
        revenue={"EUR": Decimal("250")},
    )
    return Figures(
        since=SINCE,
        until=UNTIL,
        counts=counts,
        engagement_days=days,
        engagement=rates(items, open_tracking=False),
        open_tracking=False,
        retention=RetentionReport(None, datetime(2026, 11, 15, tzinfo=UTC), 14, [winback]),
        campaigns=[CampaignResult("launch", "done", held_out=1, skipped=2, failed=0)],
        complaint_weeks=[Week("2026-W46", 3, 2, 1, 1, 1, 1.5, 3.0, 20.0, 20.0)],
    )


def built() -> Report:
    return report(history(), "Laundry", "test", datetime(2026, 11, 15, tzinfo=UTC))


def section(name: str) -> Section:
    (found,) = [s for s in built().sections if s.id == name]
    return found


def rows(name: str) -> dict[str, tuple[str, ...]]:
    return {row[0]: row[1:] for row in section(name).table.rows}


def test_every_section_has_a_chart_and_a_table_of_its_numbers() -> None:
    ids = [s.id for s in built().sections]
    assert ids == [
        "messages-by-stage",
        "messages-by-channel",
        "email-rates",
        "rates-by-stage",
        "unsubscribes-churn",
        "customers-by-stage",
        "stage-moves",
        "feedback",
        "complaint-response",
        "winback",
        "campaigns",
        "ltv-cohort",
        "ltv-stage",
    ]
    for s in built().sections:
        assert s.table.rows, s.id
        assert all(len(series.values) == len(s.chart.x) for series in s.chart.series), s.id


def test_messages_per_stage_and_channel_per_day() -> None:
    by_stage = section("messages-by-stage")
    assert by_stage.table.headers == (
        "day",
        "welcome",
        "order",
        "feedback",
        "total",
        "skipped",
        "failed",
    )
    table = rows("messages-by-stage")
    assert table["2026-11-02"] == ("4", "0", "0", "4", "0", "0")
    assert table["2026-11-03"] == ("0", "4", "0", "4", "2", "0")
    assert table["2026-11-09"] == ("0", "0", "4", "4", "0", "1")
    assert len(table) == 14  # every day, with or without messages
    assert rows("messages-by-channel")["2026-11-02"] == ("3", "1", "4")
    assert rows("messages-by-channel")["2026-11-03"] == ("0", "4", "4")


def test_email_rates_per_day_and_per_stage() -> None:
    day = rows("email-rates")["2026-11-06"]
    # 8 sent, 6 delivered; bounces 2 of 8 sent, complaint 1 of 6 delivered, clicked 2 of 6
    assert day == ("8", "6", "75.0%", "25.0%", "16.7%", "33.3%")
    stage = rows("rates-by-stage")
    assert stage["welcome"] == ("3", "3", "100.0%", "0.0%", "0.0%", "33.3%", "2.00")
    assert stage["announcement"] == ("8", "6", "75.0%", "25.0%", "16.7%", "33.3%", "1.00")


def test_customers_per_stage_moves_churn_and_unsubscribes() -> None:
    stages = rows("customers-by-stage")
    assert stages["2026-11-01"] == ("1", "2", "0", "3")  # new, active, dormant, total
    assert stages["2026-11-05"] == ("0", "3", "0", "3")
    assert stages["2026-11-14"] == ("0", "2", "1", "3")
    assert section("customers-by-stage").table.headers == (
        "day",
        "new",
        "active",
        "dormant",
        "total",
    )
    assert {r[:2]: r[2] for r in section("stage-moves").table.rows} == {
        ("new", "active"): "1",
        ("active", "dormant"): "1",
    }
    # one of the 3 customers at the start of November turned dormant
    assert rows("unsubscribes-churn")["2026-11"] == ("2", "1", "3", "33.3%")


def test_feedback_complaints_winback_campaigns_and_lifetime_value() -> None:
    assert rows("feedback") == {
        "1": ("1", "33.3%"),
        "2": ("0", "0.0%"),
        "3": ("0", "0.0%"),
        "4": ("0", "0.0%"),
        "5": ("2", "66.7%"),
    }
    assert (
        "3 ratings from 4 feedback requests: a response rate of 75.0%"
        in section("feedback").summary
    )
    assert rows("complaint-response")["2026-W46"] == (
        "3",
        "2",
        "1",
        "1",
        "1",
        "1.5 h",
        "3.0 h",
        "20.0 h",
        "20.0 h",
    )
    (winback,) = section("winback").table.rows
    assert winback[:3] == ("win-back 1: reminder", "40", "10")
    assert winback[3].startswith("25.0% (")
    assert winback[6].startswith("10.0% (")
    assert winback[7].startswith("+15.0 pp (")
    assert winback[8] == "250.00 EUR"
    chart = section("winback").chart
    assert [s.values for s in chart.series] == [(25.0,), (10.0,)]
    low, high = chart.series[0].low[0], chart.series[0].high[0]
    assert low is not None
    assert high is not None
    assert low < 25.0 < high
    campaigns = section("campaigns").table.rows
    assert section("campaigns").table.headers[4:] == (
        "delivery rate",
        "complaint rate",
        "click rate",
    )
    assert campaigns[0] == ("launch", "a", "4", "4", "100.0%", "0.0%", "50.0%")
    assert campaigns[1] == ("launch", "b", "4", "2", "50.0%", "50.0%", "0.0%")
    assert campaigns[2][:4] == ("launch", "holdout (done)", "1 held out", "2 skipped, 0 failed")
    assert rows("ltv-cohort") == {"2026-09": ("3", "90.00 EUR", "30.00 EUR")}
    # each currency over the customers who spent in it
    assert rows("ltv-stage")["active"] == (
        "2",
        "60.00 EUR, 12.00 GBP",
        "30.00 EUR, 12.00 GBP",
    )
    assert rows("ltv-stage")["dormant"] == ("1", "-", "-")


def test_periods_are_days_weeks_or_months_by_the_span() -> None:
    assert Periods(date(2026, 11, 1), date(2026, 11, 30)).unit == "day"
    weeks = Periods(date(2026, 9, 1), date(2026, 11, 30))
    assert weeks.unit == "week"
    assert weeks.labels[0] == "2026-W36"
    months = Periods(date(2026, 1, 1), date(2026, 12, 31))
    assert months.unit == "month"
    assert len(months.labels) == 12
