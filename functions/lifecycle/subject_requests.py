"""Data-subject requests: export everything held on a customer, or forget them.

The product owns the ledger, the preferences (with their audit trail), the ratings (with any
comment), the profiles (with each order's contribution, points and stage history) and the
suppression list, and complaint cases. Forgetting erases the customer's items from the ledger,
preferences, ratings and profiles, takes their id off complaint cases (which keep their times for
the response-time figures), and leaves one
anonymous record of counts, so reports still add up. Suppressions of an address that bounced
or complained stay, as the anonymous hashes they are, so that address is never mailed again
(`erase_suppressions` removes them too). The Customers and Orders tables belong to the
business's own systems: export reads them; forget deletes the Customers row only when asked,
and refuses to run while that row still exists, since messages would carry on without the
customer's opt-outs.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from lifecycle.adapters.orders import DynamoOrderHistory
from lifecycle.adapters.preferences import DynamoPreferences
from lifecycle.adapters.profiles import DynamoProfiles
from lifecycle.adapters.suppressions import DynamoSuppressions
from lifecycle.messaging.message import Channel
from lifecycle.privacy import address_hash
from lifecycle.profiles.model import LoyaltyRules
from lifecycle.profiles.stages import StageRules

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from lifecycle.adapters.cases import DynamoCases

_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True)
class Tables:
    customers: str
    orders: str
    ledger: str
    preferences: str
    suppressions: str
    ratings: str | None = None  # stacks from before the feedback stage have none
    profiles: str | None = None  # stacks from before profiles have none
    cases: str | None = None  # stacks from before complaint cases have none

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> Tables:
        """From the stack's outputs (`aws cloudformation describe-stacks`)."""
        try:
            return cls(
                customers=outputs["CustomersTableName"],
                orders=outputs["OrdersTableName"],
                ledger=outputs["LedgerTableName"],
                preferences=outputs["PreferencesTableName"],
                suppressions=outputs["SuppressionsTableName"],
                ratings=outputs.get("RatingsTableName"),
                profiles=outputs.get("ProfilesTableName"),
                cases=outputs.get("CasesTableName"),
            )
        except KeyError as missing:
            raise ValueError(
                f"the stack has no output {missing}; is it this product's stack?"
            ) from None


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


class CustomerStillActive(ValueError):
    """Forgetting opt-outs while the customer row stays would let marketing resume."""


class UnknownCustomer(LookupError):
    """Nothing is held on this customer id: no Customers row, no orders, and nothing in the
    product's tables (nor a suppression of an address given). Usually a mistyped id."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id}")
        self.customer_id = customer_id


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

    def _rating_keys(self, customer_id: str) -> list[dict[str, Any]]:
        if self._tables.ratings is None:
            return []
        keys: list[dict[str, Any]] = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._tables.ratings,
            IndexName="by_customer",
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}},
        ):
            keys.extend({"order_id": item["order_id"]} for item in page["Items"])
        return keys

    def _ratings(self, customer_id: str) -> list[dict[str, Any]]:
        items = []
        for key in self._rating_keys(customer_id):
            assert self._tables.ratings is not None
            item = self._client.get_item(
                TableName=self._tables.ratings, Key=key, ConsistentRead=True
            ).get("Item")
            if item:
                items.append(_plain(item))
        return items

    def _orders(self, customer_id: str) -> list[dict[str, Any]]:
        found = DynamoOrderHistory(self._client, self._tables.orders).orders(customer_id)
        self._progress(f"{len(found)} orders")
        return found

    def _has_items(self, table: str, index: str | None, customer_id: str) -> bool:
        query: Any = {"IndexName": index} if index else {}
        answer = self._client.query(
            TableName=table,
            KeyConditionExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}},
            Limit=1,
            **query,
        )
        return bool(answer.get("Items"))

    def _check_known(
        self, customer_id: str, customer: dict[str, Any] | None, known: dict[Channel, str]
    ) -> None:
        """UnknownCustomer unless something is held on the id (or an address given)."""
        if customer is not None:
            return
        tables = [
            (self._tables.orders, "by_customer"),
            (self._tables.ledger, "by_customer"),
            (self._tables.preferences, None),
        ]
        if self._tables.ratings is not None:
            tables.append((self._tables.ratings, "by_customer"))
        if self._tables.profiles is not None:
            tables.append((self._tables.profiles, None))
        if self._tables.cases is not None:
            tables.append((self._tables.cases, "by_customer"))
        if any(self._has_items(table, index, customer_id) for table, index in tables):
            return
        for channel, address in known.items():
            hashed = address_hash(channel, address)
            for entry in (hashed, f"soft#{hashed}"):
                if self._client.get_item(
                    TableName=self._tables.suppressions, Key={"address_hash": {"S": entry}}
                ).get("Item"):
                    return
        raise UnknownCustomer(customer_id)

    def _cases(self) -> DynamoCases:
        from lifecycle.adapters.cases import DynamoCases

        assert self._tables.cases is not None
        return DynamoCases(self._client, self._tables.cases)

    def _profiles(self) -> DynamoProfiles | None:
        if self._tables.profiles is None:
            return None
        return DynamoProfiles(self._client, self._tables.profiles, LoyaltyRules(), StageRules())

    def _soft_bounces(self, address: str) -> int:
        item = self._client.get_item(
            TableName=self._tables.suppressions,
            Key={"address_hash": {"S": "soft#" + address_hash(Channel.EMAIL, address)}},
        ).get("Item")
        return int(item["soft_bounces"]["N"]) if item else 0

    def export(
        self, customer_id: str, addresses: dict[Channel, str] | None = None
    ) -> dict[str, Any]:
        """Everything held on the customer, as plain JSON-ready data; UnknownCustomer if
        nothing is."""
        customer = self._customer(customer_id)
        suppressions = DynamoSuppressions(self._client, self._tables.suppressions)
        preferences = DynamoPreferences(self._client, self._tables.preferences)
        known = self._addresses(customer, addresses or {})
        self._check_known(customer_id, customer, known)
        messages = self._ledger(customer_id)
        self._progress(f"{len(messages)} ledger entries")
        profiles = self._profiles()
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
            "transient_bounces": (
                self._soft_bounces(known[Channel.EMAIL]) if Channel.EMAIL in known else 0
            ),
            "messages": sorted(messages, key=lambda m: str(m.get("updated_at", ""))),
            "orders": self._orders(customer_id),
            "ratings": self._ratings(customer_id),
            # The product's profile: counts, spend, points and tier, each order's contribution
            # and every stage change with its cause.
            "profile": profiles.export(customer_id) if profiles else None,
            # Complaint cases about them: when staff were alerted, acknowledged and resolved.
            "complaint_cases": [
                {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(c).items()}
                for c in self._cases().of_customer(customer_id)
            ]
            if self._tables.cases
            else [],
        }

    def forget(
        self,
        customer_id: str,
        addresses: dict[Channel, str] | None = None,
        *,
        include_customer_record: bool = False,
        erase_suppressions: bool = False,
    ) -> dict[str, Any]:
        """Erase the customer from the product's tables; returns what was removed (counts).
        UnknownCustomer (and nothing written) if nothing is held on them."""
        customer = self._customer(customer_id)
        if customer is not None and not include_customer_record:
            raise CustomerStillActive(
                f"{customer_id} still has a row in the Customers table, so messages would go on "
                "without their opt-outs: erase it in your systems first, or pass "
                "--include-customer-record"
            )
        known = self._addresses(customer, addresses or {})
        self._check_known(customer_id, customer, known)
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
        ratings = 0
        for key in self._rating_keys(customer_id):
            assert self._tables.ratings is not None
            self._client.delete_item(TableName=self._tables.ratings, Key=key)
            ratings += 1
        suppressions = 0
        for channel, address in known.items():
            hashed = address_hash(channel, address)
            entries = [hashed, f"soft#{hashed}"] if erase_suppressions else [f"soft#{hashed}"]
            for entry in entries:
                deleted = self._client.delete_item(
                    TableName=self._tables.suppressions,
                    Key={"address_hash": {"S": entry}},
                    ReturnValues="ALL_OLD",
                )
                suppressions += 1 if deleted.get("Attributes") else 0
        profiles = self._profiles()
        profile_items = profiles.forget(customer_id) if profiles else 0
        # Cases keep their times (the response-time figures), not who complained.
        cases = self._cases().forget_customer(customer_id) if self._tables.cases else 0
        if include_customer_record and customer:
            self._client.delete_item(
                TableName=self._tables.customers, Key={"customer_id": {"S": customer_id}}
            )
        summary = {
            "messages": dict(sorted(counts.items())),
            "preference_items": preference_items,
            "ratings": ratings,
            "profile_items": profile_items,
            "complaint_cases": cases,
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
