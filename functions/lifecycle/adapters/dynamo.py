"""DynamoDB adapters: the send ledger, suppressions, preferences, ratings and order history."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from lifecycle.messaging.ledger import Claim, LedgerState
from lifecycle.messaging.message import Channel, Message
from lifecycle.messaging.preferences import Change, Preferences, Source
from lifecycle.models import Lifetime, Rating

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


_DESERIALIZER = TypeDeserializer()


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


class DynamoLedger:
    """Ledger items: `message_key` (key), `status`, `stage`, `channel`, `customer_id`,
    `lease_until` and `expires_at` (epoch seconds; the table's TTL attribute), `attempts`,
    `reason`, `provider_id`, `updated_at`. Skipped and failed items also carry `problem`
    (their status), which keys the sparse `by_problem` index ops query for what went wrong.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        lease_seconds: int = 90,
        retention_days: int = 400,
    ) -> None:
        self._client = client
        self._table = table
        self._lease = timedelta(seconds=lease_seconds)
        self._retention = timedelta(days=retention_days)

    def claim(self, message: Message, now: datetime) -> Claim | LedgerState:
        """Conditional write: only an unsent key with no live claim can be taken."""
        token = uuid.uuid4().hex
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"message_key": {"S": message.key}},
                UpdateExpression=(
                    "SET #status = :claimed, claim_token = :token, lease_until = :lease, "
                    "stage = :stage, channel = :channel, customer_id = :customer, "
                    "updated_at = :now, expires_at = :expires REMOVE reason, problem "
                    "ADD attempts :one"
                ),
                ConditionExpression=(
                    "attribute_not_exists(message_key) OR "
                    "(#status <> :sent AND (#status <> :claimed OR lease_until < :epoch))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":claimed": {"S": LedgerState.CLAIMED},
                    ":sent": {"S": LedgerState.SENT},
                    ":token": {"S": token},
                    ":lease": {"N": _epoch(now + self._lease)},
                    ":epoch": {"N": _epoch(now)},
                    ":stage": {"S": message.stage},
                    ":channel": {"S": str(message.channel)},
                    ":customer": {"S": message.customer.customer_id},
                    ":now": {"S": now.isoformat()},
                    ":expires": {"N": _epoch(now + self._retention)},
                    ":one": {"N": "1"},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            held: dict[str, Any] = cast(dict[str, Any], error.response).get("Item") or {}
            if not held:
                held = self._item(message.key) or {}
            status = held.get("status", {}).get("S")
            return LedgerState.SENT if status == LedgerState.SENT else LedgerState.CLAIMED
        return Claim(key=message.key, token=token)

    def _item(self, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={"message_key": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return item

    def mark_sent(self, claim: Claim, provider_id: str, now: datetime) -> None:
        self._finish(claim, LedgerState.SENT, now, provider_id=provider_id)

    def mark_failed(self, claim: Claim, reason: str, now: datetime) -> None:
        self._finish(claim, LedgerState.FAILED, now, reason=reason)

    def mark_uncertain(self, claim: Claim, reason: str, now: datetime) -> None:
        """Note why the claim is kept; the lease, not a release, decides when to retry."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"message_key": {"S": claim.key}},
                UpdateExpression="SET reason = :reason, updated_at = :now",
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues={
                    ":reason": {"S": reason},
                    ":now": {"S": now.isoformat()},
                    ":token": {"S": claim.token},
                },
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def release(self, claim: Claim) -> None:
        """Delete our own claim; a key someone else has since taken is left alone."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"message_key": {"S": claim.key}},
                ConditionExpression="claim_token = :token AND #status = :claimed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":token": {"S": claim.token},
                    ":claimed": {"S": LedgerState.CLAIMED},
                },
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def record_skip(self, message: Message, reason: str, now: datetime) -> None:
        self._put_outcome(
            message.key,
            LedgerState.SKIPPED,
            now,
            reason=reason,
            stage=message.stage,
            customer_id=message.customer.customer_id,
            channel=str(message.channel),
        )

    def record_rejected(
        self, key: str, stage: str, customer_id: str | None, reason: str, now: datetime
    ) -> None:
        self._put_outcome(
            key, LedgerState.FAILED, now, reason=reason, stage=stage, customer_id=customer_id
        )

    def advance(
        self, order_id: str, customer_id: str, rank: int, status: str, now: datetime
    ) -> str | None:
        """Record that the order reached `rank`; returns the later status it had already
        reached (the update is stale), or None. The same rank again is not stale: a
        redelivered record must still be able to send its (deduplicated) message."""
        key = {"message_key": {"S": f"order-progress#{order_id}"}}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=(
                    "SET progress_rank = :rank, order_status = :status, customer_id = :c, "
                    "updated_at = :now, expires_at = :expires, #status = :progress"
                ),
                ConditionExpression="attribute_not_exists(progress_rank) OR progress_rank <= :rank",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":rank": {"N": str(rank)},
                    ":status": {"S": status},
                    ":c": {"S": customer_id},
                    ":now": {"S": now.isoformat()},
                    ":expires": {"N": _epoch(now + self._retention)},
                    ":progress": {"S": "progress"},
                },
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            item = self._item(f"order-progress#{order_id}") or {}
            return str(item.get("order_status", {}).get("S", "further"))
        return None

    def first_time(self, key: str, what: str, now: datetime) -> bool:
        """Record that `key` (an SES feedback id, say) was handled; False if it already was."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "message_key": {"S": key},
                    "status": {"S": "handled"},
                    "stage": {"S": what},
                    "updated_at": {"S": now.isoformat()},
                    "expires_at": {"N": _epoch(now + self._retention)},
                },
                ConditionExpression="attribute_not_exists(message_key)",
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def throttle(
        self, key: str, owner: str, customer_id: str, window: timedelta, now: datetime
    ) -> datetime | None:
        """Take the once-per-`window` marker `key` for `owner` (an order, say): None if taken,
        else when it was last taken by another. The same owner may take it again (a retried
        trigger is not throttled by its own first attempt), without moving the window."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "message_key": {"S": key},
                    "status": {"S": "throttle"},
                    "owner": {"S": owner},
                    "customer_id": {"S": customer_id},
                    "taken_at": {"N": _epoch(now)},
                    "updated_at": {"S": now.isoformat()},
                    "expires_at": {"N": _epoch(now + window + timedelta(days=1))},
                },
                ConditionExpression="attribute_not_exists(message_key) OR taken_at < :cutoff",
                ExpressionAttributeValues={":cutoff": {"N": _epoch(now - window)}},
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            held = self._item(key) or {}
            if held.get("owner", {}).get("S") == owner:
                return None
            return datetime.fromtimestamp(int(held.get("taken_at", {}).get("N", "0")), UTC)
        return None

    def release_throttle(self, key: str, owner: str) -> None:
        """Give the marker back when nothing went out (skipped, failed): a request the customer
        never got must not hold off the next one."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"message_key": {"S": key}},
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def get(self, key: str) -> dict[str, Any] | None:
        """One ledger item, plain values (for ops tooling and tests)."""
        item = self._item(key)
        if item is None:
            return None
        return {name: next(iter(value.values())) for name, value in item.items()}

    def _finish(
        self,
        claim: Claim,
        state: LedgerState,
        now: datetime,
        *,
        provider_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":state": {"S": state},
            ":now": {"S": now.isoformat()},
            ":token": {"S": claim.token},
        }
        update = "SET #status = :state, updated_at = :now"
        if provider_id is not None:
            update += ", provider_id = :provider"
            values[":provider"] = {"S": provider_id}
        if reason is not None:
            update += ", reason = :reason"
            values[":reason"] = {"S": reason}
        if state is LedgerState.FAILED:
            update += ", problem = :state REMOVE lease_until"
        else:
            update += " REMOVE lease_until, problem"
        # Conditioned on our claim token: if our lease ran out and another sender took the key,
        # their record stands.
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"message_key": {"S": claim.key}},
                UpdateExpression=update,
                ConditionExpression="claim_token = :token",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise

    def _put_outcome(
        self,
        key: str,
        state: LedgerState,
        now: datetime,
        *,
        reason: str,
        stage: str,
        customer_id: str | None,
        channel: str | None = None,
    ) -> None:
        item: dict[str, Any] = {
            "message_key": {"S": key},
            "status": {"S": state},
            "problem": {"S": state},
            "stage": {"S": stage},
            "reason": {"S": reason},
            "updated_at": {"S": now.isoformat()},
            "expires_at": {"N": _epoch(now + self._retention)},
        }
        if customer_id:
            item["customer_id"] = {"S": customer_id}
        if channel:
            item["channel"] = {"S": channel}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                # Never overwrite a message that was sent or is being sent.
                ConditionExpression=(
                    "attribute_not_exists(message_key) OR #status IN (:skipped, :failed)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":skipped": {"S": LedgerState.SKIPPED},
                    ":failed": {"S": LedgerState.FAILED},
                },
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise


def address_hash(channel: Channel, address: str) -> str:
    """Suppressions are keyed by a hash so the list itself holds no readable addresses."""
    normalised = address.strip().lower() if channel is Channel.EMAIL else address.strip()
    return hashlib.sha256(f"{channel}:{normalised}".encode()).hexdigest()


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
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"address_hash": {"S": address_hash(channel, address)}},
                ConditionExpression="begins_with(reason, :why)",
                ExpressionAttributeValues={":why": {"S": only_if_reason_starts}},
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

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

    def get(self, customer_id: str) -> Preferences:
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
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"order_id": {"S": order_id}},
                UpdateExpression=f"SET {', '.join(sets)} {add}".strip(),
                ConditionExpression="attribute_not_exists(order_id) OR customer_id = :customer",
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if _is_condition_failure(error):
                return False
            raise
        return True

    def get(self, order_id: str) -> Rating | None:
        item = self._client.get_item(
            TableName=self._table, Key={"order_id": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return Rating.model_validate({k: _DESERIALIZER.deserialize(v) for k, v in item.items()})


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
