"""`lifecycle retention-report`: did the retention messages work? Per win-back step and per
reward programme: messages sent, orders attributed, the conversion rate with its 95% interval,
the holdout's conversion over the same window, the lift (in percentage points) with its
interval, and the revenue attributed.

It reads the profiles' `exposures` index, one query per programme and time range (never a
scan): a year of a 100,000-customer business is a few hundred thousand exposures, read in a
few hundred pages. An exposure counts once its attribution window has closed (an exposure
younger than that could still convert, and would drag its group's rate down); the open ones
are shown beside.

Intervals: Wilson's score interval for each rate, and Newcombe's hybrid score interval for the
difference of two rates (both sound with the small counts and rates near zero a holdout
brings, where the textbook normal interval is not)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from lifecycle.adapters.dynamo import plain
from lifecycle.adapters.profiles import EXPOSURES_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# The programmes measured, in the order the report lists them.
PROGRAMMES = {
    "winback#0": "win-back 1: reminder",
    "winback#1": "win-back 2: offer",
    "winback#2": "win-back 3: last chance",
    "tier_up": "loyalty tier-up",
    "appreciation": "heavy-user appreciation",
}
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """`hits` out of `trials`, with Wilson's score interval."""

    hits: int
    trials: int

    @property
    def value(self) -> float | None:
        return self.hits / self.trials if self.trials else None

    def interval(self, z: float = Z95) -> tuple[float, float] | None:
        if not self.trials:
            return None
        n, p = self.trials, self.hits / self.trials
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)


def lift(treated: Rate, control: Rate) -> tuple[float, float, float] | None:
    """The difference of the rates (treated less control) and Newcombe's hybrid score
    interval for it; None unless both groups have exposures."""
    a, b = treated.interval(), control.interval()
    p1, p2 = treated.value, control.value
    if a is None or b is None or p1 is None or p2 is None:
        return None
    difference = p1 - p2
    low = difference - math.sqrt((p1 - a[0]) ** 2 + (b[1] - p2) ** 2)
    high = difference + math.sqrt((a[1] - p1) ** 2 + (p2 - b[0]) ** 2)
    return difference, low, high


# Treated outcomes by which the message reached the customer (now, later, or before).
WENT = frozenset({"sent", "deferred", "duplicate"})


@dataclass
class Programme:
    """One programme's figures, by intent to treat: `treated` counts every customer the
    contact policy let its message reach (sent, deferred, or held back by the cap or a
    deadline), as the holdout counts every customer it would have reached."""

    programme: str
    label: str
    treated: int = 0  # treated exposures counted (their window closed)
    sent: int = 0  # of them, messages that went (or were deferred to go)
    converted: int = 0
    held_out: int = 0
    held_out_converted: int = 0
    still_open: int = 0  # exposures whose window has not closed yet (either group)
    revenue: dict[str, Decimal] = field(default_factory=dict)  # treated, per currency

    @property
    def conversion(self) -> Rate:
        return Rate(self.converted, self.treated)

    @property
    def holdout_conversion(self) -> Rate:
        return Rate(self.held_out_converted, self.held_out)

    @property
    def lift(self) -> tuple[float, float, float] | None:
        return lift(self.conversion, self.holdout_conversion)


@dataclass(frozen=True)
class Report:
    since: date | None
    as_of: datetime
    window_days: int
    programmes: list[Programme]


def _exposures(
    client: DynamoDBClient,
    table: str,
    programme: str,
    since: datetime | None,
    before: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    condition = "programme = :p"
    values: dict[str, Any] = {":p": {"S": programme}}
    low = since.astimezone(UTC).isoformat() if since is not None else None
    # `before` is the first moment after the period: the bound is the moment before it.
    last = before - timedelta(microseconds=1) if before is not None else None
    high = last.astimezone(UTC).isoformat() if last is not None else None
    if low and high:
        condition += " AND exposed_at BETWEEN :s AND :b"
        values.update({":s": {"S": low}, ":b": {"S": high}})
    elif low:
        condition += " AND exposed_at >= :s"
        values[":s"] = {"S": low}
    elif high:
        condition += " AND exposed_at <= :b"
        values[":b"] = {"S": high}

    paginator = client.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        IndexName=EXPOSURES_INDEX,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
    ):
        for item in page["Items"]:
            yield plain(item)


def build(
    client: DynamoDBClient,
    table: str,
    *,
    since: date | None = None,
    window_days: int = 14,
    timezone: str = "UTC",
    now: datetime | None = None,
    until: date | None = None,
) -> Report:
    """The report from the profiles table's `exposures` index; `since` and `until` (the last
    day) are days of the business's calendar (`timezone`), `window_days` its attribution
    window."""
    as_of = now or datetime.now(UTC)
    window = timedelta(days=window_days)
    zone = ZoneInfo(timezone)
    start = datetime.combine(since, time(0), zone) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), zone) if until else None
    results = []
    for programme, label in PROGRAMMES.items():
        result = Programme(programme, label)
        for item in _exposures(client, table, programme, start, end):
            if datetime.fromisoformat(item["exposed_at"]) + window > as_of:
                result.still_open += 1
                continue
            converted = bool(item.get("attributed_order"))
            if item.get("group") == "holdout":
                result.held_out += 1
                result.held_out_converted += converted
                continue
            result.treated += 1
            result.sent += item.get("outcome") in WENT
            result.converted += converted
            if converted and item.get("revenue"):
                currency = str(item.get("revenue_currency") or "XXX")
                amount = Decimal(str(item["revenue"]))
                result.revenue[currency] = result.revenue.get(currency, Decimal(0)) + amount
        results.append(result)
    return Report(since, as_of, window_days, results)


def _percent(rate: Rate) -> str:
    value, interval = rate.value, rate.interval()
    if value is None or interval is None:
        return "-"
    return f"{100 * value:.1f}% [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def _lift(result: Programme) -> str:
    found = result.lift
    if found is None:
        return "-"
    difference, low, high = found
    return f"{100 * difference:+.1f} pp [{100 * low:+.1f}, {100 * high:+.1f}]"


def _money(revenue: dict[str, Decimal]) -> str:
    return ", ".join(f"{c} {a:.2f}" for c, a in sorted(revenue.items())) or "-"


def render(report: Report) -> str:
    since = f"since {report.since}" if report.since else "all time"
    lines = [
        f"Retention report ({since}; as of {report.as_of:%Y-%m-%d %H:%M} UTC; an order within "
        f"{report.window_days} days of a message or holdout exposure is attributed to it)",
    ]
    header = (
        f"  {'programme':<26}{'treated':>8}{'sent':>6}{'orders':>8}  {'conversion [95% CI]':<24}"
        f"{'holdout':>8}{'orders':>8}  {'holdout conv. [95% CI]':<24}{'lift [95% CI]':<26}"
        f"{'revenue':<14}{'open':>5}"
    )
    lines.append(header)
    for r in report.programmes:
        lines.append(
            f"  {r.label:<26}{r.treated:>8}{r.sent:>6}{r.converted:>8}  "
            f"{_percent(r.conversion):<24}"
            f"{r.held_out:>8}{r.held_out_converted:>8}  {_percent(r.holdout_conversion):<24}"
            f"{_lift(r):<26}{_money(r.revenue):<14}{r.still_open:>5}"
        )
    lines.append(
        "  treated: customers the contact policy let the message reach (by intent to treat, "
        "whether it went or the marketing cap held it back); sent: of them, messages that went "
        "(or were deferred to go later); holdout: customers the programme held out whom the "
        "contact policy would have reached; orders: attributed, cancelled ones not counted; "
        "open: exposures whose window has not closed yet, not counted. Lift is in percentage "
        "points (treated less holdout); an interval spanning 0 shows no effect measured yet."
    )
    return "\n".join(lines)


def as_json(report: Report) -> str:
    def rate(value: Rate) -> dict[str, Any]:
        interval = value.interval()
        return {
            "hits": value.hits,
            "trials": value.trials,
            "rate": value.value,
            "ci95": list(interval) if interval else None,
        }

    rows = []
    for r in report.programmes:
        found = r.lift
        rows.append(
            {
                "programme": r.programme,
                "label": r.label,
                "treated": r.treated,
                "sent": r.sent,
                "orders": r.converted,
                "conversion": rate(r.conversion),
                "holdout": r.held_out,
                "holdout_orders": r.held_out_converted,
                "holdout_conversion": rate(r.holdout_conversion),
                "lift": {"difference": found[0], "ci95": [found[1], found[2]]} if found else None,
                "revenue": {c: str(a) for c, a in sorted(r.revenue.items())},
                "still_open": r.still_open,
            }
        )
    return json.dumps(
        {
            "since": report.since.isoformat() if report.since else None,
            "as_of": report.as_of.isoformat(),
            "window_days": report.window_days,
            "programmes": rows,
        },
        indent=2,
    )
