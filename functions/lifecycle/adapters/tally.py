"""The tally's items in the engagement table: one per month, day, measure and dimensions
(`pk` = `tally#<YYYY-MM>`, `sk` = `<day>#<measure>#<dimensions>`, counters `n` and `amount`),
one marker per stream record counted (`pk` = `tally-record#<event id>`, kept a week: longer
than a stream keeps a record), and the months the tally has written (`pk` = `tally-months`),
so a report can sum a running total from the first month on.

A group of records goes in one transaction: a conditional marker per record and their summed
counters. A record Lambda delivers again, in the same batch or another one (a retry, a batch
bisected after an error, a replay), finds its marker and is left out, so it counts once. A
transaction that conflicts with another shard's is tried again after a pause."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import cancellation_codes, epoch, plain
from lifecycle.messaging.errors import TransientError
from lifecycle.platform import composition
from lifecycle.reporting.tally import Count, Delta, combined

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MARKER_DAYS = 7
PER_TRANSACTION = 100  # DynamoDB's most items in one transaction
MONTHS = "tally-months"
_ATTEMPTS = 6
# The months noted in this process: each is written once per cold start, not per batch
# (forgotten with the ports, as when a test or a local run swaps the AWS behind them).
_NOTED: set[str] = set()
composition.on_reset(_NOTED.clear)


def month_key(day: date) -> str:
    return f"tally#{day:%Y-%m}"


def _update(table: str, delta: Delta) -> dict[str, Any]:
    dimensions = "#".join(delta.dimensions)
    return {
        "Update": {
            "TableName": table,
            "Key": {
                "pk": {"S": month_key(delta.day)},
                "sk": {"S": f"{delta.day.isoformat()}#{delta.measure}#{dimensions}"},
            },
            "UpdateExpression": "SET #d = :d, #m = :m, #x = :x ADD #n :n, #a :a",
            "ExpressionAttributeNames": {
                "#d": "day",
                "#m": "measure",
                "#x": "dimensions",
                "#n": "n",
                "#a": "amount",
            },
            "ExpressionAttributeValues": {
                ":d": {"S": delta.day.isoformat()},
                ":m": {"S": str(delta.measure)},
                ":x": {"L": [{"S": part} for part in delta.dimensions]},
                ":n": {"N": str(delta.count)},
                ":a": {"N": str(delta.amount)},
            },
        }
    }


Counted = tuple[str, list[Delta]]  # a stream record's event id, and what it adds


def _groups(records: Sequence[Counted]) -> Iterator[list[Counted]]:
    """Records in groups whose markers and summed counters fit one transaction."""
    group: list[Counted] = []
    keys: set[Any] = set()
    for record in records:
        more = {d.key for d in record[1]}
        if group and len(group) + 1 + len(keys | more) > PER_TRANSACTION:
            yield group
            group, keys = [], set()
        group.append(record)
        keys |= more
    if group:
        yield group


class DynamoTally:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _marker(self, event_id: str, now: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": f"tally-record#{event_id}"},
                    "sk": {"S": "-"},
                    "expires_at": {"N": epoch(now + timedelta(days=MARKER_DAYS))},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _note_months(self, records: Sequence[Counted]) -> None:
        for month in sorted({f"{d.day:%Y-%m}" for _, deltas in records for d in deltas}):
            if month not in _NOTED:
                self._client.put_item(
                    TableName=self._table, Item={"pk": {"S": MONTHS}, "sk": {"S": month}}
                )
                _NOTED.add(month)

    def apply(self, records: Sequence[Counted], now: datetime) -> int:
        """Count each record's deltas once. The number of records counted now (the others
        had nothing to count, or were counted before)."""
        # One marker an item: a record given twice (a replay, say) is counted as one.
        firsts = {event_id: deltas for event_id, deltas in reversed(records) if deltas}
        counting = list(reversed(firsts.items()))
        for event_id, deltas in counting:
            if len({d.key for d in deltas}) >= PER_TRANSACTION:
                raise ValueError(f"stream record {event_id} changes too many counters at once")
        self._note_months(counting)
        counted = 0
        for group in _groups(counting):
            counted += self._write(group, now)
        return counted

    def _write(self, group: list[Counted], now: datetime) -> int:
        conflicts = 0
        while conflicts < _ATTEMPTS:
            summed = combined(d for _, deltas in group for d in deltas).values()
            items = [self._marker(event_id, now) for event_id, _ in group]
            items += [_update(self._table, d) for d in summed]
            try:
                self._client.transact_write_items(TransactItems=cast(Any, items))
            except ClientError as error:
                codes = cancellation_codes(error)
                if codes is None:
                    raise
                before = {
                    group[i][0] for i, code in enumerate(codes[: len(group)])
                    if code == "ConditionalCheckFailed"
                }  # fmt: skip
                if before:  # counted in an earlier delivery: leave them out and go again
                    group = [record for record in group if record[0] not in before]
                    if not group:
                        return 0
                    continue
                if "TransactionConflict" in codes:
                    conflicts += 1
                    if conflicts < _ATTEMPTS:
                        time.sleep(random.uniform(0.05, 0.2) * conflicts)  # noqa: S311 - jitter
                    continue
                raise
            return len(group)
        raise TransientError("the tally's transaction kept conflicting")


def first_day(client: DynamoDBClient, table: str) -> date | None:
    """The first day of the tally's first month (None: it holds nothing yet)."""
    page = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": MONTHS}},
        Limit=1,
    )
    items = page.get("Items", [])
    return date.fromisoformat(f"{items[0]['sk']['S']}-01") if items else None


def counts(client: DynamoDBClient, table: str, since: date, until: date) -> Iterator[Count]:
    """The tally's items of the days from `since` to `until` (inclusive): one query per
    month, never a scan."""
    month = since.replace(day=1)
    while month <= until:
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":pk": {"S": month_key(month)},
                    ":low": {"S": since.isoformat()},
                    ":high": {"S": f"{until.isoformat()}~"},
                },
            }
            if start:
                request["ExclusiveStartKey"] = start
            page = client.query(**request)
            for raw in page.get("Items", []):
                item = plain(raw)
                yield Count(
                    day=date.fromisoformat(str(item["day"])),
                    measure=str(item["measure"]),
                    dimensions=tuple(str(part) for part in item.get("dimensions") or []),
                    count=int(item.get("n", 0)),
                    amount=Decimal(str(item.get("amount", 0))),
                )
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        month = (month + timedelta(days=32)).replace(day=1)
