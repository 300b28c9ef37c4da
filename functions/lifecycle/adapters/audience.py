"""Reading a campaign's audience: the Customers table a page at a time, in parallel segments,
only the attributes the audience needs; the profiles of a page in batches; and the customers of
a page of recipients at send time. Never the whole table in memory."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.dynamo import plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Items per Scan call: a page of a few hundred small projections (well under 1 MB).
SCAN_PAGE = 500
# BatchGetItem takes at most 100 keys a call.
BATCH_KEYS = 100


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    cursor: dict[str, Any] | None  # where the next page starts; None after the last


class CustomerPages:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def page(
        self,
        segment: int,
        segments: int,
        cursor: dict[str, Any] | None,
        attributes: Iterable[str],
    ) -> Page:
        """One page of one segment of the Customers table: `customer_id` and `attributes`."""
        wanted = sorted({"customer_id", *attributes})
        names = {f"#a{i}": name for i, name in enumerate(wanted)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Segment": segment,
            "TotalSegments": segments,
            "Limit": SCAN_PAGE,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        response = self._client.scan(**request)
        return Page(
            rows=[plain(item) for item in response.get("Items", [])],
            cursor=response.get("LastEvaluatedKey"),
        )

    def whole_rows(self, cursor: dict[str, Any] | None) -> Page:
        """One page of whole rows, the table in one segment (the dry run checks each row as
        the sender would)."""
        request: dict[str, Any] = {"TableName": self._table, "Limit": SCAN_PAGE}
        if cursor:
            request["ExclusiveStartKey"] = cursor
        response = self._client.scan(**request)
        return Page(
            rows=[plain(item) for item in response.get("Items", [])],
            cursor=response.get("LastEvaluatedKey"),
        )


def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: list[dict[str, Any]],
    *,
    projection: list[str] | None = None,
    consistent: bool = False,
) -> list[dict[str, Any]]:
    """The items of these keys that exist (DynamoDB JSON), in batches of 100, unprocessed
    keys asked again (with a short pause) until none are left."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_KEYS):
        request: dict[str, Any] = {"Keys": keys[start : start + BATCH_KEYS]}
        if consistent:
            request["ConsistentRead"] = True
        if projection:
            names = {f"#p{i}": name for i, name in enumerate(projection)}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        pause = 0.05
        while pending:
            response = client.batch_get_item(RequestItems=pending)
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if pending:
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
    return found


def standings(client: DynamoDBClient, table: str, customer_ids: list[str]) -> dict[str, Any]:
    """The profile items (stage, delivered orders, last order) of these customers, by id;
    a customer without one has not ordered yet."""
    keys = [{"customer_id": {"S": c}, "sk": {"S": "profile"}} for c in customer_ids]
    items = batch_get(
        client, table, keys, projection=["customer_id", "stage", "delivered", "last_order_at"]
    )
    return {row["customer_id"]: row for row in map(plain, items)}


def customers(client: DynamoDBClient, table: str, customer_ids: list[str]) -> dict[str, Any]:
    """The Customers rows of these ids as they are now (consistent), by id."""
    keys = [{"customer_id": {"S": c}} for c in dict.fromkeys(customer_ids)]
    items = batch_get(client, table, keys, consistent=True)
    return {row["customer_id"]: row for row in map(plain, items)}
