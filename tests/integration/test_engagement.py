"""Engagement events from SES's published shapes (events/ses-*.json), through the SES feedback
function into the message's ledger item and the day's aggregate, and the rates read back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from lifecycle import engagement_report
from lifecycle.adapters.dynamo import plain
from lifecycle.adapters.engagement import DynamoEngagement
from lifecycle.messaging.engagement import Seen, parse
from tests.conftest import Aws, load_event

FUNCTION = "SesFeedbackFunction"
KEY = "welcome#c-1001#email"  # the message the sample events are about
DAY = date(2026, 11, 22)  # the day it was sent
SAMPLES = {
    "ses-send.json": ("send", {}),
    "ses-delivery.json": ("delivery", {"delivered": 1}),
    "ses-open.json": ("open", {"opened": 1, "engaged": 1}),
    "ses-click.json": ("click", {"clicked": 1, "engaged": 1}),
    "ses-reject.json": ("reject", {}),
    "ses-rendering-failure.json": ("rendering_failure", {}),
    "ses-delivery-delay.json": ("delivery_delay", {}),
}


def _scan(table: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [plain(item) for item in items]


def _aggregates() -> list[dict[str, Any]]:
    return [item for item in _scan("EngagementTable") if item["pk"].startswith("day#")]


def _counts(stage: str = "welcome") -> dict[str, int]:
    """The day's counters of one stage, summed over its shards."""
    (row,) = [
        r for r in engagement_report.rates(_aggregates(), open_tracking=True) if r.stage == stage
    ]
    return dict(row.counts)


def _event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event, its SES record changed: `tags` replaces the email's own tags, `sns_id`
    the notification's id, any other key sets that field of the record."""
    event = load_event(name)
    sns = event["Records"][0]["Sns"]
    record = json.loads(sns["Message"])
    if "tags" in changes:
        record["mail"]["tags"] = changes.pop("tags")
    if "sns_id" in changes:
        sns["MessageId"] = changes.pop("sns_id")
    record.update(changes)
    sns["Message"] = json.dumps(record)
    return event


def _tags(key: str, stage: str, **more: str) -> dict[str, list[str]]:
    tags = {"stage": [stage], "kind": ["marketing"], "customer": ["c-1001"]}
    tags["message_hex"] = [key.encode().hex()]
    tags.update({f"{name}_hex": [value.encode().hex()] for name, value in more.items()})
    return tags


@pytest.fixture
def welcomed(aws: Aws) -> Aws:
    """Ann's welcome email was sent: its ledger item exists."""
    aws.invoke("WelcomeFunction", load_event("customers-insert.json"))
    assert aws.ledger(KEY)["status"] == "sent"
    return aws


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_each_sample_event_is_recorded_once_however_often_sns_delivers_it(
    welcomed: Aws, sample: str
) -> None:
    # given an SES event about the welcome email
    counter, firsts = SAMPLES[sample]

    # when SNS delivers its notification three times
    for _ in range(3):
        welcomed.invoke(FUNCTION, load_event(sample))

    # then it counts once in its day's aggregate, and once on the message's item
    assert _counts() == {counter: 1, **firsts}
    (row,) = _aggregates()
    assert row["day"] == DAY.isoformat()
    assert (row["stage"], row["campaign"], row["variant"]) == ("welcome", "-", "-")
    item = welcomed.ledger(KEY)
    assert item is not None
    assert item["status"] == "sent"
    if sample == "ses-open.json":
        assert item["first_open_at"] == "2026-11-22T09:42:17.311000+00:00"
        assert item["opens"] == "1"
    if sample == "ses-delivery.json":
        assert item["delivered_at"] == "2026-11-22T09:00:09.870000+00:00"
    if sample == "ses-delivery-delay.json":
        assert item["delivery_delays"] == "1"
        assert item["last_delay"] == "TransientCommunicationFailure 4.4.1"
    if sample == "ses-reject.json":
        assert item["reject_reason"] == "Bad content"
    if sample == "ses-rendering-failure.json":
        assert item["rendering_failure"].startswith("Attribute 'first_name' is not present")


def test_a_click_is_recorded_by_host_and_path_without_its_query_string(welcomed: Aws) -> None:
    # given a click on the welcome email's booking link, which carried a query string
    welcomed.invoke(FUNCTION, load_event("ses-click.json"))

    # then its host and path are kept, and nothing of the query
    item = welcomed.ledger(KEY)
    assert item is not None
    assert item["clicked_links"] == ["freshfold.example/book"]
    assert item["clicks"] == "1"
    assert item["first_click_at"] == "2026-11-22T09:43:01.904000+00:00"
    assert "utm_source" not in json.dumps(_scan("LedgerTable"), default=str)


def test_a_click_on_the_unsubscribe_link_is_never_recorded(welcomed: Aws) -> None:
    # given a click SES reported on a preference centre link (its anchor lacked ses:no-track)
    spec = welcomed.stack.function(FUNCTION)
    link = spec.environment["PREFERENCES_URL"] + "?t=signed-token"
    click = {**json.loads(load_event("ses-click.json")["Records"][0]["Sns"]["Message"])["click"]}
    click["link"] = link

    # when it arrives
    welcomed.invoke(FUNCTION, _event("ses-click.json", click=click))

    # then nothing is counted or kept
    assert _aggregates() == []
    assert "clicks" not in (welcomed.ledger(KEY) or {})


def test_counts_and_rates_come_out_exactly_as_put_in(welcomed: Aws) -> None:
    # given a campaign with variants A and B: A to 4 customers, B to 2, each email sent
    sends = {f"campaign#spring#c-{n}": "A" if n < 4 else "B" for n in range(6)}
    ledger = boto3.client("dynamodb")
    for key in sends:
        ledger.put_item(
            TableName="LedgerTable",
            Item={"message_key": {"S": key}, "status": {"S": "sent"}, "stage": {"S": "campaign"}},
        )
    happened = 0

    def happen(name: str, key: str, **changes: Any) -> None:
        nonlocal happened
        happened += 1
        tags = _tags(key, "announcements", campaign="spring", variant=sends[key])
        welcomed.invoke(FUNCTION, _event(name, tags=tags, sns_id=f"sns-{happened}", **changes))

    keys = list(sends)
    # when SES reports: all 6 sent; A: 3 delivered and 1 bounced; B: both delivered
    for key in keys:
        happen("ses-send.json", key)
    for key in keys[:3] + keys[4:]:
        happen("ses-delivery.json", key)
    permanent = {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "b-1"}
    bounce = json.loads(load_event("ses-bounce-permanent.json")["Records"][0]["Sns"]["Message"])
    happen("ses-bounce-permanent.json", keys[3], bounce={**bounce["bounce"], **permanent})
    # A: customer 0 opens twice and clicks 3 times, customer 1 clicks once without an open
    # (images blocked), customer 2 only opens; one complaint from customer 2
    happen("ses-open.json", keys[0])
    happen("ses-open.json", keys[0])
    for _ in range(3):
        happen("ses-click.json", keys[0])
    happen("ses-click.json", keys[1])
    happen("ses-open.json", keys[2])
    complaint = json.loads(load_event("ses-complaint.json")["Records"][0]["Sns"]["Message"])
    happen("ses-complaint.json", keys[2], complaint=complaint["complaint"])
    # B: customer 4 opens, nobody clicks
    happen("ses-open.json", keys[4])

    # then the report's figures are exactly those
    rows = {
        (r.campaign, r.variant): r
        for r in engagement_report.build(
            boto3.client("dynamodb"), "EngagementTable", DAY, DAY, open_tracking=True
        )
    }
    a, b = rows[("spring", "A")], rows[("spring", "B")]
    assert (a.sent, a.delivered, b.sent, b.delivered) == (4, 3, 2, 2)
    assert a.counts["open"] == 3
    assert a.counts["opened"] == 2
    assert a.counts["click"] == 4
    assert a.counts["clicked"] == 2
    assert a.counts["engaged"] == 3  # customers 0, 1 and 2
    assert a.delivery_rate == 3 / 4
    assert a.bounce_rate == 1 / 4
    assert a.complaint_rate == 1 / 3
    assert a.open_rate == 2 / 3
    assert a.click_rate == 2 / 3
    assert a.actions_per_engagement == 4 / 3
    assert (b.delivery_rate, b.open_rate, b.click_rate) == (1.0, 1 / 2, 0.0)
    assert b.actions_per_engagement == 0.0
    assert b.bounce_rate == 0.0
    assert b.complaint_rate == 0.0


def test_without_open_tracking_the_open_rate_says_not_tracked(welcomed: Aws) -> None:
    welcomed.invoke(FUNCTION, load_event("ses-send.json"))
    welcomed.invoke(FUNCTION, load_event("ses-delivery.json"))
    welcomed.invoke(FUNCTION, load_event("ses-click.json"))

    rows = engagement_report.build(
        boto3.client("dynamodb"), "EngagementTable", DAY, DAY, open_tracking=False
    )

    (row,) = rows
    assert row.open_rate is None
    assert row.click_rate == 1.0
    assert row.actions_per_engagement == 1.0  # clicks per clicking recipient
    table = engagement_report.render(rows, DAY, DAY)
    assert "not tracked" in table
    assert "100.0%" in table


def test_an_email_sent_before_it_carried_its_ledger_key_counts_under_unknown(
    welcomed: Aws,
) -> None:
    # given events about an email whose tags have no `message` (sent by an earlier version)
    old = {"stage": ["welcome"], "kind": ["service"], "customer": ["c-1001"]}

    # when it is delivered and opened
    welcomed.invoke(FUNCTION, _event("ses-delivery.json", tags=old))
    welcomed.invoke(FUNCTION, _event("ses-open.json", tags=old))
    welcomed.invoke(FUNCTION, _event("ses-open.json", tags=old))

    # then the aggregate counts them under stage unknown only, and no ledger item changes
    assert {r["stage"] for r in _aggregates()} == {"unknown"}
    assert _counts("unknown") == {"delivery": 1, "delivered": 1, "open": 1}
    item = welcomed.ledger(KEY)
    assert item is not None
    assert "delivered_at" not in item
    assert "opens" not in item
    (row,) = engagement_report.rates(_aggregates(), open_tracking=True)
    assert row.open_rate is None  # no item to tell a first open from a second


def test_no_address_is_stored_in_the_ledger_or_the_aggregates(welcomed: Aws) -> None:
    # given every sample event (their records and SNS envelopes name Ann's address)
    for sample in sorted(SAMPLES):
        welcomed.invoke(FUNCTION, load_event(sample))

    # then no item of either table holds it, or any address
    stored = json.dumps(_scan("LedgerTable") + _scan("EngagementTable"), default=str)
    assert "ann.fischer" not in stored
    assert "@" not in stored


def test_two_first_opens_at_once_count_one_first_open(welcomed: Aws) -> None:
    # given an open already recorded while another open of the message was read as the first
    welcomed.invoke(FUNCTION, load_event("ses-open.json"))
    store = DynamoEngagement(boto3.client("dynamodb"), "EngagementTable", "LedgerTable")
    reads: list[Seen | None] = []
    real = store._seen

    def stale(key: str) -> Seen | None:
        reads.append(real(key))
        return Seen() if len(reads) == 1 else reads[-1]

    store._seen = stale  # type: ignore[method-assign]
    record = json.loads(_event("ses-open.json", sns_id="another")["Records"][0]["Sns"]["Message"])

    # when the second open is recorded
    assert store.record(parse(record, "another"), datetime(2026, 11, 22, 10, tzinfo=UTC))

    # then its conditioned write failed, it read the item again, and counted a second open only
    assert len(reads) == 2
    assert _counts() == {"open": 2, "opened": 1, "engaged": 1}
    assert (welcomed.ledger(KEY) or {})["opens"] == "2"


def test_lifecycle_engagement_prints_the_table_and_json(
    welcomed: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifecycle.cli import main

    # given the welcome email sent, delivered and clicked on its day
    for sample in ("ses-send.json", "ses-delivery.json", "ses-click.json"):
        welcomed.invoke(FUNCTION, load_event(sample))
    monkeypatch.setenv("ENGAGEMENT_TABLE", "EngagementTable")

    # when the command reads that day
    assert main(["engagement", "--since", DAY.isoformat()]) == 0

    # then its table shows the stage's figures, opens not tracked (the default)
    out = capsys.readouterr().out
    assert "Engagement of emails sent 2026-11-22 to" in out
    (line,) = [row for row in out.splitlines() if row.startswith("welcome")]
    assert line.split() == [
        "welcome", "-", "-", "1", "1", "100.0%", "0.0%", "0.0%", "not", "tracked", "100.0%", "1.00"
    ]  # fmt: skip
    assert main(["engagement", "--since", DAY.isoformat(), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert (row["stage"], row["sent"], row["click_rate"]) == ("welcome", 1, 1.0)


def test_lifecycle_engagement_without_a_table_says_what_to_give(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifecycle.cli import main

    assert main(["engagement"]) == 2
    assert "give --stack, or set ENGAGEMENT_TABLE" in capsys.readouterr().err
