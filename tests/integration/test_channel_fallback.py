"""The channel a customer can actually get: order updates the contact policy refuses on their
default channel go by the other one, through the real Orders handler."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import time_machine

from lifecycle.adapters.suppressions import DynamoSuppressions
from lifecycle.messaging.message import Channel
from tests.conftest import Aws, load_event

ORDERS = "OrdersFunction"


def _sanne(**consent: bool) -> dict[str, Any]:
    image: dict[str, Any] = load_event("customers-insert.json")["Records"][1]["dynamodb"][
        "NewImage"
    ]
    image["consent"] = {"M": {name: {"BOOL": value} for name, value in consent.items()}}
    return image


def _order(status: str) -> dict[str, Any]:
    return load_event(f"orders-{status.replace('_', '-')}.json")


@pytest.fixture(autouse=True)
def _before_pickup() -> Any:
    with time_machine.travel(datetime(2026, 11, 22, 10, 5, tzinfo=UTC), tick=False):
        yield


def test_a_customer_without_sms_consent_gets_sms_updates_by_email(aws: Aws) -> None:
    # given Sanne has a phone number but gave no SMS consent
    boto3.client("dynamodb").put_item(TableName="CustomersTable", Item=_sanne())

    aws.invoke(ORDERS, _order("scheduled"))
    aws.invoke(ORDERS, _order("picked_up"))

    # then the pickup update (an SMS by default) went by email, recorded as such
    assert aws.sms() == []
    assert len(aws.emails()) == 2
    item = aws.ledger("order#o-5001#picked_up")
    assert (item["status"], item["channel"]) == ("sent", "email")
    assert item["fallback"] == "sms refused: no consent: sms_transactional"


def test_a_bounced_address_still_gets_its_receipt_by_sms(aws: Aws) -> None:
    # given Sanne's email address bounced, and she consented to SMS updates
    boto3.client("dynamodb").put_item(
        TableName="CustomersTable", Item=_sanne(sms_transactional=True)
    )
    DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable").suppress(
        Channel.EMAIL, "sanne.devries@example.nl", "bounce", datetime.now(UTC)
    )

    aws.invoke(ORDERS, _order("scheduled"))

    # then the confirmation (an email by default) went by SMS
    assert aws.emails() == []
    assert len(aws.sms()) == 1
    item = aws.ledger("order#o-5001#scheduled")
    assert item["channel"] == "sms"
    assert item["fallback"] == "email refused: suppressed: bounce"


def test_with_no_channel_left_the_skip_names_both_refusals(aws: Aws) -> None:
    boto3.client("dynamodb").put_item(TableName="CustomersTable", Item=_sanne())
    DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable").suppress(
        Channel.EMAIL, "sanne.devries@example.nl", "bounce", datetime.now(UTC)
    )

    aws.invoke(ORDERS, _order("scheduled"))

    item = aws.ledger("order#o-5001#scheduled")
    assert item["status"] == "skipped"
    assert item["reason"] == "suppressed: bounce; sms: no consent: sms_transactional"
