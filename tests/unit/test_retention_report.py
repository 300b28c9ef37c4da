"""The retention report: its intervals against published values, and its figures from a known
set of exposures in the profiles table (over moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from lifecycle.adapters.profiles import exposure_item
from lifecycle.local.stack import LocalStack
from lifecycle.profiles.model import Exposure
from lifecycle.retention_report import Rate, as_json, build, lift, render
from tests.conftest import PARAMETERS, fresh_session

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def test_wilsons_interval_matches_published_values() -> None:
    # Newcombe (1998), table I: 0/10 and 1/10
    low, high = Rate(0, 10).interval()  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.0, 0.2775)
    low, high = Rate(1, 10).interval()  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.0179, 0.4042)
    assert Rate(0, 0).interval() is None


def test_newcombes_interval_for_a_difference_matches_the_published_example() -> None:
    # Newcombe (1998), difference of independent proportions, example (a): 56/70 - 48/80
    found = lift(Rate(56, 70), Rate(48, 80))
    assert found is not None
    difference, low, high = found
    assert (round(difference, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    assert lift(Rate(3, 10), Rate(0, 0)) is None


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws():
        fresh_session()
        LocalStack.deployed(PARAMETERS)
        yield "ProfilesTable"


def _expose(
    table: str, n: int, programme: str, treated: bool, days_ago: int, order: str | None = None
) -> None:
    at = NOW - timedelta(days=days_ago)
    exposure = Exposure(
        programme, "winback", f"k-{n}", treated, at, "sent" if treated else "held_out"
    )
    item = exposure_item(f"c-{n}", exposure)
    if order:
        item |= {
            "attributed_order": {"S": order},
            "revenue": {"N": "40.50"},
            "revenue_currency": {"S": "EUR"},
        }
    boto3.client("dynamodb").put_item(TableName=table, Item=item)


def test_the_report_counts_each_group_once_its_window_closed(table: str) -> None:
    # given the offer sent to 20 customers (5 ordered), 10 held out (1 ordered), and 3
    # exposures from the last week, whose window is still open
    for n in range(20):
        _expose(table, n, "winback#1", True, 30, order=f"o-{n}" if n < 5 else None)
    for n in range(20, 30):
        _expose(table, n, "winback#1", False, 30, order="o-h" if n == 20 else None)
    for n in range(30, 33):
        _expose(table, n, "winback#1", True, 7, order="o-late" if n == 30 else None)
    _expose(table, 40, "tier_up", True, 200)  # before --since

    report = build(boto3.client("dynamodb"), table, since=date(2026, 3, 1), now=NOW)

    offer = next(p for p in report.programmes if p.programme == "winback#1")
    assert (offer.sent, offer.converted, offer.held_out, offer.held_out_converted) == (20, 5, 10, 1)
    assert offer.still_open == 3
    assert offer.revenue == {"EUR": Decimal("202.50")}
    assert offer.conversion.value == 0.25
    assert offer.holdout_conversion.value == 0.1
    found = offer.lift
    assert found is not None
    assert round(found[0], 4) == 0.15
    tier_up = next(p for p in report.programmes if p.programme == "tier_up")
    assert (tier_up.sent, tier_up.still_open) == (0, 0)

    text = render(report)
    assert "win-back 2: offer" in text
    assert "25.0% [" in text
    assert "+15.0 pp [" in text
    assert "EUR 202.50" in text
    figures = json.loads(as_json(report))
    row = next(r for r in figures["programmes"] if r["programme"] == "winback#1")
    assert (row["sent"], row["orders"], row["holdout"], row["holdout_orders"]) == (20, 5, 10, 1)
    assert row["revenue"] == {"EUR": "202.50"}
