"""The tally's items in the engagement table: one per month, day, measure and dimensions
(`pk` = `tally#<YYYY-MM>`, `sk` = `<day>#<measure>#<dimensions>`, counters `n` and `amount`),
and one marker per applied batch of stream records (`pk` = `tally-batch#<digest>`).

A batch's deltas go in one transaction with its marker, conditioned on the marker being new:
a batch Lambda delivers again after it was applied (a timeout after the write) changes
nothing. More than fit in one transaction go in parts, each with its own marker. Each part
also notes the months it wrote (`pk` = `tally-months`), so a report can sum a running total
(customers per stage) from the first month on without guessing where the tally begins."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import epoch, plain
from lifecycle.reporting.tally import Count, Delta

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MARKER_DAYS = 7  # longer than a stream keeps a record (24 hours)
PER_TRANSACTION = 90  # DynamoDB's 100 items, less the marker and the months noted
MONTHS = "tally-months"


def month_key(day: date) -> str:
    return f"tally#{day:%Y-%m}"


def batch_digest(event_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:32]


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


def _marker_failed(error: ClientError) -> bool:
    """Whether a cancelled transaction failed on its marker alone: applied before."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    codes = [str(reason.get("Code") or "None") for reason in reasons]
    return bool(codes) and codes[0] == "ConditionalCheckFailed"


class DynamoTally:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def apply(self, digest: str, deltas: list[Delta], now: datetime) -> int:
        """Add a batch's deltas (one per item: see `tally.combined`), once. The number of
        parts written now (0: every part was applied before)."""
        written = 0
        for part, start in enumerate(range(0, len(deltas), PER_TRANSACTION)):
            marker = {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": f"tally-batch#{digest}"},
                        "sk": {"S": str(part)},
                        "expires_at": {"N": epoch(now + timedelta(days=MARKER_DAYS))},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            chunk = deltas[start : start + PER_TRANSACTION]
            items = [_update(self._table, d) for d in chunk]
            items += [
                {"Put": {"TableName": self._table, "Item": {"pk": {"S": MONTHS}, "sk": {"S": m}}}}
                for m in sorted({f"{d.day:%Y-%m}" for d in chunk})
            ]
            try:
                self._client.transact_write_items(TransactItems=[marker, *items])  # type: ignore[list-item]
            except ClientError as error:
                if _marker_failed(error):
                    continue
                raise
            written += 1
        return written


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
