"""The engagement table, and engagement on the ledger's message items.

One transaction per SES event writes three things, or none:
- a marker `event#<SNS MessageId>` in the engagement table (put only if absent): the event's
  identity, so however often SNS delivers a notification it counts once;
- the message's ledger item (`message_key` from the event's `message` tag): first delivery,
  opens, clicks, delays, rejects (only if the item exists, and only if its first-attributes
  are still as read, so two opens at once never both count as the first);
- the day's aggregate item in the engagement table: `pk` `day#<YYYY-MM-DD>` (the day the email
  was sent), `sk` `<stage>#<campaign>#<variant>#<shard>`, one counter per event type and per
  first (`delivered`, `opened`, `clicked`, `engaged`), and the dimensions as attributes.

The aggregate of a busy campaign day is one item that every delivery of the campaign adds to;
concurrent transactions on one item conflict, so each event goes to one of `SHARDS` items
(by its id) and a reader sums them. A transaction that still conflicts is tried again a few
times, then raised as transient (Lambda retries the notification; the marker keeps it once).

Markers expire after `MARKER_DAYS` (the table's TTL): SNS redelivers within hours, and a
notification parked in the failure queue is kept 14 days for `lifecycle replay`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import cancellation_codes, epoch, plain
from lifecycle.messaging.engagement import (
    FIRST_ATTRIBUTES,
    Change,
    EngagementEvent,
    First,
    Seen,
    change,
)
from lifecycle.messaging.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SHARDS = 8
MARKER_DAYS = 30
_ATTEMPTS = 4


def day_key(day: date) -> str:
    return f"day#{day.isoformat()}"


def _shard(event_id: str) -> int:
    return hashlib.sha256(event_id.encode()).digest()[0] % SHARDS


class DynamoEngagement:
    def __init__(self, client: DynamoDBClient, table: str, ledger_table: str) -> None:
        self._client = client
        self._table = table
        self._ledger = ledger_table

    def record(self, event: EngagementEvent, now: datetime) -> bool:
        """Count `event` once: False if it was counted before (a redelivery)."""
        for attempt in range(_ATTEMPTS):
            seen = self._seen(event.message_key) if event.message_key else None
            counted = change(event, seen)
            items = [self._marker(event, now)]
            ledger_at = None
            if seen is not None and (counted.touches_ledger or counted.expect):
                ledger_at = len(items)
                items.append(self._ledger_update(event, counted))
            items.append(self._aggregate(event, counted))
            try:
                self._client.transact_write_items(TransactItems=cast(Any, items))
            except ClientError as error:
                codes = cancellation_codes(error)
                if codes is None:
                    raise
                if codes[0] == "ConditionalCheckFailed":
                    return False  # its marker is there: counted before
                if ledger_at is not None and codes[ledger_at] == "ConditionalCheckFailed":
                    continue  # another event of the message came first: read it again
                if "TransactionConflict" in codes:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise
            return True
        raise TransientError(f"engagement event {event.event_id} kept conflicting")

    def _seen(self, key: str) -> Seen | None:
        names = {f"#{first}": attribute for first, attribute in FIRST_ATTRIBUTES.items()}
        item = self._client.get_item(
            TableName=self._ledger,
            Key={"message_key": {"S": key}},
            ConsistentRead=True,
            ProjectionExpression=", ".join(["message_key", *names]),
            ExpressionAttributeNames=names,
        ).get("Item")
        if item is None:
            return None
        return Seen(
            delivered=FIRST_ATTRIBUTES[First.DELIVERED] in item,
            opened=FIRST_ATTRIBUTES[First.OPENED] in item,
            clicked=FIRST_ATTRIBUTES[First.CLICKED] in item,
        )

    def _marker(self, event: EngagementEvent, now: datetime) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": f"event#{event.event_id}"},
                    "sk": {"S": "event"},
                    "event_type": {"S": event.type},
                    "expires_at": {"N": epoch(now + timedelta(days=MARKER_DAYS))},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _ledger_update(self, event: EngagementEvent, counted: Change) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, adds = [], []
        for index, (name, value) in enumerate(sorted(counted.sets.items())):
            names[f"#s{index}"] = name
            values[f":s{index}"] = {"S": value}
            sets.append(f"#s{index} = :s{index}")
        for index, (name, amount) in enumerate(sorted(counted.adds.items())):
            names[f"#a{index}"] = name
            values[f":a{index}"] = {"N": str(amount)}
            adds.append(f"#a{index} :a{index}")
        if counted.links:
            names["#links"] = "clicked_links"
            values[":links"] = {"SS": list(counted.links)}
            adds.append("#links :links")
        conditions = ["attribute_exists(message_key)"]
        for index, (attribute, present) in enumerate(sorted(counted.expect.items())):
            names[f"#e{index}"] = attribute
            test = "attribute_exists" if present else "attribute_not_exists"
            conditions.append(f"{test}(#e{index})")
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        update: dict[str, Any] = {
            "TableName": self._ledger,
            "Key": {"message_key": {"S": event.message_key or ""}},
            "ConditionExpression": " AND ".join(conditions),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        if values:
            update["ExpressionAttributeValues"] = values
        if not clauses:
            # Nothing to change, only the state the counting assumed to check.
            return {"ConditionCheck": update}
        update["UpdateExpression"] = " ".join(clauses)
        return {"Update": update}

    def _aggregate(self, event: EngagementEvent, counted: Change) -> dict[str, Any]:
        stage, campaign, variant = event.dimensions
        names = {"#day": "day", "#stage": "stage", "#campaign": "campaign", "#variant": "variant"}
        values: dict[str, Any] = {
            ":day": {"S": event.sent_on.isoformat()},
            ":stage": {"S": stage},
            ":campaign": {"S": campaign},
            ":variant": {"S": variant},
        }
        adds = []
        for index, (name, amount) in enumerate(sorted(counted.counts.items())):
            names[f"#c{index}"] = name
            values[f":c{index}"] = {"N": str(amount)}
            adds.append(f"#c{index} :c{index}")
        return {
            "Update": {
                "TableName": self._table,
                "Key": {
                    "pk": {"S": day_key(event.sent_on)},
                    "sk": {"S": f"{stage}#{campaign}#{variant}#{_shard(event.event_id)}"},
                },
                "UpdateExpression": (
                    "SET #day = :day, #stage = :stage, #campaign = :campaign, "
                    "#variant = :variant ADD " + ", ".join(adds)
                ),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def aggregates(
    client: DynamoDBClient, table: str, since: date, until: date
) -> Iterator[dict[str, Any]]:
    """Every aggregate item of the days from `since` to `until` (inclusive): one query per
    day, never a scan (the markers share the table)."""
    day = since
    while day <= until:
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": day_key(day)}},
            }
            if start:
                request["ExclusiveStartKey"] = start
            page = client.query(**request)
            for item in page.get("Items", []):
                yield plain(item)
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        day += timedelta(days=1)
