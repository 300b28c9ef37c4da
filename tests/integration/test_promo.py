"""Promo codes over moto: issued into the Profiles table, redeemed by an order on the Orders
stream through the ProfilesFunction, refused and recorded otherwise, and exported and
forgotten with the customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from lifecycle.adapters.promo import DynamoPromoCodes
from lifecycle.profiles.promo import PromoState, display
from lifecycle.subject_requests import SubjectRequests, Tables
from tests.conftest import Aws

PROFILES = "ProfilesFunction"
SERIALIZER = TypeSerializer()
ISSUED = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _codes() -> DynamoPromoCodes:
    return DynamoPromoCodes(boto3.client("dynamodb"), "ProfilesTable")


def _order(order_id: str, customer: str, status: str, days: int, code: str | None = None) -> None:
    item: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": customer,
        "status": status,
        "updated_at": (ISSUED + timedelta(days=days, hours=1)).isoformat(),
        "total": "30",
        "currency": "EUR",
    }
    if code is not None:
        item["promo_code"] = code
    boto3.client("dynamodb").put_item(
        TableName="OrdersTable", Item={k: SERIALIZER.serialize(v) for k, v in item.items()}
    )


def _drive(aws: Aws) -> list[dict[str, Any]]:
    records = aws.stack.read_stream("OrdersTable")
    assert aws.invoke(PROFILES, {"Records": records})["batchItemFailures"] == []
    return records


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The metrics the functions count (they are not flushed locally)."""
    from aws_lambda_powertools.metrics import Metrics

    names: list[str] = []
    monkeypatch.setattr(Metrics, "add_metric", lambda _, name, **__: names.append(name))
    return names


def test_an_issued_code_is_redeemed_by_its_customers_order_once(
    aws: Aws, counted: list[str]
) -> None:
    # given a win-back code for Ann, issued twice (a redelivered trigger): one code
    codes = _codes()
    code = codes.issue("ann", "winback#s1#2", 30, ISSUED)
    assert codes.issue("ann", "winback#s1#2", 30, ISSUED + timedelta(minutes=1)) == code

    # when Ann orders with it, typed as customers do
    _order("o-1", "ann", "scheduled", 3, display(code.code).lower())
    _order("o-1", "ann", "picked_up", 3, display(code.code).lower())
    records = _drive(aws)

    # then it is redeemed on that order, and the profile counted the order as usual
    stored = codes.get(code.code)
    assert stored is not None
    assert (stored.state, stored.redeemed_order) == (PromoState.REDEEMED, "o-1")
    assert counted.count("PromoRedeemed") == 1

    # and a second order with the same code is refused, recorded, counted; its profile
    # update goes through regardless
    _order("o-2", "ann", "scheduled", 4, code.code)
    _drive(aws)
    refusal = aws.ledger(f"promo#o-2#{code.code}#refused")
    assert refusal is not None
    assert (refusal["record_type"], refusal["customer_id"]) == ("rejection", "ann")
    assert refusal["reason"] == "promo code already redeemed on another order"
    assert counted.count("PromoRefused") == 1
    profile = boto3.client("dynamodb").get_item(
        TableName="ProfilesTable", Key={"customer_id": {"S": "ann"}, "sk": {"S": "profile"}}
    )["Item"]
    assert profile["placed"]["N"] == "2"

    # and replaying the whole stream redeems nothing again and records no second refusal
    replay = records + aws.stack.read_stream("OrdersTable")
    assert aws.invoke(PROFILES, {"Records": replay})["batchItemFailures"] == []
    assert codes.get(code.code) == stored
    assert (counted.count("PromoRedeemed"), counted.count("PromoRefused")) == (1, 1)


@pytest.mark.parametrize(
    ("customer", "days", "code", "reason"),
    [
        ("bob", 3, None, "issued to another customer"),
        ("ann", 31, None, "expired"),
        ("ann", 3, "ZZZZ-ZZZZ-ZZZZ", "not a code this product issued"),
        ("ann", 3, "WELCOME10", "not a code this product issued"),
    ],
    ids=["another-customer", "expired", "unknown", "malformed"],
)
def test_a_code_the_order_may_not_use_is_refused_and_recorded(
    aws: Aws,
    counted: list[str],
    customer: str,
    days: int,
    code: str | None,
    reason: str,
) -> None:
    issued = _codes().issue("ann", "winback#s1#2", 30, ISSUED)
    typed = code or issued.code
    _order("o-1", customer, "scheduled", days, typed)
    _order("o-1", customer, "picked_up", days, typed)  # a later image: no second refusal
    _drive(aws)
    compact = typed.replace("-", "")
    refusal = aws.ledger(f"promo#o-1#{compact}#refused")
    assert refusal is not None
    assert refusal["reason"] == f"promo code {reason}"
    assert refusal["customer_id"] == customer
    assert counted.count("PromoRefused") == 1
    assert _codes().get(issued.code) == issued  # untouched


def test_a_cancelled_order_gives_its_code_back_and_a_cancelled_one_never_redeems(
    aws: Aws,
) -> None:
    codes = _codes()
    first = codes.issue("ann", "winback#s1#2", 30, ISSUED)
    second = codes.issue("ann", "winback#s1#3", 30, ISSUED)
    assert first.code != second.code
    _order("o-1", "ann", "scheduled", 3, first.code)
    _order("o-1", "ann", "cancelled", 3, first.code)
    _order("o-2", "ann", "cancelled", 3, second.code)  # cancelled on its first image
    _drive(aws)
    assert codes.get(first.code) == first  # issued again, usable on the next order
    assert codes.get(second.code) == second
    _order("o-3", "ann", "scheduled", 5, first.code)
    _drive(aws)
    again = codes.get(first.code)
    assert again is not None
    assert again.redeemed_order == "o-3"


def test_export_includes_the_customers_codes_and_forget_removes_them_and_their_lookups(
    aws: Aws,
) -> None:
    codes = _codes()
    ann = codes.issue("ann", "winback#s1#2", 30, ISSUED)
    bob = codes.issue("bob", "winback#s1#2", 30, ISSUED)
    _order("o-1", "ann", "scheduled", 3, ann.code)
    _drive(aws)
    client = boto3.client("dynamodb")
    requests = SubjectRequests(
        client,
        Tables(
            customers="CustomersTable",
            orders="OrdersTable",
            ledger="LedgerTable",
            preferences="PreferencesTable",
            suppressions="SuppressionsTable",
            profiles="ProfilesTable",
        ),
    )
    exported = requests.export("ann")["profile"]["promo_codes"]
    assert [(c["code"], c["state"], c["redeemed_order"]) for c in exported] == [
        (ann.code, "redeemed", "o-1")
    ]

    summary = requests.forget("ann")
    assert summary["profile_items"] >= 4  # profile, order, stage change, code and its lookup
    assert codes.get(ann.code) is None
    assert codes.codes("ann") == []
    left = client.scan(TableName="ProfilesTable")["Items"]
    assert not [i for i in left if ann.code in str(i) or i["customer_id"]["S"] == "ann"]
    assert codes.get(bob.code) == bob  # another customer's code stays
