"""The suppressions table: hashed addresses that must not be contacted, soft-bounce tallies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

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
        # Suppressions read ahead for a page of recipients (`prefetch`), by hash.
        self._ahead: dict[str, dict[str, Any] | None] = {}

    def prefetch(self, addresses: list[tuple[Channel, str]]) -> None:
        """Read the suppressions of a page of addresses in batches; the next `reason_for`
        of each is answered from them until `forget_ahead` (the page is done)."""
        from lifecycle.adapters.audience import batch_get

        hashes = list(dict.fromkeys(address_hash(c, a) for c, a in addresses))
        keys = [{"address_hash": {"S": h}} for h in hashes]
        found = batch_get(self._client, self._table, keys, projection=["address_hash", "reason"])
        self._ahead = dict.fromkeys(hashes)
        self._ahead.update({item["address_hash"]["S"]: item for item in found})

    def forget_ahead(self) -> None:
        self._ahead = {}

    def reason_for(self, channel: Channel, address: str) -> str | None:
        hashed = address_hash(channel, address)
        if hashed in self._ahead:
            item = self._ahead.get(hashed)
        else:
            item = self._client.get_item(
                TableName=self._table,
                Key={"address_hash": {"S": hashed}},
                ProjectionExpression="reason",
            ).get("Item")
        if item is None:
            return None
        return str(item.get("reason", {}).get("S", "suppressed"))

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
