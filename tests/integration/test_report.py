"""The owner's report from a known history through the local stack: what the tests put in
the product's tables (and SES's sample events) is what the report's tables say."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3

from lifecycle.local.stack import LocalContext
from lifecycle.reporting.gather import ReportTables, Settings, write_report
from tests.conftest import Aws, load_event

SINCE, UNTIL = date(2026, 11, 16), date(2026, 11, 29)  # two weeks: a row per day


class Tables(HTMLParser):
    """Each `<table data-table=...>`'s body rows, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("data-table")
            self.tables[self._table or ""] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _put(table: str, item: dict[str, Any]) -> None:
    boto3.resource("dynamodb").Table(table).put_item(Item=item)


def _history(aws: Aws) -> None:
    ledger = aws.stack.table_name("LedgerTable")
    sent = [
        ("welcome#c-1001#email", "welcome", "welcome", "email", "2026-11-22T09:00:05+00:00"),
        ("welcome#c-1002#email", "welcome", "welcome", "email", "2026-11-22T10:00:00+00:00"),
        ("order#o-1#picked_up", "order", "order_picked_up", "sms", "2026-11-23T08:00:00+00:00"),
        ("feedback#o-1", "feedback", "feedback_request", "email", "2026-11-24T18:00:00+00:00"),
        ("feedback#o-2", "feedback", "feedback_request", "email", "2026-11-24T18:05:00+00:00"),
    ]
    for key, stage, template, channel, at in sent:
        _put(
            ledger,
            {
                "message_key": key,
                "record_type": "message",
                "status": "sent",
                "stage": stage,
                "template": template,
                "channel": channel,
                "kind": "service",
                "customer_id": "c-1001",
                "updated_at": at,
            },
        )
    profiles = aws.stack.table_name("ProfilesTable")
    for customer, stage, spend in (("c-1001", "active", "80"), ("c-1002", "new", "20")):
        _put(
            profiles,
            {
                "customer_id": customer,
                "sk": "profile",
                "stage": stage,
                "spend": {"EUR": Decimal(spend)},
                "first_order_at": "2026-11-02T10:00:00+00:00",
                "updated_at": "2026-11-20T10:00:00+00:00",
                "tallied": True,
            },
        )
    _put(
        aws.stack.table_name("RatingsTable"),
        {
            "order_id": "o-1",
            "customer_id": "c-1001",
            "score": 5,
            "rated_at": "2026-11-25T09:00:00+00:00",
            "updated_at": "2026-11-25T09:00:00+00:00",
        },
    )
    aws.stack.pump(LocalContext.for_function)
    # SES's events about the first welcome email, one of them delivered twice
    for name in ("ses-send.json", "ses-delivery.json", "ses-click.json", "ses-click.json"):
        aws.invoke("SesFeedbackFunction", load_event(name))


def test_the_report_says_what_was_put_in(aws: Aws, tmp_path: Path) -> None:
    _history(aws)
    written = write_report(
        boto3.client("dynamodb"),
        ReportTables(
            aws.stack.table_name("EngagementTable"),
            aws.stack.table_name("ProfilesTable"),
            aws.stack.table_name("CampaignsTable"),
        ),
        Settings("Fresh Fold", open_tracking=False, window_days=14, timezone="UTC"),
        source="test",
        out_dir=tmp_path,
        since=SINCE,
        until=UNTIL,
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )
    page = written.path.read_text(encoding="utf-8")
    parser = Tables()
    parser.feed(page)
    tables = {name: {row[0]: row[1:] for row in rows} for name, rows in parser.tables.items()}

    # messages per stage (welcome, order, feedback) and channel, per day
    assert tables["messages-by-stage"]["2026-11-22"] == ["2", "0", "0", "2", "0", "0"]
    assert tables["messages-by-stage"]["2026-11-24"] == ["0", "0", "2", "2", "0", "0"]
    assert tables["messages-by-channel"]["2026-11-23"] == ["0", "1", "1"]
    # SES's events: one email sent, delivered and clicked (the click delivered twice, once)
    assert tables["email-rates"]["2026-11-22"] == ["1", "1", "100.0%", "0.0%", "0.0%", "100.0%"]
    assert tables["rates-by-stage"]["welcome"] == [
        "1", "1", "100.0%", "0.0%", "0.0%", "100.0%", "1.00"
    ]  # fmt: skip
    # stages and lifetime value, from the profiles
    assert tables["customers-by-stage"]["2026-11-29"] == ["1", "1", "2"]
    assert tables["ltv-stage"] == {
        "new": ["1", "20.00 EUR", "20.00 EUR"],
        "active": ["1", "80.00 EUR", "80.00 EUR"],
    }
    assert tables["ltv-cohort"] == {"2026-11": ["2", "100.00 EUR", "50.00 EUR"]}
    # one rating of the two feedback requests
    assert tables["feedback"]["5"] == ["1", "100.0%"]
    assert "1 rating from 2 feedback requests: a response rate of 50.0%" in page
    # and the page stands alone
    assert "<script" not in page
    assert "https://" not in page
    assert written.size == len(page.encode())
