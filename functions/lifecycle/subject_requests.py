"""Data-subject requests: export everything the product holds on a customer, or forget them.

The product owns the ledger, the preferences (with their audit trail) and the suppression
list. Forgetting erases the customer's items from all three and leaves one anonymous record of
counts in the ledger, so reports still add up. The Customers and Orders tables belong to the
business's own systems: export reads the customer's row; forget deletes it only when asked.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from lifecycle.adapters.dynamo import DynamoPreferences, DynamoSuppressions, address_hash
from lifecycle.messaging.message import Channel

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True)
class Tables:
    customers: str
    ledger: str
    preferences: str
    suppressions: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> Tables:
        """From the stack's outputs (`aws cloudformation describe-stacks`)."""
        try:
            return cls(
                customers=outputs["CustomersTableName"],
                ledger=outputs["LedgerTableName"],
                preferences=outputs["PreferencesTableName"],
                suppressions=outputs["SuppressionsTableName"],
            )
        except KeyError as missing:
            raise ValueError(
                f"the stack has no output {missing}; is it this product's stack?"
            ) from None


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


class SubjectRequests:
    def __init__(
        self,
        client: DynamoDBClient,
        tables: Tables,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self._client = client
        self._tables = tables
        self._progress = progress

    def _customer(self, customer_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._tables.customers, Key={"customer_id": {"S": customer_id}}
        ).get("Item")
        return _plain(item) if item else None

    def _ledger_keys(self, customer_id: str) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._tables.ledger,
            IndexName="by_customer",
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}},
        ):
            yield from page["Items"]

    def _ledger(self, customer_id: str) -> list[dict[str, Any]]:
        items = []
        for key in self._ledger_keys(customer_id):
            item = self._client.get_item(
                TableName=self._tables.ledger,
                Key={"message_key": key["message_key"]},
                ConsistentRead=True,
            ).get("Item")
            if item:
                items.append(_plain(item))
        return items

    def _addresses(
        self, customer: dict[str, Any] | None, extra: dict[Channel, str]
    ) -> dict[Channel, str]:
        found = dict(extra)
        if customer:
            if customer.get("email"):
                found.setdefault(Channel.EMAIL, str(customer["email"]))
            if customer.get("phone"):
                found.setdefault(Channel.SMS, str(customer["phone"]))
        return found

    def export(
        self, customer_id: str, addresses: dict[Channel, str] | None = None
    ) -> dict[str, Any]:
        """Everything held on the customer, as plain JSON-ready data."""
        customer = self._customer(customer_id)
        suppressions = DynamoSuppressions(self._client, self._tables.suppressions)
        preferences = DynamoPreferences(self._client, self._tables.preferences)
        known = self._addresses(customer, addresses or {})
        messages = self._ledger(customer_id)
        self._progress(f"{len(messages)} ledger entries")
        return {
            "customer_id": customer_id,
            "exported_at": datetime.now(UTC).isoformat(),
            "customer_record": customer,
            "preferences": {
                "opt_outs": sorted(preferences.get(customer_id).opt_outs),
                "history": preferences.history(customer_id),
            },
            "suppressions": {
                str(channel): suppressions.reason_for(channel, address)
                for channel, address in known.items()
            },
            "messages": sorted(messages, key=lambda m: str(m.get("updated_at", ""))),
        }

    def forget(
        self,
        customer_id: str,
        addresses: dict[Channel, str] | None = None,
        *,
        include_customer_record: bool = False,
    ) -> dict[str, Any]:
        """Erase the customer from the product's tables; returns what was removed (counts)."""
        customer = self._customer(customer_id)
        known = self._addresses(customer, addresses or {})
        counts: Counter[str] = Counter()

        for key in list(self._ledger_keys(customer_id)):
            item = self._client.get_item(
                TableName=self._tables.ledger, Key={"message_key": key["message_key"]}
            ).get("Item")
            if item:
                plain = _plain(item)
                counts[
                    f"{plain.get('stage', '?')}/{plain.get('channel', '-')}/{plain['status']}"
                ] += 1
            self._client.delete_item(
                TableName=self._tables.ledger, Key={"message_key": key["message_key"]}
            )
            if sum(counts.values()) % 100 == 0:
                self._progress(f"{sum(counts.values())} ledger entries erased")
        preference_items = 0
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._tables.preferences,
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}},
            ProjectionExpression="customer_id, entry",
        ):
            for item in page["Items"]:
                self._client.delete_item(TableName=self._tables.preferences, Key=item)
                preference_items += 1
        suppressions = 0
        for channel, address in known.items():
            hashed = address_hash(channel, address)
            for entry in (hashed, f"soft#{hashed}"):
                deleted = self._client.delete_item(
                    TableName=self._tables.suppressions,
                    Key={"address_hash": {"S": entry}},
                    ReturnValues="ALL_OLD",
                )
                suppressions += 1 if deleted.get("Attributes") else 0
        if include_customer_record and customer:
            self._client.delete_item(
                TableName=self._tables.customers, Key={"customer_id": {"S": customer_id}}
            )
        summary = {
            "messages": dict(sorted(counts.items())),
            "preference_items": preference_items,
            "suppressions": suppressions,
            "customer_record_deleted": bool(include_customer_record and customer),
        }
        # One anonymous record keeps the numbers: no customer id, no address.
        self._client.put_item(
            TableName=self._tables.ledger,
            Item={
                "message_key": {"S": f"forgotten#{uuid.uuid4().hex}"},
                "status": {"S": "forgotten"},
                "updated_at": {"S": datetime.now(UTC).isoformat()},
                "counts": {"M": {k: {"N": str(v)} for k, v in counts.items()}},
            },
        )
        return summary
