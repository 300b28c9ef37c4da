"""`lifecycle export` and `lifecycle forget`: a customer's data, out and then gone."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from lifecycle.cli import main
from tests.conftest import Aws, load_event

TABLES = {
    "CUSTOMERS_TABLE": "CustomersTable",
    "ORDERS_TABLE": "OrdersTable",
    "LEDGER_TABLE": "LedgerTable",
    "PREFERENCES_TABLE": "PreferencesTable",
    "SUPPRESSIONS_TABLE": "SuppressionsTable",
    "RATINGS_TABLE": "RatingsTable",
}
PRODUCT_TABLES = ("LedgerTable", "PreferencesTable", "SuppressionsTable", "RatingsTable")


@pytest.fixture
def history(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """Ann and Sanne were welcomed; Ann complained, Sanne's mailbox bounced once."""
    for name, value in TABLES.items():
        monkeypatch.setenv(name, value)
    event = load_event("customers-insert.json")
    dynamodb = boto3.client("dynamodb")
    for record in event["Records"]:
        dynamodb.put_item(TableName="CustomersTable", Item=record["dynamodb"]["NewImage"])
    aws.invoke("WelcomeFunction", event)
    complaint = load_event("ses-complaint.json")
    message = json.loads(complaint["Records"][0]["Sns"]["Message"])
    message["mail"]["tags"]["customer"] = ["c-1001"]
    message["complaint"]["complainedRecipients"] = [{"emailAddress": "ann.fischer@example.com"}]
    complaint["Records"][0]["Sns"]["Message"] = json.dumps(message)
    aws.invoke("SesFeedbackFunction", complaint)
    bounce = load_event("ses-bounce-transient.json")
    aws.invoke("SesFeedbackFunction", bounce)  # a soft bounce tallied for Ann's address
    # Ann rated an order, with a comment
    dynamodb.update_item(
        TableName="RatingsTable",
        Key={"order_id": {"S": "o-9001"}},
        UpdateExpression="SET customer_id = :c, score = :s, customer_comment = :t, updated_at = :u",
        ExpressionAttributeValues={
            ":u": {"S": "2026-11-27T19:45:00+00:00"},
            ":c": {"S": "c-1001"},
            ":s": {"N": "2"},
            ":t": {"S": "Ann's shirt was torn"},
        },
    )
    return aws


def _everything(table: str) -> str:
    return json.dumps(boto3.client("dynamodb").scan(TableName=table)["Items"], ensure_ascii=False)


def test_export_holds_preferences_messages_and_suppressions(
    history: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "c-1001"]) == 0

    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["customer_record"]["email"] == "ann.fischer@example.com"
    assert data["preferences"]["opt_outs"] == ["email:*", "sms:*"]
    assert data["preferences"]["history"][0]["source"] == "ses-complaint"
    assert sorted(m["message_key"] for m in data["messages"]) == [
        "welcome#c-1001#email",
        "welcome#c-1001#sms",
    ]
    assert set(data["suppressions"]) == {"email", "sms"}
    assert data["transient_bounces"] == 1
    assert data["orders"] == []
    assert [(r["order_id"], r["customer_comment"]) for r in data["ratings"]] == [
        ("o-9001", "Ann's shirt was torn")
    ]


def test_forget_erases_the_customer_from_every_product_table_keeping_counts(
    history: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["forget", "c-1001"]) == 2  # refuses without --yes
    assert main(["forget", "c-1001", "--yes"]) == 2  # and while the Customers row exists
    assert "still has a row in the Customers table" in capsys.readouterr().err
    assert "c-1001" in _everything("LedgerTable")
    # the business erases its own row first, then asks the product to forget
    boto3.client("dynamodb").delete_item(
        TableName="CustomersTable", Key={"customer_id": {"S": "c-1001"}}
    )

    assert main(["forget", "c-1001", "--yes", "--email", "ann.fischer@example.com"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["messages"] == {"welcome/email/sent": 1, "welcome/sms/sent": 1}
    assert summary["preference_items"] == 2  # the state and the complaint's audit record
    assert summary["suppressions"] == 1  # the soft-bounce tally
    assert summary["ratings"] == 1
    for table in PRODUCT_TABLES:
        dump = _everything(table)
        for trace in ("c-1001", "ann.fischer", "+447911123456"):
            assert trace not in dump, f"{trace} left in {table}"
    tombstones = [
        i
        for i in boto3.client("dynamodb").scan(TableName="LedgerTable")["Items"]
        if i["status"]["S"] == "forgotten"
    ]
    assert tombstones[0]["counts"]["M"]["welcome/email/sent"] == {"N": "1"}
    # the other customer is untouched
    assert "c-1002" in _everything("LedgerTable")


def test_forget_keeps_bounce_suppressions_unless_asked(history: Aws) -> None:
    history.invoke("SesFeedbackFunction", load_event("ses-bounce-permanent.json"))
    hashes = _everything("SuppressionsTable")

    assert main(["forget", "c-1001", "--yes", "--include-customer-record"]) == 0
    kept = _everything("SuppressionsTable")
    assert "permanent bounce" in kept  # Mehmet's address: anonymous, and never mailed again
    assert "soft_bounces" not in kept  # Ann's tally went with her
    assert hashes != kept

    assert (
        main(
            [
                "forget",
                "c-1007",
                "--yes",
                "--erase-suppressions",
                "--email",
                "mehmet.kaya@bounce.example.com",
            ]
        )
        == 0
    )
    assert "permanent bounce" not in _everything("SuppressionsTable")


def test_forget_can_delete_the_customer_row_too(history: Aws) -> None:
    assert main(["forget", "c-1001", "--yes", "--include-customer-record"]) == 0

    assert "c-1001" not in _everything("CustomersTable")


def test_without_tables_the_commands_say_what_is_missing(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in TABLES:
        monkeypatch.delenv(name, raising=False)

    assert main(["export", "c-1"]) == 2
    assert "give --stack, or set CUSTOMERS_TABLE" in capsys.readouterr().err
