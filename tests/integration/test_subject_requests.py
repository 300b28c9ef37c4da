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
    "LEDGER_TABLE": "LedgerTable",
    "PREFERENCES_TABLE": "PreferencesTable",
    "SUPPRESSIONS_TABLE": "SuppressionsTable",
}
PRODUCT_TABLES = ("LedgerTable", "PreferencesTable", "SuppressionsTable")


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


def test_forget_erases_the_customer_from_every_product_table_keeping_counts(
    history: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["forget", "c-1001"]) == 2  # refuses without --yes
    assert "c-1001" in _everything("LedgerTable")

    assert main(["forget", "c-1001", "--yes"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["messages"] == {"welcome/email/sent": 1, "welcome/sms/sent": 1}
    assert summary["preference_items"] == 2  # the state and the complaint's audit record
    assert summary["suppressions"] == 1  # the soft-bounce tally
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
    # the other customer is untouched, and so is the business's own Customers row
    assert "c-1002" in _everything("LedgerTable")
    assert "c-1001" in _everything("CustomersTable")


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
