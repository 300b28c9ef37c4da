"""`lifecycle replay`: drive a parked stream batch through its handler again.

When a stream function's batch runs out of retries, Lambda's OnFailure destination (the
function's failure queue) receives a message naming the stream, the shard and the sequence
range, not the records. Replay reads those records back from the stream, or, where the stream
no longer holds them (DynamoDB streams keep 24 hours), the current items the handler recorded
when the records failed (`stream-failure#…` ledger items), and invokes the function the stream
triggers with Lambda's ordered semantics. The ledger makes it safe: what was sent is not sent
again, and an order's progress never goes back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lifecycle.messaging.ledger import failure_log_key

Record = dict[str, Any]
# One invocation: the sequence numbers the handler reported failed, or None if it raised.
Invoke = Callable[[list[Record]], list[str] | None]


class ReplayError(Exception):
    """The failure message or its records cannot be replayed; the text says why."""


@dataclass(frozen=True)
class FailedBatch:
    """What a DynamoDB stream's OnFailure destination receives for a discarded batch."""

    stream_arn: str
    shard_id: str
    start: str
    end: str
    size: int
    condition: str = ""
    function_arn: str = ""  # the function whose retries ran out (requestContext.functionArn)

    @classmethod
    def parse(cls, body: str) -> FailedBatch:
        try:
            message = json.loads(body)
        except ValueError:
            raise ReplayError("not JSON: a failure-queue message is a JSON document") from None
        info = message.get("DDBStreamBatchInfo") if isinstance(message, dict) else None
        if not isinstance(info, dict):
            raise ReplayError("not a stream failure record: it has no DDBStreamBatchInfo")
        names = ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")
        missing = [name for name in names if not info.get(name)]
        if missing:
            raise ReplayError(f"DDBStreamBatchInfo lacks {', '.join(missing)}")
        return cls(
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start=str(info["startSequenceNumber"]),
            end=str(info["endSequenceNumber"]),
            size=int(info.get("batchSize") or 0),
            condition=str((message.get("requestContext") or {}).get("condition", "")),
            function_arn=str((message.get("requestContext") or {}).get("functionArn", "")),
        )

    @property
    def table(self) -> str:
        """The table whose stream it is (`arn:…:table/<name>/stream/<label>`)."""
        _, _, rest = self.stream_arn.partition(":table/")
        name, _, _ = rest.partition("/stream/")
        if not name:
            raise ReplayError(f"not a DynamoDB stream ARN: {self.stream_arn}")
        return name

    def holds(self, sequence: str) -> bool:
        return int(self.start) <= int(sequence) <= int(self.end)


def drive(invoke: Invoke, records: list[Record], *, attempts: int) -> int:
    """Deliver `records` as Lambda would: after reported failures, again from the lowest failed
    sequence number; after an error, the whole rest again. Returns the invocations it took;
    raises ReplayError if records still fail after `attempts`."""
    pending = records
    made = 0
    while pending:
        failed = invoke(pending)
        made += 1
        if failed == []:
            return made
        if made >= attempts:
            first = pending[0]["dynamodb"]["SequenceNumber"]
            raise ReplayError(
                f"{len(pending)} record(s) from sequence number {first} still fail after "
                f"{attempts} attempts: see the function's log for the reason"
            )
        if failed:
            lowest = min(int(sequence) for sequence in failed)
            pending = [r for r in pending if int(r["dynamodb"]["SequenceNumber"]) >= lowest]
    return made


def stream_records(streams: Any, batch: FailedBatch) -> list[Record] | None:
    """The batch's records read back from the stream, or None if the stream no longer holds
    them (trimmed after 24 hours, or the stream was replaced)."""
    from botocore.exceptions import ClientError

    from lifecycle.local.stack import to_lambda_record

    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        )["ShardIterator"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("TrimmedDataAccessException", "ResourceNotFoundException"):
            return None
        raise
    found: list[Record] = []
    empty = 0
    # A shard can answer empty pages before its records (DynamoDB streams say so): follow the
    # iterator until a record past the range, the shard's end, or many empty pages in a row.
    while iterator and empty < EMPTY_PAGES:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        empty = 0 if page["Records"] else empty + 1
        for record in page["Records"]:
            if int(record["dynamodb"]["SequenceNumber"]) > int(batch.end):
                return _whole(found, batch)
            found.append(to_lambda_record(dict(record), batch.stream_arn))
        iterator = page.get("NextShardIterator")
    return _whole(found, batch)


# Empty GetRecords pages in a row after which the rest of an open shard counts as not there.
EMPTY_PAGES = 10


def _whole(found: list[Record], batch: FailedBatch) -> list[Record] | None:
    """The records read, if they are the whole batch (else None: part of it was trimmed, and
    replaying a part would look done)."""
    if not found or (batch.size and len(found) < batch.size):
        return None
    return found


def logged_records(dynamodb: Any, ledger_table: str, batch: FailedBatch) -> list[Record] | None:
    """The batch rebuilt from what its handler recorded when it failed: each record's keys,
    with the item as it is now (an item deleted since is left out). None if nothing was
    recorded (the handler could not reach its table either)."""
    from lifecycle.local.stack import to_lambda_record

    logged = dynamodb.get_item(
        TableName=ledger_table,
        Key={"message_key": {"S": failure_log_key(batch.stream_arn, batch.start)}},
        ConsistentRead=True,
    ).get("Item")
    if logged is None:
        return None
    rebuilt: list[Record] = []
    for entry in json.loads(logged["records"]["S"]):
        if not batch.holds(entry["sequence"]):
            continue
        item = dynamodb.get_item(TableName=batch.table, Key=entry["keys"], ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            continue
        record = {
            "eventID": f"replay-{entry['sequence']}",
            "eventName": entry["event_name"],
            "dynamodb": {
                "Keys": entry["keys"],
                "NewImage": item,
                "SequenceNumber": entry["sequence"],
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        rebuilt.append(to_lambda_record(record, batch.stream_arn))
    return rebuilt


@dataclass(frozen=True)
class Replayed:
    batch: FailedBatch
    records: int
    source: str  # "stream" or "current items"
    invocations: int


def replay(
    batch: FailedBatch,
    *,
    streams: Any,
    dynamodb: Any,
    ledger_table: str,
    invoke: Invoke,
    attempts: int = 5,
) -> Replayed:
    records = stream_records(streams, batch)
    source = "stream"
    if records is None:
        records = logged_records(dynamodb, ledger_table, batch)
        source = "current items"
    if records is None:
        raise ReplayError(
            f"the stream no longer holds sequence numbers {batch.start}-{batch.end} of "
            f"{batch.table}, and no failure record names their items"
        )
    made = drive(invoke, records, attempts=attempts) if records else 0
    return Replayed(batch, len(records), source, made)


def lambda_client() -> Any:
    """A Lambda client that waits out the longest stream invocation and never retries one:
    a retried invoke would run the same ordered records twice at once."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        config=Config(read_timeout=INVOKE_SECONDS, retries={"total_max_attempts": 1}),
    )


# Longer than any stream function's Timeout (90 s in the template).
INVOKE_SECONDS = 150


def lambda_invoker(client: Any, function_arn: str) -> Invoke:
    """Invoke the deployed function synchronously with a stream-shaped event."""

    def invoke(records: list[Record]) -> list[str] | None:
        response = client.invoke(
            FunctionName=function_arn,
            Payload=json.dumps({"Records": records}, default=str).encode(),
        )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict):
            return None
        return [str(item["itemIdentifier"]) for item in payload.get("batchItemFailures", [])]

    return invoke


def function_for(client: Any, batch: FailedBatch) -> str:
    """The function whose retries ran out (named in the message), else the one function the
    stream triggers."""
    if batch.function_arn:
        return batch.function_arn
    mappings = client.list_event_source_mappings(EventSourceArn=batch.stream_arn)[
        "EventSourceMappings"
    ]
    if len(mappings) != 1:
        raise ReplayError(
            f"{len(mappings)} functions are triggered by {batch.stream_arn}; the message does "
            "not say which one parked the batch"
        )
    return str(mappings[0]["FunctionArn"])


def messages(sqs: Any, queue_url: str, limit: int) -> Iterable[tuple[str, str]]:
    """(body, receipt handle) of up to `limit` failure-queue messages."""
    taken = 0
    while taken < limit:
        page = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, limit - taken), WaitTimeSeconds=1
        ).get("Messages", [])
        if not page:
            return
        for message in page:
            taken += 1
            yield str(message["Body"]), str(message["ReceiptHandle"])
