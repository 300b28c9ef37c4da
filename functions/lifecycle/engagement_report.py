"""`lifecycle engagement`: are the emails working? Per stage, campaign and variant: emails
sent, delivered, and the delivery, bounce, complaint, open and click rates and the actions
per engagement, computed from the engagement table's daily aggregates alone (never the ledger).

Days are the days (UTC) the emails were sent, so a rate compares what happened to the same
emails: opens of Monday's emails count against Monday's sends, whenever they were opened.

Reading scales with days, not with customers: one query per day returns that day's aggregate
items (one per stage, campaign, variant and shard, at most a few hundred on a day with many
campaigns). A year of a 100,000-customer business is 365 queries of one page each, a few
seconds and well under a cent, however many million events it had.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from lifecycle.messaging.engagement import NONE, UNKNOWN, EventType, First

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NOT_TRACKED = "not tracked"


@dataclass(frozen=True)
class Rates:
    """One stage, campaign and variant's engagement.

    - `sent`: SES Send events (what SES accepted; the dispatcher's `MessagesSent` metric
      counts the same sends per function);
    - `delivery_rate`: delivered messages / sent;
    - `bounce_rate`: permanent bounces / sent (the bounces SES's reputation counts);
    - `complaint_rate`: complaints / delivered (only a delivered email can be complained of);
    - `open_rate`: opened messages / delivered, None where opens are not tracked;
    - `click_rate`: messages with a click / delivered;
    - `actions_per_engagement`: clicks per engaged recipient, a recipient being engaged by a
      message they opened or clicked (each message has one recipient), so 1.5 means each
      engaged recipient clicked one and a half links on average. Where opens are not tracked
      only clickers are engaged, so it is clicks per clicking recipient.

    A rate is None where its denominator is 0, and for stage `unknown` (emails sent before
    they carried their ledger key) where it needs per-message firsts the events cannot give.
    """

    stage: str
    campaign: str | None
    variant: str | None
    counts: Mapping[str, int]
    opens_tracked: bool
    sent: int
    delivered: int
    delivery_rate: float | None
    bounce_rate: float | None
    complaint_rate: float | None
    open_rate: float | None
    click_rate: float | None
    actions_per_engagement: float | None


def _ratio(hits: int, trials: int) -> float | None:
    return hits / trials if trials else None


def rates(aggregates: Iterable[Mapping[str, Any]], *, open_tracking: bool) -> list[Rates]:
    """Sum the aggregate items (days and shards) per stage, campaign and variant, and compute
    each one's rates. Pure."""
    totals: dict[tuple[str, str, str], dict[str, int]] = {}
    for item in aggregates:
        key = (str(item["stage"]), str(item["campaign"]), str(item["variant"]))
        counts = totals.setdefault(key, {})
        for name, value in item.items():
            if name not in ("pk", "sk", "day", "stage", "campaign", "variant"):
                counts[name] = counts.get(name, 0) + int(value)
    rows = []
    for (stage, campaign, variant), counts in sorted(totals.items()):
        sent = counts.get(EventType.SEND, 0)
        delivered = counts.get(First.DELIVERED, 0)
        firsts = stage != UNKNOWN
        rows.append(
            Rates(
                stage=stage,
                campaign=None if campaign == NONE else campaign,
                variant=None if variant == NONE else variant,
                counts=dict(sorted(counts.items())),
                opens_tracked=open_tracking,
                sent=sent,
                delivered=delivered,
                delivery_rate=_ratio(delivered, sent),
                bounce_rate=_ratio(counts.get(EventType.BOUNCE, 0), sent),
                complaint_rate=_ratio(counts.get(EventType.COMPLAINT, 0), delivered),
                open_rate=(
                    _ratio(counts.get(First.OPENED, 0), delivered)
                    if open_tracking and firsts
                    else None
                ),
                click_rate=_ratio(counts.get(First.CLICKED, 0), delivered) if firsts else None,
                actions_per_engagement=(
                    _ratio(counts.get(EventType.CLICK, 0), counts.get(First.ENGAGED, 0))
                    if firsts
                    else None
                ),
            )
        )
    return rows


def build(
    client: DynamoDBClient, table: str, since: date, until: date, *, open_tracking: bool
) -> list[Rates]:
    """The rates of the emails sent from `since` to `until`, from the engagement table."""
    from lifecycle.adapters.engagement import aggregates

    return rates(aggregates(client, table, since, until), open_tracking=open_tracking)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render(rows: list[Rates], since: date, until: date) -> str:
    """A table for a terminal."""
    header = (
        "stage",
        "campaign",
        "variant",
        "sent",
        "delivered",
        "delivery",
        "bounce",
        "complaint",
        "open",
        "click",
        "actions/engagement",
    )
    lines = [
        tuple(
            [
                row.stage,
                row.campaign or "-",
                row.variant or "-",
                str(row.sent),
                str(row.delivered),
                _percent(row.delivery_rate),
                _percent(row.bounce_rate),
                _percent(row.complaint_rate),
                _percent(row.open_rate) if row.opens_tracked else NOT_TRACKED,
                _percent(row.click_rate),
                "-" if row.actions_per_engagement is None else f"{row.actions_per_engagement:.2f}",
            ]
        )
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    text = [f"Engagement of emails sent {since.isoformat()} to {until.isoformat()} (UTC days)"]
    for cells in (header, *lines):
        text.append("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)))
    if not lines:
        text.append("(no engagement events in these days)")
    return "\n".join(line.rstrip() for line in text)


def as_json(rows: list[Rates], since: date, until: date) -> str:
    return json.dumps(
        {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "rows": [asdict(row) for row in rows],
        },
        indent=2,
    )
