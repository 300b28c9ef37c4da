"""SES bounce and complaint notifications, in the shape SES publishes them through SNS."""

from __future__ import annotations

import json
from typing import Any

import boto3

from lifecycle.adapters.preferences import DynamoPreferences
from lifecycle.adapters.suppressions import DynamoSuppressions
from lifecycle.messaging.message import Channel
from tests.conftest import Aws, load_event

FUNCTION = "SesFeedbackFunction"


def _suppressions() -> DynamoSuppressions:
    return DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable")


def _items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName="SuppressionsTable")["Items"]


def test_permanent_bounce_suppresses_the_address_and_replay_changes_nothing(aws: Aws) -> None:
    event = load_event("ses-bounce-permanent.json")

    aws.invoke(FUNCTION, event)
    first = _items()
    aws.invoke(FUNCTION, load_event("ses-bounce-permanent.json"))

    reason = _suppressions().reason_for(Channel.EMAIL, "mehmet.kaya@bounce.example.com")
    assert reason is not None
    assert reason.startswith("permanent bounce (Permanent/General) at 2026-11-22T09:15:00")
    assert _items() == first


def test_suppressed_address_gets_no_more_email(aws: Aws) -> None:
    aws.invoke(FUNCTION, load_event("ses-bounce-permanent.json"))
    record = load_event("customers-insert.json")["Records"][0]
    record["dynamodb"]["NewImage"]["customer_id"] = {"S": "c-1007"}
    record["dynamodb"]["NewImage"]["email"] = {"S": "mehmet.kaya@bounce.example.com"}

    aws.invoke("WelcomeFunction", {"Records": [record]})

    assert aws.emails() == []
    assert aws.ledger("welcome#c-1007#email")["reason"].startswith("suppressed: permanent bounce")


def test_transient_bounce_is_counted_once_per_notification(aws: Aws) -> None:
    event = load_event("ses-bounce-transient.json")

    aws.invoke(FUNCTION, event)
    aws.invoke(FUNCTION, load_event("ses-bounce-transient.json"))
    second = load_event("ses-bounce-transient.json")
    message = json.loads(second["Records"][0]["Sns"]["Message"])
    message["bounce"]["feedbackId"] = "another-soft-bounce"
    second["Records"][0]["Sns"]["Message"] = json.dumps(message)
    aws.invoke(FUNCTION, second)

    (tally,) = [i for i in _items() if i["address_hash"]["S"].startswith("soft#")]
    assert tally["soft_bounces"]["N"] == "2"
    assert _suppressions().reason_for(Channel.EMAIL, "ann.fischer@example.com") is None


def test_complaint_unsubscribes_from_all_marketing_at_once(aws: Aws) -> None:
    aws.invoke(FUNCTION, load_event("ses-complaint.json"))
    aws.invoke(FUNCTION, load_event("ses-complaint.json"))

    store = DynamoPreferences(boto3.client("dynamodb"), "PreferencesTable")
    assert store.get("c-1010").opt_outs == {"email:*", "sms:*"}
    (event,) = store.history("c-1010")
    assert event["source"] == "ses-complaint"


def test_complaint_without_a_customer_tag_suppresses_the_address(aws: Aws) -> None:
    event = load_event("ses-complaint.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    del message["mail"]["tags"]["customer"]
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)

    aws.invoke(FUNCTION, event)

    reason = _suppressions().reason_for(Channel.EMAIL, "grace.obi@example.com")
    assert reason is not None
    assert reason.startswith("complaint (abuse)")


def test_delivery_events_and_garbage_are_ignored(aws: Aws) -> None:
    event = load_event("ses-complaint.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps({"eventType": "Delivery", "mail": {}})
    aws.invoke(FUNCTION, event)
    event["Records"][0]["Sns"]["Message"] = "not json"
    aws.invoke(FUNCTION, event)

    assert _items() == []


def test_sent_email_carries_the_customer_tag_for_feedback(aws: Aws) -> None:
    calls: list[dict[str, Any]] = []
    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register(
        "before-parameter-build.sesv2.SendEmail", lambda params, **_: calls.append(params)
    )

    aws.invoke("WelcomeFunction", load_event("customers-insert.json"))

    tags = {t["Name"]: t["Value"] for t in calls[0]["EmailTags"]}
    # the ledger key holds `#`, so it travels hex-encoded (a welcome has no campaign or variant)
    assert tags == {
        "customer": "c-1001",
        "kind": "service",
        "stage": "welcome",
        "message_hex": b"welcome#c-1001#email".hex(),
    }
    assert calls[0]["ConfigurationSetName"] == "SesConfigurationSet"


def test_customer_ids_outside_ses_tag_characters_still_come_back(aws: Aws) -> None:
    from lifecycle.adapters.ses import tag_pairs

    pairs = dict(tag_pairs({"customer": "shop:c.1@eu", "stage": "welcome"}))
    assert pairs == {"customer_hex": b"shop:c.1@eu".hex(), "stage": "welcome"}

    event = load_event("ses-complaint.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    del message["mail"]["tags"]["customer"]
    message["mail"]["tags"]["customer_hex"] = [pairs["customer_hex"]]
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)

    aws.invoke(FUNCTION, event)

    store = DynamoPreferences(boto3.client("dynamodb"), "PreferencesTable")
    assert store.get("shop:c.1@eu").opt_outs == {"email:*", "sms:*"}
    assert _suppressions().reason_for(Channel.EMAIL, "grace.obi@example.com") is None


def test_transient_bounce_keeps_its_reason(aws: Aws) -> None:
    aws.invoke(FUNCTION, load_event("ses-bounce-transient.json"))

    (tally,) = _items()
    assert tally["last_reason"]["S"].startswith("transient bounce (Transient/MailboxFull)")
