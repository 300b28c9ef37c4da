"""The preferences table: per channel and topic opt-outs with their audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lifecycle.messaging.preferences import Change, Preferences, Source

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoPreferences:
    """Preference items (key `customer_id`, sort key `entry`):

    - `state`: `opt_outs` (string set of `channel:topic`), `version` (optimistic locking);
    - `event#<event_id>`: one audit record per change set, with `changes`, `source`, `at`.
    Recording the event and moving the state happen in one transaction, conditioned on the
    event being new, so a replayed notification or a double-submitted form changes nothing.
    """

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table
        # States read ahead for a page of recipients (`prefetch`).
        self._ahead: dict[str, dict[str, Any] | None] = {}

    def prefetch(self, customer_ids: list[str]) -> None:
        """Read the states of a page of recipients in batches; the next `get` of each is
        answered from them until `forget_ahead` (the page is done)."""
        from lifecycle.adapters.audience import batch_get

        ids = list(dict.fromkeys(customer_ids))
        keys = [{"customer_id": {"S": c}, "entry": {"S": "state"}} for c in ids]
        found = batch_get(self._client, self._table, keys, consistent=True)
        self._ahead = dict.fromkeys(ids)
        self._ahead.update({item["customer_id"]["S"]: item for item in found})

    def forget_ahead(self) -> None:
        self._ahead = {}

    def get(self, customer_id: str) -> Preferences:
        if customer_id in self._ahead:
            item = self._ahead.get(customer_id)
        else:
            item = self._client.get_item(
                TableName=self._table,
                Key={"customer_id": {"S": customer_id}, "entry": {"S": "state"}},
                ConsistentRead=True,
            ).get("Item")
        if item is None:
            return Preferences()
        return Preferences(
            opt_outs=frozenset(item.get("opt_outs", {}).get("SS", [])),
            version=int(item.get("version", {}).get("N", "0")),
        )

    def apply(
        self,
        customer_id: str,
        changes: list[Change],
        source: Source,
        at: datetime,
        event_id: str,
    ) -> bool:
        self.forget_ahead()  # optimistic locking reads the state as it is
        for _ in range(5):
            current = self.get(customer_id)
            state: dict[str, Any] = {
                "customer_id": {"S": customer_id},
                "entry": {"S": "state"},
                "version": {"N": str(current.version + 1)},
                "updated_at": {"S": at.isoformat()},
            }
            opt_outs = current.after(changes)
            if opt_outs:  # DynamoDB has no empty sets
                state["opt_outs"] = {"SS": sorted(opt_outs)}
            event: dict[str, Any] = {
                "customer_id": {"S": customer_id},
                "entry": {"S": f"event#{event_id}"},
                "at": {"S": at.isoformat()},
                "source": {"S": str(source)},
                "changes": {
                    "L": [
                        {
                            "M": {
                                "channel": {"S": str(c.channel)},
                                "topic": {"S": c.topic},
                                "action": {"S": str(c.action)},
                            }
                        }
                        for c in changes
                    ]
                },
            }
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": event,
                                "ConditionExpression": "attribute_not_exists(entry)",
                            }
                        },
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": state,
                                "ConditionExpression": (
                                    "attribute_not_exists(entry) OR version = :seen"
                                ),
                                "ExpressionAttributeValues": {":seen": {"N": str(current.version)}},
                            }
                        },
                    ]
                )
            except ClientError as error:
                reasons = error.response.get("CancellationReasons", [])
                codes = [r.get("Code") for r in reasons]
                if codes and codes[0] == "ConditionalCheckFailed":
                    return False  # this event was applied before
                if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                    continue  # someone changed the state meanwhile: read it again
                raise
            return True
        raise RuntimeError(f"preferences of {customer_id} kept changing; gave up after 5 tries")

    def history(self, customer_id: str) -> list[dict[str, Any]]:
        """Every recorded change set, oldest first (for export and audits)."""
        items: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="customer_id = :c AND begins_with(entry, :e)",
            ExpressionAttributeValues={":c": {"S": customer_id}, ":e": {"S": "event#"}},
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                items.append(
                    {
                        "at": item["at"]["S"],
                        "source": item["source"]["S"],
                        "changes": [
                            {k: v["S"] for k, v in change["M"].items()}
                            for change in item["changes"]["L"]
                        ],
                    }
                )
        return sorted(items, key=lambda e: e["at"])
