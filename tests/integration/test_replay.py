"""`lifecycle replay`: a parked stream batch driven through its handler again, from the stream
or, once the stream no longer holds it, from the items its handler recorded when it failed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from lifecycle.replay import FailedBatch, ReplayError, drive, replay
from tests.conftest import Aws, load_event

WELCOME = "WelcomeFunction"


def _sanne() -> dict[str, Any]:
    image: dict[str, Any] = load_event("customers-insert.json")["Records"][1]["dynamodb"][
        "NewImage"
    ]
    return image


def _parked(aws: Aws) -> tuple[list[dict[str, Any]], FailedBatch]:
    """Sanne's row written to the Customers table, her stream record, and the failure-queue
    message Lambda would write had her batch run out of retries."""
    boto3.client("dynamodb").put_item(TableName="CustomersTable", Item=_sanne())
    records = aws.stack.read_stream("CustomersTable")
    arn = records[0]["eventSourceARN"]
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    message = load_event("stream-failure-message.json")
    sequence = records[0]["dynamodb"]["SequenceNumber"]
    message["DDBStreamBatchInfo"].update(
        streamArn=arn, shardId=shard, startSequenceNumber=sequence, endSequenceNumber=sequence
    )
    return records, FailedBatch.parse(json.dumps(message))


def _invoker(aws: Aws) -> Any:
    def invoke(records: list[dict[str, Any]]) -> list[str]:
        response = aws.invoke(WELCOME, {"Records": records})
        return [item["itemIdentifier"] for item in response["batchItemFailures"]]

    return invoke


def _replay(aws: Aws, batch: FailedBatch, streams: Any = None) -> Any:
    client = boto3.client("dynamodb")
    return replay(
        batch,
        streams=streams or boto3.client("dynamodbstreams"),
        dynamodb=client,
        ledger_table="LedgerTable",
        invoke=_invoker(aws),
    )


def test_a_parked_batch_is_replayed_from_the_stream_and_a_second_replay_sends_nothing(
    aws: Aws,
) -> None:
    _, batch = _parked(aws)

    first = _replay(aws, batch)
    second = _replay(aws, batch)

    assert (first.records, first.source) == (1, "stream")
    assert second.records == 1
    assert [e.to for e in aws.emails()] == ["sanne.devries@example.nl"]
    assert len(aws.sms()) == 1
    assert aws.ledger("welcome#c-1002#email")["status"] == "sent"


class _Trimmed:
    """A stream that no longer holds the records (DynamoDB streams keep 24 hours)."""

    def get_shard_iterator(self, **_: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
            "GetShardIterator",
        )


def test_once_the_stream_is_trimmed_the_failed_records_items_are_replayed(aws: Aws) -> None:
    # given Sanne's record failed (SES throttled), so her handler noted its keys
    records, batch = _parked(aws)
    aws.fail_sends("sesv2", "SendEmail", "TooManyRequestsException", lambda _: True)
    failed = aws.invoke(WELCOME, {"Records": records})
    assert failed["batchItemFailures"]
    logged = aws.ledger(f"stream-failure#{batch.stream_arn}#{batch.start}")
    assert logged["record_type"] == "stream-failure"

    # when ops replay it after the stream dropped the record
    result = _replay(aws, batch, streams=_Trimmed())

    # then her welcome went out from the item as it is now
    assert (result.records, result.source) == (1, "current items")
    assert [e.to for e in aws.emails()] == ["sanne.devries@example.nl"]


def test_a_batch_the_stream_holds_only_part_of_is_not_replayed_as_if_whole(aws: Aws) -> None:
    _, batch = _parked(aws)
    larger = replace(batch, size=2)  # the stream holds only one of its two records

    with pytest.raises(ReplayError, match="no longer holds sequence numbers"):
        _replay(aws, larger)
    assert aws.emails() == []


def test_nothing_to_rebuild_the_batch_from_is_a_clear_error(aws: Aws) -> None:
    _, batch = _parked(aws)

    with pytest.raises(ReplayError, match="no longer holds sequence numbers"):
        _replay(aws, batch, streams=_Trimmed())


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"requestContext": {}}', "no DDBStreamBatchInfo"),
        ('{"DDBStreamBatchInfo": {"shardId": "s"}}', "lacks streamArn, startSequenceNumber"),
    ],
)
def test_a_message_that_is_not_a_stream_failure_says_what_is_wrong(body: str, problem: str) -> None:
    with pytest.raises(ReplayError, match=problem):
        FailedBatch.parse(body)


def test_the_sample_failure_message_names_its_table() -> None:
    batch = FailedBatch.parse(json.dumps(load_event("stream-failure-message.json")))

    assert batch.table == "lifecycle-CustomersTable-EXAMPLE"
    assert batch.condition == "RetryAttemptsExhausted"


def test_drive_redelivers_from_the_lowest_failed_record_and_gives_up_with_a_reason() -> None:
    records = [{"dynamodb": {"SequenceNumber": str(n)}} for n in (1, 2, 3)]
    seen: list[list[str]] = []

    def invoke(batch: list[dict[str, Any]]) -> list[str]:
        seen.append([r["dynamodb"]["SequenceNumber"] for r in batch])
        return ["2", "3"] if len(seen) == 1 else []

    assert drive(invoke, records, attempts=3) == 2
    assert seen == [["1", "2", "3"], ["2", "3"]]
    with pytest.raises(ReplayError, match="still fail after 2 attempts"):
        drive(lambda _: ["1"], records, attempts=2)
