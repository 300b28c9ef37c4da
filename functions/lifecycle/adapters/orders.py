"""The business's Orders table, read through its `by_customer` index."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.dynamo import plain
from lifecycle.models import Lifetime

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# BatchGetItem takes at most 100 keys per call.
_BATCH = 100


class DynamoOrderHistory:
    """Reads the business's Orders table through its `by_customer` index (a Query, never a
    Scan: the table holds every customer's orders)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _index(self, customer_id: str, **extra: Any) -> Iterator[dict[str, Any]]:
        values = {":c": {"S": customer_id}, **extra.pop("ExpressionAttributeValues", {})}
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName="by_customer",
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues=values,
            **extra,
        ):
            yield from page["Items"]

    def lifetime(self, customer_id: str) -> Lifetime:
        orders, spend = 0, dict[str, Decimal]()
        for item in self._index(
            customer_id,
            FilterExpression="#status = :delivered",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":delivered": {"S": "delivered"}},
        ):
            orders += 1
            # An order without a currency counts as an order, but its amount cannot be added.
            if "total" in item and "currency" in item:
                currency = item["currency"]["S"]
                spend[currency] = spend.get(currency, Decimal(0)) + Decimal(item["total"]["N"])
        return Lifetime(orders=orders, spend=spend)

    def orders(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's whole orders, oldest first. The index projects only a few
        attributes, so it gives the keys and the items are read by key."""
        keys = [{"order_id": item["order_id"]} for item in self._index(customer_id)]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _BATCH):
            request: Any = {self._table: {"Keys": keys[start : start + _BATCH]}}
            for attempt in itertools.count():
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    found[item["order_id"]["S"]] = plain(item)
                request = answer.get("UnprocessedKeys")
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off, then the rest
        return [found[k["order_id"]["S"]] for k in keys if k["order_id"]["S"] in found]
