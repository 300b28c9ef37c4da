"""Order flow: the Orders-stream handler and the pickup reminder, as the template names them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import time_machine

from tests.conftest import Aws, load_event

ORDERS = "OrdersFunction"
REMINDER = "ReminderFunction"
GROUP = "DelayedMessagesGroup"
LIFE = ["scheduled", "picked_up", "ready", "out_for_delivery", "delivered"]


def order_event(status: str) -> dict[str, Any]:
    return load_event(f"orders-{status.replace('_', '-')}.json")


@pytest.fixture
def shop(aws: Aws) -> Iterator[Aws]:
    """Sanne (nl-NL, SMS consent) is a customer; the clock stands before her pickup."""
    sanne = load_event("customers-insert.json")["Records"][1]["dynamodb"]["NewImage"]
    boto3.client("dynamodb").put_item(TableName="CustomersTable", Item=sanne)
    with time_machine.travel(datetime(2026, 11, 22, 10, 5, tzinfo=UTC), tick=False):
        yield aws


def schedule(name: str) -> dict[str, Any] | None:
    client = boto3.client("scheduler")
    try:
        return dict(client.get_schedule(Name=name, GroupName=GROUP))
    except client.exceptions.ResourceNotFoundException:
        return None


def test_a_full_order_life_sends_each_update_once_on_its_channel(shop: Aws) -> None:
    for status in LIFE:
        assert shop.invoke(ORDERS, order_event(status)) == {"batchItemFailures": []}
        shop.invoke(ORDERS, order_event(status))  # every batch arrives twice

    emails = shop.emails()
    texts = [text for _, text in shop.sms()]
    # confirmation and receipt by email, the timely updates by SMS, each exactly once
    assert len(emails) == 2
    assert len(texts) == 3
    confirmation, receipt = emails
    assert "di 24 nov" in confirmation.part("plain")  # Babel, Dutch, Amsterdam time
    assert "09:00" in confirmation.part("plain")
    html = receipt.part("html").replace("\u00a0", " ")  # Babel uses no-break spaces
    # Dutch copy, Dutch numbers: 4,5 kg, not 4.5
    for line in ("Shirt, washed and pressed", "€ 3,50", "€ 17,50", "4,5", "€ 13,05", "€ 48,55"):
        assert line in html, line
    for key in ("scheduled", "picked_up", "ready", "out_for_delivery", "delivered"):
        assert shop.ledger(f"order#o-5001#{key}")["status"] == "sent"
    assert shop.ledger("order#o-5001#in_process") is None  # off by default


def test_statuses_out_of_order_in_one_batch_never_send_a_stale_update(shop: Aws) -> None:
    shop.invoke(ORDERS, order_event("scheduled"))
    ready, picked_up = order_event("ready")["Records"][0], order_event("picked_up")["Records"][0]

    response = shop.invoke(ORDERS, {"Records": [ready, picked_up]})

    assert response == {"batchItemFailures": []}
    assert len(shop.sms()) == 1  # "ready" only
    stale = shop.ledger("order#o-5001#picked_up")
    assert stale["status"] == "skipped"
    assert stale["reason"] == "stale: order already ready"


def test_confirmation_schedules_the_reminder_two_hours_before_pickup(shop: Aws) -> None:
    shop.invoke(ORDERS, order_event("scheduled"))

    made = schedule("pickup-o-5001")
    assert made is not None
    assert made["ScheduleExpression"] == "at(2026-11-24T07:00:00)"
    assert made["ScheduleExpressionTimezone"] == "Europe/Amsterdam"
    assert made["ActionAfterCompletion"] == "DELETE"
    assert made["Target"]["Arn"].endswith(":function:ReminderFunction")


def test_rescheduling_moves_the_reminder_and_cancelling_removes_it(shop: Aws) -> None:
    shop.invoke(ORDERS, order_event("scheduled"))
    moved = copy.deepcopy(order_event("scheduled"))
    record = moved["Records"][0]
    record["eventName"] = "MODIFY"
    record["dynamodb"]["OldImage"] = copy.deepcopy(record["dynamodb"]["NewImage"])
    record["dynamodb"]["NewImage"]["pickup_window"]["M"]["start"]["S"] = "2026-11-25T14:00:00+01:00"
    record["dynamodb"]["NewImage"]["pickup_window"]["M"]["end"]["S"] = "2026-11-25T16:00:00+01:00"
    record["dynamodb"]["SequenceNumber"] = "222200000000000000000050"

    shop.invoke(ORDERS, moved)

    assert schedule("pickup-o-5001")["ScheduleExpression"] == "at(2026-11-25T12:00:00)"
    assert len(shop.emails()) == 1  # moving the pickup is not a new confirmation

    shop.invoke(ORDERS, order_event("cancelled"))

    assert schedule("pickup-o-5001") is None
    assert shop.ledger("order#o-5001#cancelled")["status"] == "sent"


def test_reminder_fires_only_while_still_due(shop: Aws) -> None:
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(
        TableName="OrdersTable", Item=order_event("scheduled")["Records"][0]["dynamodb"]["NewImage"]
    )
    payload = load_event("schedule-pickup-reminder.json")

    with time_machine.travel(datetime(2026, 11, 24, 6, 0, tzinfo=UTC), tick=False):
        sent = shop.invoke(REMINDER, payload)
        again = shop.invoke(REMINDER, payload)  # Scheduler delivers at least once

    assert sent["status"] == "sent"
    assert again["status"] == "duplicate"
    assert len(shop.sms()) == 1

    moved = dict(payload, pickup_start="2026-11-23T09:00:00+01:00")
    assert shop.invoke(REMINDER, moved) == {"status": "skipped", "reason": "pickup was moved"}
    dynamodb.put_item(
        TableName="OrdersTable", Item=order_event("cancelled")["Records"][0]["dynamodb"]["NewImage"]
    )
    with time_machine.travel(datetime(2026, 11, 24, 6, 0, tzinfo=UTC), tick=False):
        gone = shop.invoke(REMINDER, payload)
    assert gone == {"status": "skipped", "reason": "order is cancelled"}


def test_channel_preference_overrides_the_default(shop: Aws) -> None:
    boto3.client("dynamodb").update_item(
        TableName="CustomersTable",
        Key={"customer_id": {"S": "c-1002"}},
        UpdateExpression="SET channel_preference = :sms",
        ExpressionAttributeValues={":sms": {"S": "sms"}},
    )

    shop.invoke(ORDERS, order_event("scheduled"))

    assert shop.emails() == []
    ((phone, text),) = shop.sms()
    assert phone == "+31612345678"
    assert "o-5001" in text


def test_order_for_an_unknown_customer_is_retried(shop: Aws) -> None:
    orphan = order_event("scheduled")["Records"][0]
    orphan["dynamodb"]["NewImage"]["customer_id"] = {"S": "c-missing"}
    orphan["dynamodb"]["NewImage"]["order_id"] = {"S": "o-9999"}
    orphan["dynamodb"]["SequenceNumber"] = "222200000000000000000099"
    good = order_event("scheduled")["Records"][0]

    response = shop.invoke(ORDERS, {"Records": [good, orphan]})

    assert response == {"batchItemFailures": [{"itemIdentifier": "222200000000000000000099"}]}
    assert len(shop.emails()) == 1


def test_a_failed_update_is_not_overtaken_by_a_later_status_in_its_batch(shop: Aws) -> None:
    # given SNS refuses the first SMS once (it never saw it): the picked_up update, since the
    # confirmation goes by email
    refused = shop.fail_sends(
        "sns", "Publish", "ThrottledException", when=lambda params: "PhoneNumber" in params
    )
    shop.invoke(ORDERS, order_event("scheduled"))
    picked_up, in_process = order_event("picked_up"), order_event("in_process")
    batch = {"Records": picked_up["Records"] + in_process["Records"]}
    sequences = [r["dynamodb"]["SequenceNumber"] for r in batch["Records"]]

    # when the batch [picked_up, in_process] arrives
    first = shop.invoke(ORDERS, batch)

    # then picked_up and the later record come back; in_process did not move the order on
    assert len(refused) == 1
    assert first == {"batchItemFailures": [{"itemIdentifier": s} for s in sequences]}
    # and the redelivered batch sends the picked_up update after all, once
    assert shop.invoke(ORDERS, batch) == {"batchItemFailures": []}
    assert shop.ledger("order#o-5001#picked_up")["status"] == "sent"
    assert len(shop.sms()) == 1
