"""The local stack's faster moto transactions keep moto's own semantics: a transaction that
fails leaves neither its items nor their stream records; one that succeeds leaves both."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from lifecycle.local.stack import LocalStack
from tests.conftest import Aws


def _put(key: str) -> dict[str, object]:
    return {
        "Put": {
            "TableName": "LedgerTable",
            "Item": {"message_key": {"S": key}, "record_type": {"S": "marker"}},
            "ConditionExpression": "attribute_not_exists(message_key)",
        }
    }


def _keys() -> set[str]:
    items = boto3.client("dynamodb").scan(TableName="LedgerTable")["Items"]
    return {item["message_key"]["S"] for item in items}


def test_a_failed_transaction_leaves_no_items_and_no_stream_records(aws: Aws) -> None:
    stack: LocalStack = aws.stack
    client = boto3.client("dynamodb")
    client.transact_write_items(TransactItems=[_put("a")])  # type: ignore[list-item]
    before = stack.read_stream("LedgerTable")
    assert [r["dynamodb"]["Keys"]["message_key"]["S"] for r in before] == ["a"]
    # when a transaction's third item fails its condition, after two were applied
    with pytest.raises(ClientError) as failed:
        client.transact_write_items(TransactItems=[_put("b"), _put("c"), _put("a")])  # type: ignore[list-item]
    assert failed.value.response["Error"]["Code"] == "TransactionCanceledException"
    # then neither its items nor their stream records are there
    assert _keys() == {"a"}
    assert stack.read_stream("LedgerTable") == []
    # and the next transaction's records follow on as before
    client.transact_write_items(TransactItems=[_put("d"), _put("e")])  # type: ignore[list-item]
    after = stack.read_stream("LedgerTable")
    assert [r["dynamodb"]["Keys"]["message_key"]["S"] for r in after] == ["d", "e"]
    assert _keys() == {"a", "d", "e"}
