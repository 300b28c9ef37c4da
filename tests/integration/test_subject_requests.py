"""`lifecycle export` and `lifecycle forget`: a customer's data, out and then gone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from lifecycle.adapters.cases import DynamoCases
from lifecycle.cli import main
from lifecycle.stages.feedback.cases import Case
from tests.conftest import Aws, load_event

TABLES = {
    "CUSTOMERS_TABLE": "CustomersTable",
    "ORDERS_TABLE": "OrdersTable",
    "LEDGER_TABLE": "LedgerTable",
    "PREFERENCES_TABLE": "PreferencesTable",
    "SUPPRESSIONS_TABLE": "SuppressionsTable",
    "RATINGS_TABLE": "RatingsTable",
    "PROFILES_TABLE": "ProfilesTable",
    "CASES_TABLE": "CasesTable",
}
PRODUCT_TABLES = (
    "LedgerTable",
    "PreferencesTable",
    "SuppressionsTable",
    "RatingsTable",
    "ProfilesTable",
    "CasesTable",
)


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
    # Ann's delivered order, folded into her profile from the Orders stream
    for status in ("scheduled", "delivered"):
        dynamodb.put_item(
            TableName="OrdersTable",
            Item={
                "order_id": {"S": "o-9001"},
                "customer_id": {"S": "c-1001"},
                "status": {"S": status},
                "updated_at": {"S": f"2026-11-2{5 if status == 'scheduled' else 7}T10:00:00Z"},
                "total": {"N": "42.80"},
                "currency": {"S": "EUR"},
            },
        )
    aws.invoke("ProfilesFunction", {"Records": aws.stack.read_stream("OrdersTable")})
    # Ann's low rating opened a complaint case, which staff acknowledged
    cases = DynamoCases(dynamodb, "CasesTable")
    alerted = datetime(2026, 11, 27, 19, 45, tzinfo=UTC)
    key = "complaint#o-9001#rating"
    cases.record_alert(Case(key, "o-9001", "c-1001", "rating", 2, alerted, alerted, "2026-W48"))
    cases.acknowledge(key, alerted + timedelta(hours=1), "Priya")
    return aws


def _everything(table: str) -> str:
    return json.dumps(boto3.client("dynamodb").scan(TableName=table)["Items"], ensure_ascii=False)


def test_export_holds_preferences_messages_and_suppressions(
    history: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "c-1001"]) == 0

    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert data["customer_record"]["email"] == "ann.fischer@example.com"
    (case,) = data["complaint_cases"]
    assert (case["case_id"], case["acknowledged_at"]) == (
        "complaint#o-9001#rating",
        "2026-11-27T20:45:00+00:00",
    )
    assert data["preferences"]["opt_outs"] == ["email:*", "sms:*"]
    assert data["preferences"]["history"][0]["source"] == "ses-complaint"
    assert sorted(m["message_key"] for m in data["messages"]) == [
        "welcome#c-1001#email",
        "welcome#c-1001#sms",
    ]
    assert set(data["suppressions"]) == {"email", "sms"}
    assert data["transient_bounces"] == 1
    assert [o["order_id"] for o in data["orders"]] == ["o-9001"]
    assert [(r["order_id"], r["customer_comment"]) for r in data["ratings"]] == [
        ("o-9001", "Ann's shirt was torn")
    ]
    # her profile, each order's contribution (points included) and her stage history
    profile = data["profile"]
    assert (profile["profile"]["points"], profile["profile"]["stage"]) == ("42", "new")
    assert [o["order_id"] for o in profile["orders"]] == ["o-9001"]
    assert [(c["old"], c["new"]) for c in profile["stage_history"]] == [("prospect", "new")]


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
    assert summary["complaint_cases"] == 1  # kept for the figures, without Ann's id
    case = DynamoCases(boto3.client("dynamodb"), "CasesTable").get("complaint#o-9001#rating")
    assert case is not None
    assert (case.customer_id, case.acknowledged_by) == ("forgotten", "Priya")
    assert summary["profile_items"] == 3  # the profile, the order's contribution, one change
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


def _orders(*rows: tuple[str, str]) -> None:
    dynamodb = boto3.client("dynamodb")
    for order_id, customer_id in rows:
        dynamodb.put_item(
            TableName="OrdersTable",
            Item={
                "order_id": {"S": order_id},
                "customer_id": {"S": customer_id},
                "status": {"S": "delivered"},
                "updated_at": {"S": f"2026-11-2{order_id[-1]}T10:00:00+00:00"},
                "items": {"L": [{"M": {"name": {"S": "Shirt"}, "quantity": {"N": "2"}}}]},
                "total": {"N": "12.50"},
                "currency": {"S": "EUR"},
            },
        )


def test_export_reads_orders_through_the_customer_index_never_a_scan(
    history: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    # given orders of Ann's and of others (more than one BatchGetItem would take of Ann's)
    _orders(*((f"o-{n:03}{n % 10}", "c-1001") for n in range(120)), ("o-9992", "c-1002"))
    calls: list[tuple[str, dict[str, Any]]] = []

    def watch(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))
        assert model.name != "Scan", f"export scanned {params.get('TableName')}"

    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("provide-client-params.dynamodb", watch)

    assert main(["export", "c-1001"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert len(data["orders"]) == 121  # and the order of hers the fixture wrote
    assert {o["customer_id"] for o in data["orders"]} == {"c-1001"}
    assert data["orders"][0]["items"] == [{"name": "Shirt", "quantity": "2"}]  # whole items
    assert ("Query", "OrdersTable", "by_customer") in {
        (name, p.get("TableName"), p.get("IndexName")) for name, p in calls
    }
    assert not any(name == "Scan" for name, _ in calls)


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["export", "c-999"], "lifecycle export: no customer c-999: nothing exported"),
        (["forget", "c-999", "--yes"], "lifecycle forget: no customer c-999: nothing forgotten"),
    ],
)
def test_a_customer_never_seen_is_said_so(
    history: Aws, capsys: pytest.CaptureFixture[str], command: list[str], said: str
) -> None:
    ledger = _everything("LedgerTable")

    assert main(command) == 1

    captured = capsys.readouterr()
    assert captured.err.strip() == said
    assert captured.out == ""
    assert _everything("LedgerTable") == ledger  # no anonymous record of a forget of no one


@pytest.mark.parametrize(
    "trace",
    ["orders", "preferences", "ledger", "ratings", "suppression"],
)
def test_a_customer_without_a_row_but_with_data_is_not_unknown(
    history: Aws, capsys: pytest.CaptureFixture[str], trace: str
) -> None:
    dynamodb = boto3.client("dynamodb")
    extra: list[str] = []
    if trace == "orders":
        _orders(("o-5551", "c-555"))
    elif trace == "preferences":
        dynamodb.put_item(
            TableName="PreferencesTable",
            Item={"customer_id": {"S": "c-555"}, "entry": {"S": "state"}},
        )
    elif trace == "ledger":
        dynamodb.put_item(
            TableName="LedgerTable",
            Item={
                "message_key": {"S": "welcome#c-555#email"},
                "customer_id": {"S": "c-555"},
                "status": {"S": "sent"},
                "updated_at": {"S": "2026-11-22T09:00:00+00:00"},
            },
        )
    elif trace == "ratings":
        dynamodb.put_item(
            TableName="RatingsTable",
            Item={
                "order_id": {"S": "o-5551"},
                "customer_id": {"S": "c-555"},
                "updated_at": {"S": "2026-11-27T19:45:00+00:00"},
            },
        )
    else:  # Ann's address, given by hand: its soft-bounce tally is held
        extra = ["--email", "ann.fischer@example.com"]

    assert main(["export", "c-555", *extra]) == 0
    assert json.loads(capsys.readouterr().out)["customer_id"] == "c-555"
