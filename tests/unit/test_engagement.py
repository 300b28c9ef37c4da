"""Engagement events as the product reads them (pure): parsing SES's records, what each one
changes, and the rates from the aggregates."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from lifecycle import engagement_report
from lifecycle.messaging.engagement import (
    EngagementEvent,
    EventType,
    NotEngagement,
    Seen,
    change,
    link_of,
    parse,
    tag_value,
)
from tests.conftest import load_event


def _record(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(load_event(name)["Records"][0]["Sns"]["Message"])
    return record


def test_the_ledger_key_comes_back_from_its_hex_encoded_tag() -> None:
    event = parse(_record("ses-open.json"), "id-1")

    assert event.message_key == "welcome#c-1001#email"
    assert (event.stage, event.campaign, event.variant) == ("welcome", None, None)
    assert event.sent_on == date(2026, 11, 22)
    assert tag_value({"variant_hex": ["zz"]}, "variant") is None  # not hex: no variant


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://freshfold.example/book?ref=c-1001#top", "freshfold.example/book"),
        ("https://ann:secret@Shop.Example/a/b", "shop.example/a/b"),
        ("https://shop.example", "shop.example/"),
        ("https://shop.example/u/ann.fischer@example.com", "shop.example/u/[address]"),
    ],
)
def test_a_clicked_link_keeps_only_its_host_and_path(url: str, kept: str) -> None:
    assert link_of(url) == kept


def test_reasons_never_carry_an_address() -> None:
    delay = parse(_record("ses-delivery-delay.json"), "id-2")
    reject = parse(_record("ses-reject.json"), "id-3")
    bounce = parse(_record("ses-bounce-permanent.json"), "id-4")

    assert delay.detail == "TransientCommunicationFailure 4.4.1"  # never the diagnostic text
    assert reject.detail == "Bad content"
    assert (bounce.type, bounce.detail) == (EventType.BOUNCE, "Permanent/General")


@pytest.mark.parametrize("record", [{"eventType": "Subscription", "mail": {}}, {"mail": {}}])
def test_other_records_are_not_engagement(record: dict[str, Any]) -> None:
    with pytest.raises(NotEngagement):
        parse(record, "id")


def _click(seen: Seen | None) -> dict[str, int]:
    event: EngagementEvent = parse(_record("ses-click.json"), "id-5")
    return dict(change(event, seen).counts)


def test_a_first_click_after_an_open_is_a_first_click_but_no_new_engagement() -> None:
    assert _click(Seen()) == {"click": 1, "clicked": 1, "engaged": 1}
    assert _click(Seen(opened=True)) == {"click": 1, "clicked": 1}
    assert _click(Seen(opened=True, clicked=True)) == {"click": 1}
    assert _click(None) == {"click": 1}  # no item: totals only


def test_rates_with_nothing_to_divide_by_are_none_and_the_table_says_so() -> None:
    aggregate = {"day": "2026-11-22", "stage": "feedback", "campaign": "-", "variant": "-"}
    (row,) = engagement_report.rates([{**aggregate, "reject": 2}], open_tracking=True)

    assert (row.sent, row.delivery_rate, row.open_rate, row.actions_per_engagement) == (
        0,
        None,
        None,
        None,
    )
    table = engagement_report.render([row], date(2026, 11, 22), date(2026, 11, 22))
    assert table.splitlines()[-1].split()[:5] == ["feedback", "-", "-", "0", "0"]


def test_shards_and_days_are_summed_per_stage_campaign_and_variant() -> None:
    rows = [
        {"stage": "announcements", "campaign": "spring", "variant": "A", "send": 3, "day": "d1"},
        {"stage": "announcements", "campaign": "spring", "variant": "A", "send": 2, "day": "d2"},
        {"stage": "announcements", "campaign": "spring", "variant": "B", "send": 1, "day": "d1"},
    ]

    found = engagement_report.rates(rows, open_tracking=False)

    assert [(r.variant, r.sent) for r in found] == [("A", 5), ("B", 1)]
