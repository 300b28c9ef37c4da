"""What every DynamoDB adapter shares: the conditional write, a cancelled transaction's reasons,
epoch stamps, plain values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DESERIALIZER = TypeDeserializer()


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def conditional(write: Callable[[], object]) -> bool:
    """Run a conditional write: True if it was made, False if its condition did not hold.
    Every other error propagates (throttling, 5xx: the caller's trigger retries)."""
    try:
        write()
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def cancellation_codes(error: ClientError) -> list[str] | None:
    """The per-item reasons of a cancelled transaction; None for any other error."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons = cast(dict[str, Any], error.response).get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as Python values."""
    return {name: DESERIALIZER.deserialize(value) for name, value in item.items()}


class ItemReader:
    """Reads one item of a table the business writes (Customers, Orders) by its key."""

    def __init__(self, client: DynamoDBClient, table: str, key: str) -> None:
        self._client = client
        self._table = table
        self._key = key

    def __call__(self, value: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key={self._key: {"S": value}}, ConsistentRead=True
        ).get("Item")
        return plain(item) if item else None


class PageCustomers:
    """What a web page shows of a customer (first name, locale) and nothing more; a forgotten
    or unknown customer reads as empty, so the page still renders."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def __call__(self, customer_id: str) -> dict[str, str]:
        item = self._client.get_item(
            TableName=self._table,
            Key={"customer_id": {"S": customer_id}},
            ProjectionExpression="first_name, locale",
        ).get("Item", {})
        return {k: v["S"] for k, v in item.items() if "S" in v}
