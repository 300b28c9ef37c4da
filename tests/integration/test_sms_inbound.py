"""Two-way SMS: a STOP reply suppresses the number, START lifts it, replays change nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from lifecycle.adapters.preferences import DynamoPreferences
from lifecycle.adapters.suppressions import DynamoSuppressions
from lifecycle.local.stack import LOCAL_PARAMETERS, LocalStack
from lifecycle.messaging.message import Channel
from lifecycle.privacy import address_hash
from lifecycle.stages.subscribers.notifications import keyword
from tests.conftest import Aws, load_event

FUNCTION = "SmsInboundFunction"


@pytest.fixture
def two_way(aws: Aws) -> Aws:
    """The stack as deployed with a two-way SMS topic configured."""
    params = {**LOCAL_PARAMETERS, "InboundSmsTopicArn": "arn:aws:sns:eu-west-1:1:replies"}
    aws.stack = LocalStack.from_template(params)
    return aws


def _reply(body: str, inbound_id: str) -> dict[str, object]:
    event = load_event("sms-inbound-stop.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message.update(messageBody=body, inboundMessageId=inbound_id)
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


def _reason() -> str | None:
    return DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable").reason_for(
        Channel.SMS, "+31612345678"
    )


def test_the_function_exists_only_with_two_way_sms_configured(aws: Aws, two_way: Aws) -> None:
    assert FUNCTION in [f.logical_id for f in two_way.stack.functions()]
    assert FUNCTION not in [
        f.logical_id for f in LocalStack.from_template(LOCAL_PARAMETERS).functions()
    ]


def test_stop_suppresses_the_number_and_welcome_sends_no_sms(two_way: Aws) -> None:
    two_way.invoke(FUNCTION, load_event("sms-inbound-stop.json"))

    assert (_reason() or "").startswith("replied STOP at ")
    two_way.invoke("WelcomeFunction", load_event("customers-insert.json"))
    assert "+31612345678" not in [phone for phone, _ in two_way.sms()]
    assert two_way.ledger("welcome#c-1002#sms")["reason"].startswith("suppressed: replied STOP")


def test_start_lifts_stop_but_not_other_suppressions_and_replays_change_nothing(
    two_way: Aws,
) -> None:
    two_way.invoke(FUNCTION, _reply("STOP", "in-1"))
    two_way.invoke(FUNCTION, _reply("start", "in-2"))
    assert _reason() is None
    number = f"number#{address_hash(Channel.SMS, '+31612345678')}"
    audit = DynamoPreferences(boto3.client("dynamodb"), "PreferencesTable").history(number)
    assert [e["source"] for e in audit] == ["sms-stop", "sms-start"]

    # replaying the old STOP does not suppress again
    two_way.invoke(FUNCTION, _reply("STOP", "in-1"))
    assert _reason() is None

    DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable").suppress(
        Channel.SMS,
        "+31612345678",
        "invalid number (carrier)",
        datetime.now(UTC),
    )
    two_way.invoke(FUNCTION, _reply("START", "in-3"))
    assert _reason() == "invalid number (carrier)"


@pytest.mark.parametrize(
    ("body", "meaning"),
    [
        ("STOP", "stop"),
        (" stop please", "stop"),
        ("Unsubscribe", "stop"),
        ("START", "start"),
        ("yes", "start"),
        ("Thanks!", None),
        ("", None),
    ],
)
def test_keywords(body: str, meaning: str | None) -> None:
    assert keyword(body) == meaning
