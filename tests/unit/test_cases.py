"""Complaint cases, pure: business hours, escalate_at, the weekly KPI, the escalation plan, and
the case links' signatures."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lifecycle.messaging.links import InvalidLink, LinkSigner
from lifecycle.messaging.plan import Alert, Escalate
from lifecycle.platform.settings import Env, SettingsError
from lifecycle.stages.feedback.cases import (
    BusinessHours,
    Case,
    CaseLinks,
    escalate_at,
    percentile,
    week_of,
    weekly,
    weeks_between,
)
from lifecycle.stages.feedback.escalation import escalation_plan
from lifecycle.stages.feedback.settings import CaseSettings

AMSTERDAM = "Europe/Amsterdam"
CASE_ENV = {
    "LINK_SIGNING_SECRET": "s" * 32,
    "CASES_TABLE": "CasesTable",
    "CASES_URL": "https://x.example/case",
}
OFFICE = BusinessHours.parse("Mon-Fri 09:00-17:00")
FOUR_HOURS = timedelta(hours=4)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(AMSTERDAM))


# ------------------------------------------------------------------ business hours
def test_business_hours_read_day_ranges_and_lists() -> None:
    hours = BusinessHours.parse("Mon,Wed-Sat 08:30-18:00")
    assert hours.days == frozenset({0, 2, 3, 4, 5})
    assert (hours.opens.isoformat(), hours.closes.isoformat()) == ("08:30:00", "18:00:00")


@pytest.mark.parametrize(
    "text", ["", "Mon-Fri", "Fri-Mon 09:00-17:00", "Mon-Fri 17:00-09:00", "Mo-Fr 09:00-17:00"]
)
def test_business_hours_refuse_what_they_cannot_mean(text: str) -> None:
    with pytest.raises(ValueError, match="business hours"):
        BusinessHours.parse(text)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Mon-Fri 17:00-09:00", "closing at 09:00 is not after opening at 17:00"),
        ("Mon-Fri 09:00-09:00", "closing at 09:00 is not after opening at 09:00"),
        ("Fri-Mon 09:00-17:00", "'fri-mon' runs backwards"),
        ("Mon-Fri 09:00-24:30", "'24:30' is not a time of day (HH:MM"),
    ],
)
def test_business_hours_in_settings_are_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(SettingsError, match="BUSINESS_HOURS") as refused:
        CaseSettings.from_env(Env({**CASE_ENV, "BUSINESS_HOURS": text}))
    assert problem in str(refused.value)


def test_one_digit_hours_read_as_hh_mm() -> None:
    assert BusinessHours.parse("Mon 9:00-17:00").opens.isoformat() == "09:00:00"


@pytest.mark.parametrize(
    ("hours", "after"),
    [
        ("Mon-Fri 09:00-17:00", "0"),
        ("Mon-Fri 09:00-17:00", "169"),
        # a minute a week: 168 hours of it are two centuries away
        ("Mon 09:00-09:01", "168"),
    ],
)
def test_settings_refuse_an_escalation_that_would_never_fall_due(hours: str, after: str) -> None:
    env = Env({**CASE_ENV, "BUSINESS_HOURS": hours, "ESCALATE_AFTER_BUSINESS_HOURS": after})
    with pytest.raises(SettingsError, match="ESCALATE_AFTER_BUSINESS_HOURS"):
        CaseSettings.from_env(env)


def test_settings_take_a_week_of_business_hours() -> None:
    env = Env({**CASE_ENV, "ESCALATE_AFTER_BUSINESS_HOURS": "168"})
    assert CaseSettings.from_env(env).escalate_after == timedelta(hours=168)


@pytest.mark.parametrize(
    ("alerted", "due"),
    [
        ("2026-11-30 10:00", "2026-11-30 14:00"),  # Monday morning: the same afternoon
        ("2026-11-30 15:00", "2026-12-01 11:00"),  # two hours today, two tomorrow
        ("2026-11-30 07:00", "2026-11-30 13:00"),  # before opening: counted from 09:00
        ("2026-12-01 20:00", "2026-12-02 13:00"),  # after hours: from the next opening
        ("2026-11-27 16:00", "2026-11-30 12:00"),  # Friday 16:00: one hour, then Monday
        ("2026-11-27 18:25", "2026-11-30 13:00"),  # Friday evening: Monday 13:00
        ("2026-11-28 11:00", "2026-11-30 13:00"),  # Saturday: Monday 13:00
        ("2026-11-30 13:00", "2026-11-30 17:00"),  # ends exactly at closing
    ],
)
def test_escalate_at_counts_business_hours_only(alerted: str, due: str) -> None:
    # given a case alerted at `alerted` (Amsterdam), 4 business hours Mon-Fri 09:00-17:00
    # when its due time is computed
    at = escalate_at(local(alerted).astimezone(UTC), FOUR_HOURS, OFFICE, AMSTERDAM)
    # then only open hours count, and the result is in UTC
    assert at.tzinfo == UTC
    assert at == local(due).astimezone(UTC)


def test_escalate_at_longer_than_a_day_spans_days_and_a_weekend() -> None:
    at = escalate_at(local("2026-11-27 09:00"), timedelta(hours=12), OFFICE, AMSTERDAM)
    assert at == local("2026-11-30 13:00")


# ------------------------------------------------------------------ weeks and the KPI
def case(
    number: int,
    alerted: str,
    acknowledged_after: float | None = None,
    resolved_after: float | None = None,
    *,
    escalated: bool = False,
) -> Case:
    at = datetime.fromisoformat(alerted).replace(tzinfo=UTC)

    def later(hours: float | None) -> datetime | None:
        return None if hours is None else at + timedelta(hours=hours)

    return Case(
        case_id=f"complaint#o-{number}#rating",
        order_id=f"o-{number}",
        customer_id=f"c-{number}",
        reason="rating",
        rating=1,
        alerted_at=at,
        escalate_at=at + FOUR_HOURS,
        week=week_of(at),
        acknowledged_at=later(acknowledged_after),
        resolved_at=later(resolved_after),
        escalated_at=at + FOUR_HOURS if escalated else None,
    )


def test_weeks_are_iso_weeks_on_the_business_calendar() -> None:
    # Sunday 23:30 UTC is already Monday in Amsterdam: the next ISO week there
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert week_of(sunday_night) == "2026-W48"
    assert week_of(sunday_night, AMSTERDAM) == "2026-W49"
    assert weeks_between(date(2026, 12, 27), date(2027, 1, 5)) == [
        "2026-W52",
        "2026-W53",
        "2027-W01",
    ]


def test_weekly_rows_give_counts_medians_and_90th_percentiles() -> None:
    # given week 48: four cases acknowledged after 1, 2, 3 and 10 hours, three resolved after
    # 5, 8 and 30 hours, one escalated; week 49: one case nobody answered yet
    cases = [
        case(1, "2026-11-23T10:00:00", 1, 5),
        case(2, "2026-11-24T10:00:00", 2, 8),
        case(3, "2026-11-25T10:00:00", 3, 30),
        case(4, "2026-11-26T10:00:00", 10, escalated=True),
        case(5, "2026-12-01T10:00:00"),
    ]

    # when the weeks are counted, with an empty week asked for as well
    rows = weekly(cases, ["2026-W48", "2026-W49", "2026-W50"])

    # then the figures are what was put in
    first, second, third = rows
    assert (first.week, first.alerts, first.acknowledged, first.resolved) == ("2026-W48", 4, 4, 3)
    assert (first.escalated, first.still_open) == (1, 1)
    assert first.ack_median_hours == 2.5  # (2 + 3) / 2
    assert first.ack_p90_hours == 10  # nearest rank: the 4th of 4
    # the fourth case is not resolved: it counts, later than any resolved one
    assert first.resolve_median_hours == 19  # (8 + 30) / 2
    assert first.resolve_p90_hours is None  # not reached: 3 of 4 resolved
    assert (second.alerts, second.acknowledged, second.still_open) == (1, 0, 1)
    assert second.ack_median_hours is None
    assert second.resolve_p90_hours is None
    assert (third.week, third.alerts) == ("2026-W50", 0)


def test_weekly_percentiles_count_the_cases_nobody_answered_yet() -> None:
    # given three cases of a week, one acknowledged after 2 hours and two nobody answered
    cases = [
        case(1, "2026-11-23T10:00:00", 2),
        case(2, "2026-11-24T10:00:00"),
        case(3, "2026-11-25T10:00:00"),
    ]

    # when the week is counted
    (row,) = weekly(cases)

    # then the median and the 90th percentile are not reached (not "2 hours")
    assert (row.alerts, row.acknowledged) == (3, 1)
    assert row.ack_median_hours is None
    assert row.ack_p90_hours is None
    assert row.resolve_median_hours is None


def test_weekly_median_reached_while_some_cases_are_open() -> None:
    # given two of three acknowledged, after 1 and 4 hours
    cases = [
        case(1, "2026-11-23T10:00:00", 1),
        case(2, "2026-11-24T10:00:00", 4),
        case(3, "2026-11-25T10:00:00"),
    ]
    (row,) = weekly(cases)
    assert row.ack_median_hours == 4
    assert row.ack_p90_hours is None


def test_weekly_without_weeks_lists_the_weeks_with_cases_oldest_first() -> None:
    rows = weekly([case(2, "2026-12-01T10:00:00"), case(1, "2026-11-23T10:00:00", 1)])
    assert [r.week for r in rows] == ["2026-W48", "2026-W49"]


def test_the_90th_percentile_is_a_value_that_was_seen() -> None:
    values = [float(h) for h in range(1, 11)]
    assert percentile(values, 0.9) == 9
    assert percentile([4.0], 0.9) == 4
    assert percentile([], 0.9) is None
    assert percentile([1.0, math.inf], 0.9) is None


# ------------------------------------------------------------------ escalation plan
def test_each_due_case_gets_one_claimed_escalation_alert_then_its_mark() -> None:
    due = case(7, "2026-11-27T17:25:00")
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    links = {due.case_id: CaseLinks("https://x.example/case?t=a", "https://x.example/case?t=r")}

    (step,) = escalation_plan([due], now, AMSTERDAM, links).steps

    assert isinstance(step, Escalate)
    assert (step.case_id, step.at) == (due.case_id, now)
    assert now < step.until <= now + timedelta(minutes=15)  # released before the next sweep
    alert = step.alert
    assert isinstance(alert, Alert)
    assert alert.key == "escalation#complaint#o-7#rating"
    assert alert.subject.startswith("Escalation:")
    assert "https://x.example/case?t=a" in alert.text
    assert "Fri 2026-11-27 18:25" in alert.text  # on the business's clock
    assert alert.metric == "EscalationAlerts"


# ------------------------------------------------------------------ signed case links
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def signer(now: datetime = NOW) -> LinkSigner:
    return LinkSigner(lambda: b"k" * 32, "https://p.example/preferences", clock=lambda: now)


def test_a_case_link_carries_its_case_and_action() -> None:
    token = signer().case_token("complaint#o-1#rating", "acknowledge", 30)
    claims = signer().verify_case(token)
    assert (claims.case_id, claims.action) == ("complaint#o-1#rating", "acknowledge")


def test_a_case_link_for_another_purpose_is_forged_and_the_other_way_round() -> None:
    rating = signer().rating_token("o-1", "c-1", 1, 30)
    unsubscribe = signer().token("c-1", None)
    case_link = signer().case_token("complaint#o-1#rating", "resolve", 30)
    for other in (rating, unsubscribe):
        with pytest.raises(InvalidLink) as refused:
            signer().verify_case(other)
        assert refused.value.kind == "forged"
    with pytest.raises(InvalidLink, match="forged"):
        signer().verify_rating(case_link)
    with pytest.raises(InvalidLink, match="forged"):
        signer().verify(case_link)


def test_a_case_link_expires() -> None:
    token = signer().case_token("complaint#o-1#rating", "acknowledge", 30)
    with pytest.raises(InvalidLink, match="expired"):
        signer(NOW + timedelta(days=31)).verify_case(token)


def test_a_case_link_for_an_unknown_action_is_not_made() -> None:
    with pytest.raises(ValueError, match="acknowledges or resolves"):
        signer().case_token("complaint#o-1#rating", "delete", 30)
