"""The ratings table: one rating per order, from the rating endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.dynamo import conditional, plain
from lifecycle.models import Rating

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoRatings:
    """Rating items, one per order (key `order_id`): `customer_id`, `score`, `rated_at` (first
    tap), `updated_at`, `taps`, and an optional `customer_comment` with `commented_at`. A
    second tap changes the score; the table's stream tells the follow-up function."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def record(
        self,
        order_id: str,
        customer_id: str,
        score: int,
        now: datetime,
        comment: str | None = None,
    ) -> bool:
        """Store a tap: the customer's score for the order (a later tap replaces it), with a
        comment if one came with it. False if the order's rating belongs to another customer
        (nothing is changed then)."""
        sets = ["score = :score", "rated_at = if_not_exists(rated_at, :now)"]
        return self._update(order_id, customer_id, now, sets, "ADD taps :one", score, comment)

    def comment(
        self, order_id: str, customer_id: str, score: int, now: datetime, comment: str
    ) -> bool:
        """Store a comment. The score changes only if there was none yet (a comment sent from
        an old page must not undo a later tap)."""
        sets = [
            "score = if_not_exists(score, :score)",
            "rated_at = if_not_exists(rated_at, :now)",
            "taps = if_not_exists(taps, :one)",
        ]
        return self._update(order_id, customer_id, now, sets, "", score, comment)

    def _update(
        self,
        order_id: str,
        customer_id: str,
        now: datetime,
        sets: list[str],
        add: str,
        score: int,
        comment: str | None,
    ) -> bool:
        sets = [*sets, "customer_id = :customer", "updated_at = :now"]
        values: dict[str, Any] = {
            ":score": {"N": str(score)},
            ":customer": {"S": customer_id},
            ":now": {"S": now.isoformat()},
            ":one": {"N": "1"},
        }
        if comment:
            sets += ["customer_comment = :comment", "commented_at = :now"]
            values[":comment"] = {"S": comment}
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"order_id": {"S": order_id}},
                UpdateExpression=f"SET {', '.join(sets)} {add}".strip(),
                ConditionExpression="attribute_not_exists(order_id) OR customer_id = :customer",
                ExpressionAttributeValues=values,
            )
        )

    def get(self, order_id: str) -> Rating | None:
        item = self._client.get_item(
            TableName=self._table, Key={"order_id": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return Rating.model_validate(plain(item))
