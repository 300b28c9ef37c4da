"""`lifecycle report`: read the figures the owner's report draws, and write it.

What it reads, and why it scales: the tally (one query per month since the tally began), the
engagement aggregates (one query per day of the period), the profiles' `exposures` index (the
retention report's queries), each campaign's progress items, and the complaint cases' week
index. None of them grows with the ledger: a year of a 100,000-customer business is about a
dozen tally pages (a few thousand counters), 365 small day queries and a few hundred exposure
pages, read in well under a minute, where the ledger would be millions of items.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle import engagement_report, retention_report
from lifecycle.adapters import tally
from lifecycle.adapters.engagement import aggregates
from lifecycle.reporting import html
from lifecycle.reporting.sections import CampaignResult, Figures, WeekRow, report

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ReportError(ValueError):
    """The report cannot be made as asked (a table missing, a period the wrong way round)."""


@dataclass(frozen=True)
class ReportTables:
    engagement: str
    profiles: str
    campaigns: str | None = None
    cases: str | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, str]) -> ReportTables:
        missing = [n for n in ("EngagementTableName", "ProfilesTableName") if not outputs.get(n)]
        if missing:
            raise ReportError(f"the stack's outputs lack {', '.join(missing)}")
        return cls(
            outputs["EngagementTableName"],
            outputs["ProfilesTableName"],
            outputs.get("CampaignsTableName"),
            outputs.get("CasesTableName"),
        )


@dataclass(frozen=True)
class Settings:
    business: str
    open_tracking: bool
    window_days: int  # the retention attribution window
    timezone: str  # the business's calendar


def _engagement(
    client: DynamoDBClient, table: str, since: date, until: date, open_tracking: bool
) -> tuple[list[tuple[date, engagement_report.Rates]], list[engagement_report.Rates]]:
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    every: list[dict[str, Any]] = []
    for item in aggregates(client, table, since, until):
        by_day[date.fromisoformat(str(item["day"]))].append(item)
        every.append(item)
    days = [
        (day, row)
        for day, items in sorted(by_day.items())
        for row in engagement_report.rates(items, open_tracking=open_tracking)
    ]
    return days, engagement_report.rates(every, open_tracking=open_tracking)


def _campaigns(client: DynamoDBClient, table: str, ids: Sequence[str]) -> list[CampaignResult]:
    from lifecycle.adapters.campaigns import DynamoCampaigns

    campaigns = DynamoCampaigns(client, table)
    results = []
    for campaign_id in ids:
        state = campaigns.state(campaign_id)
        if state is None:
            continue
        _, counted = campaigns.progress(campaign_id)
        results.append(
            CampaignResult(
                campaign_id,
                state.status,
                counted.held_out,
                sum(counted.skipped.values()),
                counted.failed,
            )
        )
    return results


CaseWeeks = Callable[["DynamoDBClient", str, date, date], Sequence[WeekRow]]


def _case_weeks(client: DynamoDBClient, table: str, since: date, until: date) -> list[WeekRow]:
    from lifecycle.adapters.cases import DynamoCases
    from lifecycle.stages.feedback.cases import weekly, weeks_between

    cases = DynamoCases(client, table).in_weeks(since, until)
    return list(weekly(cases, weeks_between(since, until)))


def read(
    client: DynamoDBClient,
    tables: ReportTables,
    settings: Settings,
    since: date,
    until: date,
    now: datetime,
) -> Figures:
    if since > until:
        raise ReportError(f"--since {since} is after the report's last day {until}")
    start = tally.first_day(client, tables.engagement)
    counts = list(tally.counts(client, tables.engagement, min(start or since, since), until))
    notes = [
        "Days, weeks and months are UTC's; the win-back section's period is the business's "
        f"calendar ({settings.timezone})."
    ]
    if start is None or start > since:
        began = f"in the month of {start:%Y-%m}" if start else "after this period"
        notes.append(
            f"The tally began counting {began}: messages, stages, ratings and unsubscribes "
            "before it show as none, and a customer joins the stage counts (and the churn "
            "rate's base) when their profile is next written."
        )
    days, period = _engagement(client, tables.engagement, since, until, settings.open_tracking)
    campaign_ids = sorted({r.campaign for r in period if r.campaign})
    return Figures(
        since=since,
        until=until,
        counts=counts,
        engagement_days=days,
        engagement=period,
        open_tracking=settings.open_tracking,
        retention=retention_report.build(
            client,
            tables.profiles,
            since=since,
            window_days=settings.window_days,
            timezone=settings.timezone,
            now=now,
            until=until,
        ),
        campaigns=_campaigns(client, tables.campaigns, campaign_ids) if tables.campaigns else (),
        complaint_weeks=(_case_weeks(client, tables.cases, since, until) if tables.cases else None),
    )


@dataclass(frozen=True)
class Written:
    path: Path
    size: int  # bytes
    seconds: float  # reading and writing


def write_report(
    client: DynamoDBClient,
    tables: ReportTables,
    settings: Settings,
    *,
    source: str,
    out_dir: Path,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> Written:
    """Read the figures and write `out_dir/report.html`; by default the 90 days to yesterday
    (today is not over)."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    last = until or now.date() - timedelta(days=1)
    first = since or last - timedelta(days=89)
    figures = read(client, tables, settings, first, last, now)
    path = html.write(report(figures, settings.business, source, now), out_dir)
    return Written(path, path.stat().st_size, time.monotonic() - started)
