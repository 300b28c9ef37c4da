"""moto's transactions on the local stack are journaled (lifecycle/local/moto_speed.py) rather
than backed up by copying their tables whole: a failed one leaves the tables and their streams
as moto's own rollback does, and a table is never copied."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb import models
from moto.dynamodb.models.table import Table

from tests.conftest import Aws


@contextmanager
def motos_own() -> Iterator[None]:
    """moto as it comes: its whole-table backup, no journal."""
    backend = models.DynamoDBBackend
    with (
        mock.patch.object(models, "copy", copy),
        mock.patch.object(
            backend, "transact_write_items", backend.transact_write_items.__wrapped__
        ),
        mock.patch.object(backend, "get_item", backend.get_item.__wrapped__),
    ):
        yield


def _profile(key: str, value: str, **condition: Any) -> dict[str, Any]:
    item = {"customer_id": {"S": key}, "sk": {"S": "profile"}, "v": {"S": value}}
    return {"Put": {"TableName": "ProfilesTable", "Item": item, **condition}}


def _ledger(key: str, **update: Any) -> dict[str, Any]:
    return {"Update": {"TableName": "LedgerTable", "Key": {"message_key": {"S": key}}, **update}}


ABSENT = {"ConditionExpression": "attribute_not_exists(sk)"}


def _stream_records(table: str) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
    return records


@pytest.mark.parametrize("journaled", [True, False], ids=["journaled", "motos-own"])
def test_a_failed_transaction_leaves_tables_and_streams_as_they_were(
    aws: Aws, journaled: bool
) -> None:
    client = boto3.client("dynamodb")

    def value(key: str) -> str | None:
        got = client.get_item(
            TableName="ProfilesTable", Key={"customer_id": {"S": key}, "sk": {"S": "profile"}}
        ).get("Item")
        return got["v"]["S"] if got else None

    def ledger(key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = client.get_item(
            TableName="LedgerTable", Key={"message_key": {"S": key}}
        ).get("Item")
        return found

    count = {"UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}
    with nullcontext() if journaled else motos_own():
        client.transact_write_items(
            TransactItems=[_profile("a", "1"), _profile("c", "1"), _ledger("m", **count)]
        )
        records = len(_stream_records("LedgerTable"))
        with pytest.raises(ClientError, match="TransactionCanceled"):
            client.transact_write_items(
                TransactItems=[
                    _ledger("m", **count),  # an item changed in place, then put back
                    _ledger("new", **count),  # an item made, then taken out
                    _profile("b", "2"),
                    _profile("a", "2"),
                    _profile("c", "2", **ABSENT),
                ]
            )
        assert (value("a"), value("b"), value("c")) == ("1", None, "1")
        assert ledger("m") == {"message_key": {"S": "m"}, "n": {"N": "1"}}
        assert ledger("new") is None
        assert len(_stream_records("LedgerTable")) == records

        client.transact_write_items(TransactItems=[_profile("b", "3"), _ledger("m", **count)])
    assert (value("a"), value("b"), value("c")) == ("1", "3", "1")
    assert ledger("m") == {"message_key": {"S": "m"}, "n": {"N": "2"}}
    # Only the last transaction's record follows the first's: the failed one left none.
    events = [record["eventName"] for record in _stream_records("LedgerTable")[records:]]
    assert events == ["MODIFY"]


def test_a_journaled_transaction_copies_no_table(aws: Aws) -> None:
    copied: list[str] = []
    deepcopy = copy.deepcopy

    def watched(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            copied.append(value.name)
        return deepcopy(value, memo)

    with mock.patch.object(copy, "deepcopy", watched):
        boto3.client("dynamodb").transact_write_items(
            TransactItems=[
                _profile("a", "1"),
                _ledger(
                    "m", UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "x"}}
                ),
            ]
        )
        with motos_own():
            boto3.client("dynamodb").transact_write_items(TransactItems=[_profile("a", "2")])
    assert copied == ["ProfilesTable"]  # moto's own, for the one table it names
