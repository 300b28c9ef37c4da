"""The business's Orders table, read through its `by_customer` index."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from lifecycle.models import Lifetime

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoOrderHistory:
    """Reads the business's Orders table through its `by_customer` index."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def lifetime(self, customer_id: str) -> Lifetime:
        orders, spend = 0, dict[str, Decimal]()
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName="by_customer",
            KeyConditionExpression="customer_id = :c",
            FilterExpression="#status = :delivered",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":c": {"S": customer_id},
                ":delivered": {"S": "delivered"},
            },
        ):
            for item in page["Items"]:
                orders += 1
                # An order without a currency counts as an order, but its amount cannot be added.
                if "total" in item and "currency" in item:
                    currency = item["currency"]["S"]
                    spend[currency] = spend.get(currency, Decimal(0)) + Decimal(item["total"]["N"])
        return Lifetime(orders=orders, spend=spend)
