"""The ledger table: the send ledger, and beside it the named stores that share the table
(order progress, frequency caps, one-time markers). Every item says what it is in
`record_type` (see `RecordType`), and message items carry their stage, template, channel,
kind and topic (and order, campaign or sequence where they have one), so reports and tools
read attributes, never keys."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import conditional, epoch, is_condition_failure
from lifecycle.messaging.ledger import (
    SLOT_TAKEN,
    Claim,
    Held,
    LedgerState,
    Marker,
    RecordType,
    SlotTaken,
    failure_log_key,
)
from lifecycle.messaging.message import Cap, Message

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _about(message: Message) -> dict[str, Any]:
    """The attributes that say what a message item is."""
    values: dict[str, Any] = {
        "record_type": {"S": RecordType.MESSAGE},
        "stage": {"S": message.stage},
        "template": {"S": message.template},
        "channel": {"S": str(message.channel)},
        "kind": {"S": str(message.kind)},
        "customer_id": {"S": message.customer.customer_id},
    }
    optional = {
        "topic": message.topic,
        "order_id": message.order_id,
        "campaign": message.campaign,
        "sequence": message.sequence,
        "fallback": message.fallback,
    }
    values.update({name: {"S": value} for name, value in optional.items() if value})
    return values


class _Table:
    def __init__(self, client: DynamoDBClient, table: str, retention_days: int) -> None:
        self._client = client
        self._table = table
        self._retention = timedelta(days=retention_days)

    def _item(self, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={"message_key": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return item

    def _expires(self, now: datetime) -> dict[str, str]:
        return {"N": epoch(now + self._retention)}


class DynamoLedger(_Table):
    """Message items: `message_key` (key), `status`, the attributes of `_about`, `lease_until`
    and `expires_at` (epoch seconds; the table's TTL attribute), `attempts`, `reason`,
    `provider_id`, `updated_at`. Skipped and failed items also carry `problem` (their status),
    which keys the sparse `by_problem` index ops query for what went wrong.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        lease_seconds: int = 45,
        retention_days: int = 400,
    ) -> None:
        super().__init__(client, table, retention_days)
        self._lease = timedelta(seconds=lease_seconds)

    def claim(
        self, message: Message, now: datetime, marker: Marker | None = None
    ) -> Claim | Held | LedgerState | SlotTaken:
        """Conditional write: only an unsent key with no live claim can be taken. With a
        marker, one transaction takes the key and the cap's marker together, or neither."""
        token = uuid.uuid4().hex
        about = _about(message)
        names = {f"#{name}": name for name in about}
        sets = ", ".join(f"#{name} = :{name}" for name in about)
        # A claim on the first channel after one on another leaves no stale fallback behind
        # (through a name: DynamoDB rejects unused names, and reserves many words).
        stale = "" if message.fallback else ", #fallback"
        if not message.fallback:
            names["#fallback"] = "fallback"
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"message_key": {"S": message.key}},
            "UpdateExpression": (
                f"SET #status = :claimed, claim_token = :token, lease_until = :lease, {sets}, "
                f"updated_at = :now, expires_at = :expires REMOVE reason, problem{stale} "
                "ADD attempts :one"
            ),
            "ConditionExpression": (
                "attribute_not_exists(message_key) OR "
                "(#status <> :sent AND (#status <> :claimed OR lease_until < :epoch))"
            ),
            "ExpressionAttributeNames": {"#status": "status", **names},
            "ExpressionAttributeValues": {
                ":claimed": {"S": LedgerState.CLAIMED},
                ":sent": {"S": LedgerState.SENT},
                ":token": {"S": token},
                ":lease": {"N": epoch(now + self._lease)},
                ":epoch": {"N": epoch(now)},
                ":now": {"S": now.isoformat()},
                ":expires": self._expires(now),
                ":one": {"N": "1"},
                **{f":{name}": value for name, value in about.items()},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            if marker is None:
                self._client.update_item(**update)
            else:
                put = DynamoCaps.marker_put(
                    self._table, marker.slot, marker.cap, marker.customer_id, now
                )
                items: Any = [{"Update": update}, {"Put": put}]
                self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            held: dict[str, Any] | None = None
            if marker is not None and _cancelled(error):
                reasons = cast(dict[str, Any], error.response).get("CancellationReasons") or []
                codes = [str(r.get("Code")) for r in reasons]
                if codes[:1] != ["ConditionalCheckFailed"]:
                    return SLOT_TAKEN  # the key was free; the marker was not
                held = reasons[0].get("Item") or {}
            elif not is_condition_failure(error):
                raise
            if held is None:
                held = cast(dict[str, Any], error.response).get("Item") or {}
            if not held:
                held = self._item(message.key) or {}
            if held.get("status", {}).get("S") == LedgerState.SENT:
                return LedgerState.SENT
            lease = held.get("lease_until", {}).get("N")
            return Held(datetime.fromtimestamp(int(lease), UTC) if lease else None)
        return Claim(key=message.key, token=token)

    def mark_sent(self, claim: Claim, provider_id: str, now: datetime) -> None:
        self._finish(claim, LedgerState.SENT, now, provider_id=provider_id)

    def mark_failed(self, claim: Claim, reason: str, now: datetime) -> None:
        self._finish(claim, LedgerState.FAILED, now, reason=reason)

    def mark_uncertain(self, claim: Claim, reason: str, now: datetime) -> None:
        """Note why the claim is kept; the lease, not a release, decides when to retry."""
        conditional(
            lambda: self._client.update_item(
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
        )

    def release(self, claim: Claim) -> None:
        """Delete our own claim; a key someone else has since taken is left alone."""
        conditional(
            lambda: self._client.delete_item(
                TableName=self._table,
                Key={"message_key": {"S": claim.key}},
                ConditionExpression="claim_token = :token AND #status = :claimed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":token": {"S": claim.token},
                    ":claimed": {"S": LedgerState.CLAIMED},
                },
            )
        )

    def record_skip(self, message: Message, reason: str, now: datetime) -> None:
        self._put_outcome(message.key, LedgerState.SKIPPED, now, reason, _about(message))

    def record_deferred(
        self,
        message: Message,
        reason: str,
        until: datetime,
        since: datetime,
        now: datetime,
        attributes: Mapping[str, str],
    ) -> bool:
        """A deferred item: `status` and `problem` `deferred` (so the `by_problem` index lists
        what waits), `reason`, `deliver_at` and `deferred_since` (ISO 8601, UTC), and the
        decision's attributes. `deferred_reason` stays on the item once it is claimed and sent
        (a claim clears `reason`), so a sent message still says it waited and why."""
        about = {
            **_about(message),
            **{name: {"S": value} for name, value in attributes.items()},
            "deliver_at": {"S": until.astimezone(UTC).isoformat()},
            "deferred_since": {"S": since.astimezone(UTC).isoformat()},
            "deferred_reason": {"S": reason},
        }
        return self._put_outcome(message.key, LedgerState.DEFERRED, now, reason, about)

    def record_rejected(
        self, key: str, stage: str, customer_id: str | None, reason: str, now: datetime
    ) -> None:
        about: dict[str, Any] = {"record_type": {"S": RecordType.REJECTION}, "stage": {"S": stage}}
        if customer_id:
            about["customer_id"] = {"S": customer_id}
        self._put_outcome(key, LedgerState.FAILED, now, reason, about)

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
        conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"message_key": {"S": claim.key}},
                UpdateExpression=update,
                ConditionExpression="claim_token = :token",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        )

    def _put_outcome(
        self, key: str, state: LedgerState, now: datetime, reason: str, about: dict[str, Any]
    ) -> bool:
        item: dict[str, Any] = {
            "message_key": {"S": key},
            "status": {"S": state},
            "problem": {"S": state},
            "reason": {"S": reason},
            "updated_at": {"S": now.isoformat()},
            "expires_at": self._expires(now),
            **about,
        }
        # Never overwrite a message that was sent or is being sent.
        return conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(message_key) OR #status IN (:skipped, :failed, :deferred)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":skipped": {"S": LedgerState.SKIPPED},
                    ":failed": {"S": LedgerState.FAILED},
                    ":deferred": {"S": LedgerState.DEFERRED},
                },
            )
        )


class DynamoProgress(_Table):
    """Order progress items (`order-progress#<order_id>`): `progress_rank`, `order_status`."""

    def advance(
        self, order_id: str, customer_id: str, rank: int, status: str, now: datetime
    ) -> str | None:
        """Record that the order reached `rank`; returns the later status it had already
        reached (the update is stale), or None. The same rank again is not stale: a
        redelivered record must still be able to send its (deduplicated) message."""
        key = f"order-progress#{order_id}"
        moved = conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"message_key": {"S": key}},
                UpdateExpression=(
                    "SET progress_rank = :rank, order_status = :status, customer_id = :c, "
                    "order_id = :order, record_type = :type, updated_at = :now, "
                    "expires_at = :expires, #status = :progress"
                ),
                ConditionExpression="attribute_not_exists(progress_rank) OR progress_rank <= :rank",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":rank": {"N": str(rank)},
                    ":status": {"S": status},
                    ":c": {"S": customer_id},
                    ":order": {"S": order_id},
                    ":type": {"S": RecordType.PROGRESS},
                    ":now": {"S": now.isoformat()},
                    ":expires": self._expires(now),
                    ":progress": {"S": "progress"},
                },
            )
        )
        if moved:
            return None
        item = self._item(key) or {}
        return str(item.get("order_status", {}).get("S", "further"))


class DynamoCaps(_Table):
    """Frequency cap items (the cap's key): `owner`, `customer_id`, `taken_at` (epoch)."""

    def __init__(self, client: DynamoDBClient, table: str, retention_days: int) -> None:
        super().__init__(client, table, retention_days)
        # Markers read ahead for a page of recipients (`prefetch`), by key.
        self._ahead: dict[str, dict[str, Any]] = {}

    def prefetch(self, caps: list[Cap]) -> None:
        """Read the markers of a page of recipients' caps in batches: their `take` then
        writes the one marker it needs and reads nothing (until `forget_ahead`)."""
        from lifecycle.adapters.audience import batch_get

        keys = list(dict.fromkeys(key for cap in caps for key in cap.slots))
        found = batch_get(
            self._client,
            self._table,
            [{"message_key": {"S": key}} for key in keys],
            consistent=True,
        )
        self._ahead = {key: {} for key in keys}
        self._ahead.update({item["message_key"]["S"]: item for item in found})

    def forget_ahead(self) -> None:
        self._ahead = {}

    def would_hold(self, cap: Cap, now: datetime) -> bool:
        """Whether the cap would hold a message back now (reads only: the dry run)."""
        cutoff = now - cap.window
        items = [self._item(key) or {} for key in cap.slots]
        if any(item.get("owner", {}).get("S") == cap.owner for item in items):
            return False
        return not any(_free(item, cutoff) for item in items)

    def take(self, cap: Cap, customer_id: str, now: datetime) -> datetime | None:
        """Take one of the cap's markers (one per message it lets through in its window) for
        its owner: None if taken, else when the earliest marker held by another was taken.
        The same owner may take it again (a retried trigger is not capped by its own first
        attempt), without moving the window or taking a second marker. Each marker is a
        conditional write, so concurrent senders can never take more than `limit`."""
        cutoff = now - cap.window
        ahead = [self._ahead[key] for key in cap.slots] if cap.slots[0] in self._ahead else None
        slots = list(cap.slots)
        if cap.limit > 1:
            held = ahead if ahead is not None else [self._item(key) or {} for key in cap.slots]
            if any(_holds(item, cap.owner, cutoff) for item in held):
                return None
        if ahead is not None:
            owners = {item.get("owner", {}).get("S") for item in ahead}
            if cap.owner not in owners and not any(_free(item, cutoff) for item in ahead):
                # Every marker is another's and in its window: held, with nothing written.
                return datetime.fromtimestamp(
                    min(int(item["taken_at"]["N"]) for item in ahead), UTC
                )
            # The free markers first: one write takes the cap.
            slots.sort(key=lambda key: not _free(self._ahead[key], cutoff))
        for key in cap.slots:
            self._ahead.pop(key, None)  # written from here on: read again if asked again
        for key in slots:
            if self._put_marker(key, cap, customer_id, now):
                return None
        owned = [self._item(key) or {} for key in cap.slots]
        if any(item.get("owner", {}).get("S") == cap.owner for item in owned):
            return None
        taken = [int(item.get("taken_at", {}).get("N", "0")) for item in owned]
        return datetime.fromtimestamp(min(taken), UTC)

    @staticmethod
    def marker_put(
        table: str, key: str, cap: Cap, customer_id: str, now: datetime
    ) -> dict[str, Any]:
        """The conditional put that takes one of a cap's markers (alone, or in a claim's
        transaction): only a marker that is absent or out of its window can be taken."""
        return {
            "TableName": table,
            "Item": {
                "message_key": {"S": key},
                "record_type": {"S": RecordType.CAP},
                "status": {"S": "throttle"},
                "owner": {"S": cap.owner},
                "customer_id": {"S": customer_id},
                "taken_at": {"N": epoch(now)},
                "updated_at": {"S": now.isoformat()},
                "expires_at": {"N": epoch(now + cap.window + timedelta(days=1))},
            },
            "ConditionExpression": "attribute_not_exists(message_key) OR taken_at < :cutoff",
            "ExpressionAttributeValues": {":cutoff": {"N": epoch(now - cap.window)}},
        }

    def _put_marker(self, key: str, cap: Cap, customer_id: str, now: datetime) -> bool:
        put = self.marker_put(self._table, key, cap, customer_id, now)
        return conditional(lambda: self._client.put_item(**put))

    def free_slot(self, cap: Cap, now: datetime) -> str | datetime | None:
        """From the markers read ahead: a free one's key, or when the earliest was taken if
        every one is another's and in its window; None when not read ahead, or when the owner
        holds one (a retry takes its own marker again the usual way)."""
        if cap.slots[0] not in self._ahead:
            return None
        ahead = [self._ahead[key] for key in cap.slots]
        if cap.owner in {item.get("owner", {}).get("S") for item in ahead}:
            return None
        cutoff = now - cap.window
        free = [key for key, item in zip(cap.slots, ahead, strict=True) if _free(item, cutoff)]
        if free:
            return free[0]
        return datetime.fromtimestamp(min(int(item["taken_at"]["N"]) for item in ahead), UTC)

    def give_back(self, cap: Cap) -> None:
        """Give the marker back when nothing went out (skipped, failed): a request the customer
        never got must not hold off the next one."""
        for key in cap.slots:
            self._ahead.pop(key, None)  # what was read ahead of it is no longer so
            conditional(
                partial(
                    self._client.delete_item,
                    TableName=self._table,
                    Key={"message_key": {"S": key}},
                    ConditionExpression="#owner = :owner",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":owner": {"S": cap.owner}},
                )
            )


def _cancelled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _free(item: dict[str, Any], cutoff: datetime) -> bool:
    """Whether a marker item (read ahead) is free to take: absent, or older than the window."""
    return not item or int(item.get("taken_at", {}).get("N", "0")) < int(cutoff.timestamp())


def _holds(item: dict[str, Any], owner: str, cutoff: datetime) -> bool:
    """Whether a marker item is `owner`'s and still within its window."""
    taken = int(item.get("taken_at", {}).get("N", "0"))
    return item.get("owner", {}).get("S") == owner and taken >= int(cutoff.timestamp())


class DynamoMarkers(_Table):
    """One-time marker items: `status` = `handled`, `stage` = what was handled, plus the
    attributes given (an alert's reason and rating, say)."""

    def seen(self, key: str) -> bool:
        return self._item(key) is not None

    def first_time(
        self, key: str, what: str, now: datetime, attributes: Mapping[str, str] | None = None
    ) -> bool:
        """Record that `key` (an SES feedback id, say) was handled; False if it already was."""
        item: dict[str, Any] = {
            **{name: {"S": value} for name, value in (attributes or {}).items()},
            "message_key": {"S": key},
            "record_type": {"S": RecordType.MARKER},
            "status": {"S": "handled"},
            "stage": {"S": what},
            "updated_at": {"S": now.isoformat()},
            "expires_at": self._expires(now),
        }
        return conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(message_key)",
            )
        )


class DynamoStreamFailures(_Table):
    """Stream-failure items, one per failed invocation of a shard's batch, keyed by the stream
    and the first failed sequence number (the `startSequenceNumber` Lambda's OnFailure message
    names once retries run out): `status` `failed`, `records` (JSON: sequence, event name,
    keys), kept 14 days like the failure queues' messages."""

    KEPT = timedelta(days=14)

    def record(
        self, stream_arn: str, first_sequence: str, entries: list[dict[str, Any]], now: datetime
    ) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "message_key": {"S": failure_log_key(stream_arn, first_sequence)},
                "record_type": {"S": RecordType.STREAM_FAILURE},
                "status": {"S": "failed"},
                "records": {"S": json.dumps(entries, separators=(",", ":"))},
                "updated_at": {"S": now.isoformat()},
                "expires_at": {"N": epoch(now + self.KEPT)},
            },
        )
