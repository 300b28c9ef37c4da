"""The suppressions table: hashed addresses that must not be contacted, soft-bounce tallies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lifecycle.adapters.dynamo import conditional
from lifecycle.messaging.message import Channel
from lifecycle.privacy import address_hash

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoSuppressions:
    """Suppression items: `address_hash` (key), `channel`, `reason`, `suppressed_at`."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def reason_for(self, channel: Channel, address: str) -> str | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"address_hash": {"S": address_hash(channel, address)}},
            ProjectionExpression="reason",
        ).get("Item")
        if item is None:
            return None
        return item.get("reason", {}).get("S", "suppressed")

    def count_soft_bounce(self, address: str, reason: str, now: datetime) -> int:
        """Add one transient bounce to the address's tally; returns the new count."""
        response = self._client.update_item(
            TableName=self._table,
            Key={"address_hash": {"S": "soft#" + address_hash(Channel.EMAIL, address)}},
            UpdateExpression=(
                "ADD soft_bounces :one SET last_soft_bounce_at = :now, last_reason = :why"
            ),
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":now": {"S": now.isoformat()},
                ":why": {"S": reason},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["soft_bounces"]["N"])

    def lift(self, channel: Channel, address: str, *, only_if_reason_starts: str) -> bool:
        """Remove a suppression of one kind (a STOP lifted by START), never another (a bounce)."""
        return conditional(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key={"address_hash": {"S": address_hash(channel, address)}},
                ConditionExpression="begins_with(reason, :why)",
                ExpressionAttributeValues={":why": {"S": only_if_reason_starts}},
            )
        )

    def suppress(self, channel: Channel, address: str, reason: str, now: datetime) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "address_hash": {"S": address_hash(channel, address)},
                "channel": {"S": str(channel)},
                "reason": {"S": reason},
                "suppressed_at": {"S": now.isoformat()},
            },
        )
