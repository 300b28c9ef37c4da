"""Complaint cases: one per complaint alert, so the owner can see whether staff answered it and
how fast. Pure: no boto3, no clock (times come in as arguments).

- A case opens when its alert is raised (`case_id` is the alert's key), and is due for
  escalation after a number of business hours without an acknowledgement (`escalate_at`).
- Staff acknowledge ("I'm on it") and resolve it from signed links in the alert; the first tap
  of each sets its time, later taps change nothing.
- A case still unacknowledged at `escalate_at` raises one escalation alert.
- `weekly` turns cases into the response-time KPI, one row per ISO week of alert.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from lifecycle.messaging.links import LinkSigner

ESCALATION_PREFIX = "escalation#"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(
    r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<opens>\d{1,2}:\d{2})\s*-\s*(?P<closes>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True)
class Case:
    """One complaint case. Times are aware datetimes in UTC; `week` is the ISO week of
    `alerted_at` on the business's calendar (e.g. "2026-W48")."""

    case_id: str
    order_id: str
    customer_id: str
    reason: str  # "rating" or "comment", as the alert's
    rating: int
    alerted_at: datetime
    escalate_at: datetime
    week: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True)
class CaseLinks:
    """The signed staff links an alert carries."""

    acknowledge: str
    resolve: str


@dataclass(frozen=True)
class Opening:
    """What a complaint alert raised now needs to open its case: the clock, when cases fall
    due, and how to make a case's staff links (the handler signs them)."""

    now: datetime
    within: timedelta
    hours: BusinessHours
    timezone: str
    links: Callable[[str], CaseLinks]

    def case(self, case_id: str, order_id: str, customer_id: str, reason: str, rating: int) -> Case:
        return Case(
            case_id=case_id,
            order_id=order_id,
            customer_id=customer_id,
            reason=reason,
            rating=rating,
            alerted_at=self.now,
            escalate_at=escalate_at(self.now, self.within, self.hours, self.timezone),
            week=week_of(self.now, self.timezone),
        )


def signed_links(signer: LinkSigner, url: str, valid_days: int, case_id: str) -> CaseLinks:
    """A case's staff links to the case page `url`, each signed for its action."""

    def link(action: str) -> str:
        return f"{url}?{urlencode({'t': signer.case_token(case_id, action, valid_days)})}"

    return CaseLinks(acknowledge=link("acknowledge"), resolve=link("resolve"))


# ---------------------------------------------------------------------- business hours
@dataclass(frozen=True)
class BusinessHours:
    """When staff are at work, on the business's clock: the same hours on each working day."""

    days: frozenset[int]  # weekday numbers, Monday 0
    opens: time
    closes: time

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        """`Mon-Fri 09:00-17:00`, `Mon,Wed-Sat 08:30-18:00`, ... ValueError otherwise."""
        found = _HOURS.match(text)
        if found is None:
            raise ValueError(f"business hours {text!r} are not like 'Mon-Fri 09:00-17:00'")
        days: set[int] = set()
        for part in found["days"].replace(" ", "").lower().split(","):
            first, _, last = part.partition("-")
            if first not in DAY_NAMES or (last and last not in DAY_NAMES):
                raise ValueError(f"business hours {text!r}: {part!r} is not a day or range")
            start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
            if end < start:
                raise ValueError(f"business hours {text!r}: {part!r} runs backwards")
            days.update(range(start, end + 1))
        opens, closes = _clock(text, found["opens"]), _clock(text, found["closes"])
        if closes <= opens:
            raise ValueError(
                f"business hours {text!r}: closing at {closes:%H:%M} is not after opening at "
                f"{opens:%H:%M} (hours that cross midnight are not supported)"
            )
        return cls(frozenset(days), opens, closes)


def _clock(text: str, value: str) -> time:
    """An HH:MM time of day (one-digit hours allowed)."""
    hours, _, minutes = value.partition(":")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(
            f"business hours {text!r}: {value!r} is not a time of day (HH:MM, 00:00-23:59)"
        ) from None


def escalate_at(
    alerted_at: datetime, within: timedelta, hours: BusinessHours, timezone: str
) -> datetime:
    """When a case alerted at `alerted_at` is overdue: `within` of business time later. Time
    outside business hours does not count, so an alert on Friday evening falls due on Monday.
    Counted on the wall clock (hours of opening do not span a clock change). In UTC."""
    zone = ZoneInfo(timezone)
    cursor = alerted_at.astimezone(zone).replace(tzinfo=None)
    left = within
    day = cursor.date()
    for _ in range(8 * 366):  # far past any real `within`; the loop must end
        if day.weekday() in hours.days:
            begin = max(cursor, datetime.combine(day, hours.opens))
            end = datetime.combine(day, hours.closes)
            if begin < end:
                if left <= end - begin:
                    return (begin + left).replace(tzinfo=zone).astimezone(UTC)
                left -= end - begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min)
    raise ValueError(f"{within} of business time is more than this function looks ahead")


# ---------------------------------------------------------------------- weeks
def week_of(moment: datetime | date, timezone: str = "UTC") -> str:
    """The ISO week ("2026-W48") of a moment on the business's calendar, or of a day."""
    day = moment.astimezone(ZoneInfo(timezone)).date() if isinstance(moment, datetime) else moment
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(since: date, until: date) -> list[str]:
    """Every ISO week from the one holding `since` to the one holding `until`, in order."""
    monday = since - timedelta(days=since.weekday())
    weeks: list[str] = []
    while monday <= until:
        weeks.append(week_of(monday))
        monday += timedelta(days=7)
    return weeks


# ---------------------------------------------------------------------- the KPI
@dataclass(frozen=True)
class WeekRow:
    """One ISO week of complaint alerts and how staff answered them. Hours are wall-clock
    hours from the alert (not business hours), over all the week's cases: a case not yet
    acknowledged (resolved) counts as not answered, later than any answered one. A median or
    90th percentile that falls on such a case is None ("not reached": fewer than half, or
    90%, of the week's cases were answered), as it is for a week without a case."""

    week: str
    alerts: int
    acknowledged: int
    resolved: int
    escalated: int
    still_open: int  # not resolved (acknowledged or not)
    ack_median_hours: float | None
    ack_p90_hours: float | None
    resolve_median_hours: float | None
    resolve_p90_hours: float | None


# What an unanswered case counts as: later than every answer (its age so far is only a bound).
UNANSWERED = math.inf


def _hours(start: datetime, end: datetime | None) -> float:
    return UNANSWERED if end is None else (end - start).total_seconds() / 3600


def _reached(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at
    or below it (always one of the values, so "90% answered within N hours" holds). None if
    there are no values or it falls on an unanswered one (infinite)."""
    if not values:
        return None
    ordered = sorted(values)
    return _reached(ordered[max(math.ceil(share * len(ordered)), 1) - 1])


def _median(values: Sequence[float]) -> float | None:
    return _reached(statistics.median(values)) if values else None


def weekly(cases: Iterable[Case], weeks: Sequence[str] | None = None) -> list[WeekRow]:
    """One row per ISO week of alert: the weeks given (also those without a case, so a quiet
    week reads as 0), else every week a case was alerted in, oldest first."""
    by_week: dict[str, list[Case]] = {week: [] for week in weeks or ()}
    for case in cases:
        if weeks is None or case.week in by_week:
            by_week.setdefault(case.week, []).append(case)
    rows: list[WeekRow] = []
    for week in weeks if weeks is not None else sorted(by_week):
        group = by_week[week]
        to_ack = [_hours(c.alerted_at, c.acknowledged_at) for c in group]
        to_resolve = [_hours(c.alerted_at, c.resolved_at) for c in group]
        rows.append(
            WeekRow(
                week=week,
                alerts=len(group),
                acknowledged=sum(1 for c in group if c.acknowledged_at is not None),
                resolved=sum(1 for c in group if c.resolved_at is not None),
                escalated=sum(1 for c in group if c.escalated_at is not None),
                still_open=sum(1 for c in group if c.resolved_at is None),
                ack_median_hours=_median(to_ack),
                ack_p90_hours=percentile(to_ack, 0.9),
                resolve_median_hours=_median(to_resolve),
                resolve_p90_hours=percentile(to_resolve, 0.9),
            )
        )
    return rows


# ---------------------------------------------------------------------- escalation
def escalation_key(case_id: str) -> str:
    """The escalation alert's key: raised at most once per case."""
    return f"{ESCALATION_PREFIX}{case_id}"


def escalation_text(
    case: Case, links: CaseLinks | None, timezone: str
) -> tuple[str, str, dict[str, str]]:
    """Subject, body and filterable attributes of the escalation alert. Ids only: the
    customer's address and number stay in the business's own systems."""
    zone = ZoneInfo(timezone)
    alerted = case.alerted_at.astimezone(zone)
    subject = f"Escalation: complaint on order {case.order_id} not acknowledged"
    lines = [
        f"Nobody has acknowledged the complaint on order {case.order_id} "
        f"(rated {case.rating}/5, {case.reason}) raised {alerted:%a %Y-%m-%d %H:%M} "
        f"({timezone}).",
        "",
        f"Case:      {case.case_id}",
        f"Order:     {case.order_id}",
        f"Customer:  {case.customer_id}",
        f"Due by:    {case.escalate_at.astimezone(zone):%a %Y-%m-%d %H:%M} ({timezone})",
    ]
    if links is not None:
        lines += ["", *link_lines(links)]
    attributes = {
        "kind": "escalation",
        "reason": case.reason,
        "rating": str(case.rating),
        "order_id": case.order_id,
        "customer_id": case.customer_id,
    }
    return subject, "\n".join(lines) + "\n", attributes


def link_lines(links: CaseLinks) -> list[str]:
    """What an alert says about its staff links (also in the escalation)."""
    return [
        "I'm on it (acknowledge):",
        f"  {links.acknowledge}",
        "Resolved:",
        f"  {links.resolve}",
    ]
