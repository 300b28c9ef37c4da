"""The daily run over the local stack (lifecycle/local/daily_run.py), as bench-due runs it:
moto's transactions journaled rather than copied whole, with the same outcome; each AWS call
of the clients built after the hook counted once."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lifecycle.local import daily_run
from tests.conftest import Aws


@pytest.mark.parametrize("journaled", [True, False])
def test_a_failed_transaction_leaves_the_table_as_it_was_journaled_or_not(
    aws: Aws, journaled: bool
) -> None:
    client = boto3.client("dynamodb")

    def put(key: str, value: str, **condition: Any) -> dict[str, Any]:
        item = {"customer_id": {"S": key}, "sk": {"S": "profile"}, "v": {"S": value}}
        return {"Put": {"TableName": "ProfilesTable", "Item": item, **condition}}

    def value(key: str) -> str | None:
        got = client.get_item(
            TableName="ProfilesTable", Key={"customer_id": {"S": key}, "sk": {"S": "profile"}}
        ).get("Item")
        return got["v"]["S"] if got else None

    client.transact_write_items(TransactItems=[put("a", "1"), put("c", "1")])
    absent = {"ConditionExpression": "attribute_not_exists(sk)"}
    with daily_run.journaled_transactions() if journaled else contextlib.nullcontext():
        with pytest.raises(ClientError, match="TransactionCanceled"):
            client.transact_write_items(
                TransactItems=[put("b", "2"), put("a", "2"), put("c", "2", **absent)]
            )
        assert (value("a"), value("b"), value("c")) == ("1", None, "1")
        client.transact_write_items(TransactItems=[put("b", "3"), put("a", "3")])
    assert (value("a"), value("b"), value("c")) == ("3", "3", "1")


def test_the_hook_counts_each_call_of_the_clients_built_after_it(aws: Aws) -> None:
    session = boto3.Session()
    early = session.client("dynamodb")
    calls = daily_run.Calls()
    calls.attach(session.events)
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")

    dynamodb.list_tables()
    dynamodb.list_tables()
    sqs.list_queues()
    early.list_tables()  # built before: not counted
    calls.counting = False
    dynamodb.list_tables()

    assert calls.made == {("dynamodb", "ListTables"): 2, ("sqs", "ListQueues"): 1}
    assert calls.by_service() == {"dynamodb": 2, "sqs": 1}
    assert calls.seconds > 0
