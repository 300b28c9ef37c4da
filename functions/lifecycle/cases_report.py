"""`lifecycle cases`: how fast staff answer complaints. Per ISO week of alert (on the
business's calendar): alerts, acknowledged, resolved, escalated, still open, and the median
and 90th percentile hours from alert to acknowledgement and to resolution.

Reading scales with weeks, not with the table: one query of the cases table's `by_week` index
per week (`DynamoCases.in_weeks`), never a scan. The figures come from
`lifecycle.stages.feedback.cases.weekly`, which other reports call too.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from lifecycle.stages.feedback.cases import WeekRow, week_of, weekly, weeks_between

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_WEEKS = 8  # without --since: this week and the seven before


def default_since(today: date) -> date:
    return today - timedelta(weeks=DEFAULT_WEEKS - 1)


def today_in(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def build(client: DynamoDBClient, table: str, since: date, until: date) -> list[WeekRow]:
    from lifecycle.adapters.cases import DynamoCases

    cases = DynamoCases(client, table).in_weeks(since, until)
    return weekly(cases, weeks_between(since, until))


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEADER = (
    "week",
    "alerts",
    "acked",
    "resolved",
    "escalated",
    "open",
    "ack p50 h",
    "ack p90 h",
    "resolve p50 h",
    "resolve p90 h",
)


def render(rows: list[WeekRow], since: date, until: date) -> str:
    lines = [
        f"Complaint cases by week of alert, {week_of(since)} to {week_of(until)} "
        "(hours from alert, on the clock; p90 = 90th percentile, nearest rank)",
        "",
    ]
    table = [HEADER] + [
        (
            row.week,
            str(row.alerts),
            str(row.acknowledged),
            str(row.resolved),
            str(row.escalated),
            str(row.still_open),
            _hours(row.ack_median_hours),
            _hours(row.ack_p90_hours),
            _hours(row.resolve_median_hours),
            _hours(row.resolve_p90_hours),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    for line in table:
        cells = [line[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    if not any(row.alerts for row in rows):
        lines += ["", "No complaint alerts in these weeks."]
    else:
        lines += [
            "",
            "Cases not answered yet count as later than any answer; "
            '"-" = not reached (too few of the week\'s cases answered) or no case.',
        ]
    return "\n".join(lines)


def as_json(rows: list[WeekRow], since: date, until: date) -> str:
    return json.dumps(
        {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "weeks": [asdict(r) for r in rows],
        },
        indent=2,
    )
