"""Quiet hours over moto, through the template's functions: an order update by SMS at 22:30 in
Amsterdam waits in one schedule, and firing it sends the update once at 08:00; a campaign's
SMS held back the same way is made again from its template folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import time_machine
from moto import mock_aws

from lifecycle.adapters.dynamo import plain
from lifecycle.local.stack import LocalStack
from lifecycle.messaging import deferral
from lifecycle.messaging.message import Channel
from lifecycle.models import Customer
from lifecycle.stages.announcements import campaign, journey
from tests.conftest import PARAMETERS, Aws, fresh_session, load_event

ORDERS = "OrdersFunction"
DEFERRED = "DeferredSendFunction"
GROUP = "DeferredMessagesGroup"
NIGHT = datetime(2026, 11, 24, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam
LATER_THAT_NIGHT = datetime(2026, 11, 24, 22, 10, tzinfo=UTC)
MORNING = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 08:00 in Amsterdam
REASON = "quiet hours until 08:00 Europe/Amsterdam (time zone from: customer)"


@pytest.fixture
def night() -> Iterator[Aws]:
    """The template's stack with its default quiet hours; Sanne (Amsterdam, SMS consent) is
    a customer and her order o-5001 is in the Orders table."""
    with mock_aws():
        fresh_session()
        aws = Aws(LocalStack.deployed({**PARAMETERS, "QuietHours": "21:00-08:00"}))
        sanne = load_event("customers-insert.json")["Records"][1]["dynamodb"]["NewImage"]
        boto3.client("dynamodb").put_item(TableName="CustomersTable", Item=sanne)
        yield aws


def status_update(aws: Aws, status: str, at: datetime) -> Any:
    """The order reaches `status` at `at`: its row is written, its stream record delivered."""
    event = load_event(f"orders-{status.replace('_', '-')}.json")
    image = event["Records"][0]["dynamodb"]["NewImage"]
    boto3.client("dynamodb").put_item(TableName="OrdersTable", Item=image)
    with time_machine.travel(at, tick=False):
        return aws.invoke(ORDERS, event)


def schedules() -> list[dict[str, Any]]:
    client = boto3.client("scheduler")
    listed = client.list_schedules(GroupName=GROUP)["Schedules"]
    return [dict(client.get_schedule(Name=s["Name"], GroupName=GROUP)) for s in listed]


def fire(aws: Aws, schedule: dict[str, Any], at: datetime) -> Any:
    """What Scheduler does at the schedule's time: invoke its target with its input."""
    target = aws.stack.function_by_arn(schedule["Target"]["Arn"])
    assert target is not None
    with time_machine.travel(at, tick=False):
        return aws.invoke(target.logical_id, json.loads(schedule["Target"]["Input"]))


def test_an_update_at_half_past_ten_at_night_waits_in_one_schedule_for_eight(night: Aws) -> None:
    # when her order is ready at 22:30 her time
    assert status_update(night, "ready", NIGHT) == {"batchItemFailures": []}

    # then no SMS: one schedule at 08:00 her time, and the ledger says why and when
    assert night.sms() == []
    (schedule,) = schedules()
    assert schedule["ScheduleExpression"] == "at(2026-11-25T07:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"].endswith(":function:lifecycle-deferred-send")
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(":DeferredSendFailureQueue")
    assert "+31612345678" not in schedule["Target"]["Input"]
    entry = night.ledger("order#o-5001#ready")
    assert entry is not None
    assert entry["status"] == "deferred"
    assert entry["problem"] == "deferred"
    assert entry["reason"] == REASON
    assert entry["deliver_at"] == "2026-11-25T07:00:00+00:00"
    assert (entry["timezone"], entry["timezone_source"]) == ("Europe/Amsterdam", "customer")


def test_firing_the_schedule_sends_the_update_once_at_eight(night: Aws) -> None:
    status_update(night, "ready", NIGHT)
    (schedule,) = schedules()

    # when Scheduler fires it at 08:00, and (at least once) again
    first = fire(night, schedule, MORNING)
    again = fire(night, schedule, MORNING)

    # then the update goes once, and the ledger keeps that it waited
    assert first == {"status": "sent", "reason": ""}
    assert again == {"status": "duplicate", "reason": "already sent"}
    ((phone, text),) = night.sms()
    assert phone == "+31612345678"
    assert "o-5001" in text
    entry = night.ledger("order#o-5001#ready")
    assert entry is not None
    assert entry["status"] == "sent"
    assert entry["deferred_reason"] == REASON
    assert "problem" not in entry


def test_a_replayed_trigger_makes_no_second_schedule_and_no_second_sms(night: Aws) -> None:
    # given the update deferred at 22:30, and its stream record delivered again at 23:10
    status_update(night, "ready", NIGHT)
    status_update(night, "ready", LATER_THAT_NIGHT)

    # then there is still one schedule; firing it sends one SMS
    (schedule,) = schedules()
    fire(night, schedule, MORNING)
    assert len(night.sms()) == 1


def test_the_driver_on_the_way_is_news_that_cannot_wait(night: Aws) -> None:
    status_update(night, "out_for_delivery", NIGHT)

    assert len(night.sms()) == 1
    assert schedules() == []


def test_an_update_the_order_has_outrun_by_morning_is_skipped_as_stale(night: Aws) -> None:
    # given "ready" deferred at 22:30, and the order out for delivery at 07:30 (sent at once)
    status_update(night, "ready", NIGHT)
    (schedule,) = schedules()
    status_update(night, "out_for_delivery", datetime(2026, 11, 25, 6, 30, tzinfo=UTC))

    # when the deferred update's schedule fires at 08:00
    outcome = fire(night, schedule, MORNING)

    # then it is not sent after the newer news
    assert outcome == {"status": "skipped", "reason": "stale: order already out_for_delivery"}
    assert len(night.sms()) == 1  # "out for delivery", at 07:30
    entry = night.ledger("order#o-5001#ready")
    assert entry is not None
    assert (entry["status"], entry["reason"]) == (
        "skipped",
        "stale: order already out_for_delivery",
    )


def test_consent_withdrawn_overnight_is_honoured_at_eight(night: Aws) -> None:
    status_update(night, "ready", NIGHT)
    (schedule,) = schedules()
    boto3.client("dynamodb").update_item(
        TableName="CustomersTable",
        Key={"customer_id": {"S": "c-1002"}},
        UpdateExpression="SET consent.sms_transactional = :no",
        ExpressionAttributeValues={":no": {"BOOL": False}},
    )

    outcome = fire(night, schedule, MORNING)

    # she still has an email address: the update goes there instead, as any refused SMS does
    assert outcome["status"] == "sent"
    assert night.sms() == []
    assert len(night.emails()) == 1


def test_the_sample_deferred_send_event_is_what_a_deferral_writes(night: Aws) -> None:
    # given the order ready, the sample event the repository keeps for this trigger
    status_update(night, "ready", datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    event = load_event("schedule-deferred-send.json")

    # a redelivered deferral of an update already sent sends nothing more
    with time_machine.travel(MORNING, tick=False):
        result = night.invoke(DEFERRED, event)

    assert result == {"status": "duplicate", "reason": "already sent"}
    assert len(night.sms()) == 1


def campaign_sms(template: str) -> dict[str, Any]:
    """What a campaign's SMS to Sanne, held back by her quiet hours until 08:00, leaves in its
    schedule (the message made as the announcement journey makes it)."""
    eco = campaign.parse(
        {
            "id": "eco-wash-launch",
            "name": "Eco wash launch",
            "channels": ["sms"],
            "send": {"at": "2026-11-24T21:30:00Z"},
            "message": {
                "template": template,
                "link": "https://freshfold.example/eco",
                "details": {"launch_day": "2026-05-25", "area": "Amsterdam"},
            },
        }
    )
    image = load_event("customers-insert.json")["Records"][1]["dynamodb"]["NewImage"]
    sanne = Customer.model_validate(plain(image))
    message = journey.message(eco, "", sanne, Channel.SMS, prospect=False)
    return deferral.payload(message, until=MORNING, since=NIGHT)


def test_a_campaign_sms_deferred_by_quiet_hours_is_made_again_from_its_folder(night: Aws) -> None:
    # given Sanne takes marketing SMS, and a campaign SMS to her waited for 08:00
    boto3.client("dynamodb").update_item(
        TableName="CustomersTable",
        Key={"customer_id": {"S": "c-1002"}},
        UpdateExpression="SET consent.sms_marketing = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}},
    )
    event = campaign_sms("campaign_eco_wash")

    # when its schedule fires at 08:00, and again
    with time_machine.travel(MORNING, tick=False):
        first = night.invoke(DEFERRED, event)
        again = night.invoke(DEFERRED, event)

    # then it goes once, in Dutch, with the opt-out marketing SMS carry
    assert first == {"status": "sent", "reason": ""}
    assert again == {"status": "duplicate", "reason": "already sent"}
    ((phone, text),) = night.sms()
    assert phone == "+31612345678"
    assert "ecowas" in text
    assert "https://freshfold.example/eco" in text
    assert text.endswith("Antwoord STOP om af te melden")
    entry = night.ledger("campaign#eco-wash-launch#c-1002")
    assert entry is not None
    assert (entry["status"], entry["template"], entry["campaign"]) == (
        "sent",
        "campaign_eco_wash",
        "eco-wash-launch",
    )


def test_a_deferred_template_that_is_no_campaign_folder_is_rejected(night: Aws) -> None:
    event = {**campaign_sms("campaign_eco_wash"), "template": "campaign_spring_sale"}

    with time_machine.travel(MORNING, tick=False):
        outcome = night.invoke(DEFERRED, event)

    assert outcome == {
        "status": "rejected",
        "reason": "not a message that can be deferred: campaign_spring_sale",
    }
    assert night.sms() == []
