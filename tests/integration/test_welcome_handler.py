"""The welcome Lambda, as named in the template, fed Lambda-shaped Customers-stream events."""

from __future__ import annotations

import copy
import io
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from lifecycle.observability import logger
from tests.conftest import ROOT, Aws, load_event

WELCOME = "WelcomeFunction"


def _insert(customer_id: str, sequence: str, **attributes: Any) -> dict[str, Any]:
    """One INSERT record in Lambda's shape, built from the sample event's first record."""
    record = copy.deepcopy(load_event("customers-insert.json")["Records"][0])
    image: dict[str, Any] = {
        "customer_id": {"S": customer_id},
        "first_name": {"S": attributes.pop("first_name", "Ann")},
        "created_at": {"S": "2026-11-22T09:00:00+00:00"},
    }
    consent = attributes.pop("consent", {})
    image["consent"] = {"M": {k: {"BOOL": v} for k, v in consent.items()}}
    for name, value in attributes.items():
        image[name] = {"S": value}
    record["dynamodb"]["NewImage"] = image
    record["dynamodb"]["Keys"] = {"customer_id": {"S": customer_id}}
    record["dynamodb"]["SequenceNumber"] = sequence
    record["eventID"] = f"event-{sequence}"
    return record


def test_sample_insert_sends_welcome_email_and_sms(aws: Aws) -> None:
    # given the sample event: two new customers who gave a phone and SMS consent
    event = load_event("customers-insert.json")

    # when the template's welcome handler receives it
    response = aws.invoke(WELCOME, event)

    # then nothing failed, and each got one email and one SMS
    assert response == {"batchItemFailures": []}
    assert sorted(e.to for e in aws.emails()) == [
        "ann.fischer@example.com",
        "sanne.devries@example.nl",
    ]
    assert sorted(phone for phone, _ in aws.sms()) == ["+31612345678", "+447911123456"]
    assert aws.ledger("welcome#c-1001#email")["status"] == "sent"
    assert aws.ledger("welcome#c-1002#sms")["status"] == "sent"


def test_same_batch_twice_sends_each_welcome_once(aws: Aws) -> None:
    event = load_event("customers-insert.json")

    aws.invoke(WELCOME, event)
    second = aws.invoke(WELCOME, load_event("customers-insert.json"))

    assert second == {"batchItemFailures": []}
    assert len(aws.emails()) == 2
    assert len(aws.sms()) == 2


def test_throttled_record_alone_is_retried_and_then_sent_once(aws: Aws) -> None:
    # given SES throttles the send to Sanne, once
    event = load_event("customers-insert.json")
    throttled = aws.fail_sends(
        "sesv2",
        "SendEmail",
        "TooManyRequestsException",
        when=lambda params: params["Destination"]["ToAddresses"] == ["sanne.devries@example.nl"],
    )

    # when the batch is delivered
    first = aws.invoke(WELCOME, event)

    # then only Sanne's record is reported as failed, and her claim was released
    sanne_sequence = event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert first == {"batchItemFailures": [{"itemIdentifier": sanne_sequence}]}
    assert len(throttled) == 1
    assert [e.to for e in aws.emails()] == ["ann.fischer@example.com"]
    assert aws.ledger("welcome#c-1002#email") is None

    # when Lambda redelivers the whole batch
    second = aws.invoke(WELCOME, load_event("customers-insert.json"))

    # then Sanne's email goes once, and nothing else goes twice
    assert second == {"batchItemFailures": []}
    assert sorted(e.to for e in aws.emails()) == [
        "ann.fischer@example.com",
        "sanne.devries@example.nl",
    ]
    assert len(aws.sms()) == 2
    assert aws.ledger("welcome#c-1002#email")["status"] == "sent"


@pytest.mark.parametrize("sample", ["customers-modify.json", "customers-remove.json"])
def test_modify_and_remove_send_nothing(aws: Aws, sample: str) -> None:
    response = aws.invoke(WELCOME, load_event(sample))

    assert response == {"batchItemFailures": []}
    assert aws.emails() == []
    assert aws.sms() == []


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"email": "ann.at.example.com"}, "email: not a valid email address"),
        (
            {"email": "ann@example.com", "phone": "0612345678"},
            "phone: not an E.164 phone number",
        ),
        ({"email": "ann@example.com", "first_name": ""}, "first_name"),
        ({}, "needs an email or a phone"),
    ],
)
def test_malformed_record_is_recorded_and_does_not_fail_the_batch(
    aws: Aws, attributes: dict[str, Any], reason: str
) -> None:
    # given a batch with a malformed customer beside a good one
    good = _insert("c-good", "200", email="good@example.com")
    bad = _insert("c-bad", "201", **attributes)

    response = aws.invoke(WELCOME, {"Records": [bad, good]})

    # then the batch succeeds, only the good customer is welcomed, the reason is stored
    assert response == {"batchItemFailures": []}
    assert [e.to for e in aws.emails()] == ["good@example.com"]
    rejected = aws.ledger("welcome#c-bad#rejected")
    assert rejected is not None
    assert rejected["status"] == "failed"
    assert reason in rejected["reason"]
    for value in attributes.values():
        if value:
            assert value not in rejected["reason"]


def test_record_without_customer_id_is_recorded_by_sequence_number(aws: Aws) -> None:
    record = _insert("c-x", "300", email="x@example.com")
    del record["dynamodb"]["NewImage"]["customer_id"]

    response = aws.invoke(WELCOME, {"Records": [record]})

    assert response == {"batchItemFailures": []}
    stored = aws.ledger("welcome#record-300#rejected")
    assert stored is not None
    assert "missing required attribute customer_id" in stored["reason"]


def test_customer_without_sms_consent_gets_no_sms(aws: Aws) -> None:
    record = _insert(
        "c-elif",
        "400",
        email="elif@example.com.tr",
        phone="+905321234567",
        locale="tr-TR",
        consent={"sms_transactional": False, "email_marketing": True},
    )

    aws.invoke(WELCOME, {"Records": [record]})

    assert aws.sms() == []
    assert [e.to for e in aws.emails()] == ["elif@example.com.tr"]
    skipped = aws.ledger("welcome#c-elif#sms")
    assert skipped is not None
    assert skipped["status"] == "skipped"
    assert skipped["reason"] == "no consent: sms_transactional"


def test_first_name_with_markup_is_escaped_in_html(aws: Aws) -> None:
    record = _insert("c-html", "500", email="ann@example.com", first_name="<b>Ann</b>")

    aws.invoke(WELCOME, {"Records": [record]})

    (sent,) = aws.emails()
    html = sent.part("html")
    assert "&lt;b&gt;Ann&lt;/b&gt;" in html
    assert "<b>Ann</b>" not in html
    # the text part is plain text: shown as typed, nothing to escape
    assert "<b>Ann</b>" in sent.part("plain")


@pytest.mark.parametrize(
    ("locale", "expected_subject", "expected_body"),
    [
        ("nl-NL", "Welkom bij Fresh Fold Laundry", "Plan je eerste ophaalmoment"),
        ("zh-TW", "歡迎加入 Fresh Fold Laundry", "預約第一次收件"),
        ("tr-TR", "Hoş geldiniz", "İlk alımınızı planlayın"),
        ("fr-FR", "Welcome to Fresh Fold Laundry", "Book your first pickup"),
        ("en-US", "Welcome to Fresh Fold Laundry", "Book your first pickup"),
    ],
)
def test_welcome_is_in_the_customers_language(
    aws: Aws, locale: str, expected_subject: str, expected_body: str
) -> None:
    record = _insert("c-loc", "600", email="loc@example.com", locale=locale)

    aws.invoke(WELCOME, {"Records": [record]})

    (sent,) = aws.emails()
    assert expected_subject in sent.subject
    assert expected_body in sent.part("html")
    assert expected_body in sent.part("plain")


def test_unknown_locale_gets_the_stacks_default_locale(aws: Aws) -> None:
    aws.stack.parameters["DefaultLocale"] = "nl"
    record = _insert("c-fr", "650", email="fr@example.com", locale="fr-FR")

    aws.invoke(WELCOME, {"Records": [record]})

    (sent,) = aws.emails()
    assert "Welkom bij" in sent.subject


def test_template_with_undefined_variable_fails_naming_it_and_sends_nothing(
    aws: Aws, tmp_path: Path
) -> None:
    # given a copy of the templates where the Dutch subject uses a variable nobody provides
    broken = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", broken)
    (broken / "welcome" / "nl" / "email.subject.j2").write_text(
        "Welkom {{ first_name }}, je code is {{ promo_code }}\n", encoding="utf-8"
    )
    record = _insert("c-nl", "700", email="nl@example.com", locale="nl-NL")

    # when the handler runs with those templates
    response = aws.invoke(WELCOME, {"Records": [record]}, TEMPLATES_DIR=str(broken))

    # then nothing is sent, the batch is not retried (a template bug will not fix itself),
    # and the ledger names the template file and the variable
    assert response == {"batchItemFailures": []}
    assert aws.emails() == []
    failed = aws.ledger("welcome#c-nl#email")
    assert failed is not None
    assert failed["status"] == "failed"
    assert "welcome/nl/email.subject.j2" in failed["reason"]
    assert "promo_code" in failed["reason"]


def test_no_address_or_phone_number_in_any_log_line(aws: Aws) -> None:
    # given good, malformed, throttled and refused records in one batch
    event = load_event("customers-insert.json")
    event["Records"].append(
        _insert("c-bad", "800", email="broken@@example.com", phone="+31 6 1234 5678")
    )
    event["Records"].append(
        _insert("c-elif", "801", email="elif@example.com.tr", phone="+905321234567")
    )
    aws.fail_sends(
        "sns",
        "Publish",
        "Throttling",
        when=lambda params: params["PhoneNumber"] == "+31612345678",
        message="Rate exceeded for +31612345678 (sanne.devries@example.nl)",
    )

    # when the batch is delivered twice, with every log line captured
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        aws.invoke(WELCOME, event)
        aws.invoke(WELCOME, event)
    finally:
        handler.setStream(previous)

    # then every log line is JSON and none contains an address or number unmasked
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert any('"message sent"' in line for line in lines)
    assert any('"record rejected"' in line for line in lines)
    for secret in (
        "ann.fischer@example.com",
        "sanne.devries@example.nl",
        "elif@example.com.tr",
        "broken@@example.com",
        "+447911123456",
        "+31612345678",
        "+905321234567",
        "+31 6 1234 5678",
    ):
        offending = [line for line in lines if secret in line]
        assert offending == [], f"{secret} appears in a log line: {offending[0]}"
    for line in lines:
        json.loads(line)


def test_message_held_by_a_dead_senders_claim_is_retried_then_sent_after_the_lease(
    aws: Aws,
) -> None:
    # given a sender that claimed Sanne's welcome email and died before sending it
    client = boto3.client("dynamodb")
    client.put_item(
        TableName="LedgerTable",
        Item={
            "message_key": {"S": "welcome#c-1002#email"},
            "status": {"S": "claimed"},
            "claim_token": {"S": "dead-sender"},
            "lease_until": {"N": str(int(time.time()) + 60)},
        },
    )
    event = load_event("customers-insert.json")
    sanne = event["Records"][1]["dynamodb"]["SequenceNumber"]

    # when the batch arrives within the lease, with too little time left to wait it out,
    # Sanne's record fails (it is not "already sent")
    first = aws.invoke(WELCOME, event, seconds_left=60)
    assert first == {"batchItemFailures": [{"itemIdentifier": sanne}]}
    assert "sanne.devries@example.nl" not in [e.to for e in aws.emails()]

    # and once the lease has run out, the redelivered batch sends it, once
    client.update_item(
        TableName="LedgerTable",
        Key={"message_key": {"S": "welcome#c-1002#email"}},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    second = aws.invoke(WELCOME, load_event("customers-insert.json"))
    assert second == {"batchItemFailures": []}
    assert [e.to for e in aws.emails()].count("sanne.devries@example.nl") == 1
    assert aws.ledger("welcome#c-1002#email")["status"] == "sent"


def test_a_claim_whose_lease_ends_within_the_invocation_is_waited_out_then_sent(
    aws: Aws,
) -> None:
    # given a send in doubt whose claim has two seconds of lease left
    boto3.client("dynamodb").put_item(
        TableName="LedgerTable",
        Item={
            "message_key": {"S": "welcome#c-1002#email"},
            "status": {"S": "claimed"},
            "claim_token": {"S": "in-doubt"},
            "lease_until": {"N": str(int(time.time()) + 2)},
        },
    )
    started = time.monotonic()

    # when the record is redelivered to an invocation with its whole timeout ahead
    response = aws.invoke(WELCOME, load_event("customers-insert.json"))

    # then it waited the lease out, took the claim and sent once, within the invocation
    assert response == {"batchItemFailures": []}
    assert 2 <= time.monotonic() - started < 10
    assert [e.to for e in aws.emails()].count("sanne.devries@example.nl") == 1
