"""The Profiles table: the product's own view of each customer (never the business's tables).

One item collection per customer (`customer_id`, `sk`):

    sk = "profile"                 the profile: counts, spend, points, tier, stage, version,
                                   and, while time can still change its stage, `due_shard`
                                   and `due_day` (the sparse `due` index)
    sk = "order#<order_id>"        each order's last contribution (what makes replays no-ops)
    sk = "stage#<utc time>#<version>#<n>"  each stage change: when, old, new, cause
    sk = "promo#<programme>"       the customer's promo codes (adapters/promo.py, beside a
                                   lookup item per code under `customer_id = code#<code>`)
    sk = "exposure#<message key>"  each retention exposure: a message that went, or a
                                   holdout's record of the one it did not get; `programme`
                                   and `exposed_at` key the `exposures` index the retention
                                   report reads, and an order attributed to it adds
                                   `attributed_order` and its `revenue`

A profile, its order's contribution and the stage changes they cause are written in one
transaction, on the condition that nobody wrote the profile or the contribution since they
were read; a lost race re-reads and folds again. The `due` index holds only profiles whose
stage time can change, keyed by a write shard (`due_shard`, a stable hash of the customer id)
and sorted by the day (`due_day`): the daily job asks each shard for `due_day <= today`, so it
reads only the customers due (and any a missed day left behind), never the whole table.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import plain
from lifecycle.adapters.promo import CODE_SK, lookup_key
from lifecycle.messaging.errors import TransientError
from lifecycle.models import Order, OrderStatus
from lifecycle.profiles.model import (
    NO_CURRENCY,
    Contribution,
    Exposed,
    Exposure,
    Folded,
    LoyaltyRules,
    Profile,
    contribution,
)
from lifecycle.profiles.promo import GiveBack, Use
from lifecycle.profiles.promo import actions as promo_actions
from lifecycle.profiles.stages import (
    Change,
    StageRules,
    advance,
    apply_order,
    first_marks,
    next_due,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PROFILE = "profile"
TALLIED = "tallied"
# The version of the retention marks a profile item carries (absent: written before them).
RETENTION_MARKS = 1
DUE_INDEX = "due"
# Write shards of the due index: a day's due customers spread over this many partitions.
# Fixed: the daily job reads every shard, so changing it would strand profiles.
DUE_SHARDS = 16
# Lost races (another order of the same customer folded at the same moment) before giving up
# and letting the trigger retry.
ATTEMPTS = 5

ItemsRead = Callable[[int], None]
OnPromo = Callable[[Use | GiveBack, Order], None]


def due_shard(customer_id: str) -> str:
    digest = hashlib.sha256(customer_id.encode()).digest()
    return f"{int.from_bytes(digest[:4], 'big') % DUE_SHARDS:02d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _profile_item(profile: Profile, due: date | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "customer_id": _s(profile.customer_id),
        "sk": _s(PROFILE),
        "placed": {"N": str(profile.placed)},
        "delivered": {"N": str(profile.delivered)},
        "cancelled": {"N": str(profile.cancelled)},
        "spend": {"M": {c: {"N": str(a)} for c, a in profile.spend.items()}},
        "points": {"N": str(profile.points)},
        "open_orders": {"N": str(profile.open_orders)},
        "recent": {"M": {o: _s(t.isoformat()) for o, t in profile.recent.items()}},
        "stage": _s(profile.stage),
        "version": {"N": str(profile.version)},
        "updated_at": _s(datetime.now(UTC).isoformat()),
        # Written with the retention stage's marks (see `first_marks` for profiles without).
        "retention_marks": {"N": str(RETENTION_MARKS)},
        # Counted by the report's tally (reporting/tally.py): an image without it was written
        # before the tally was, so its counts were never added and are not taken away.
        TALLIED: {"BOOL": True},
    }
    optional = {
        "tier": profile.tier,
        "first_order_at": profile.first_order_at and profile.first_order_at.isoformat(),
        "last_order_at": profile.last_order_at and profile.last_order_at.isoformat(),
        "stage_since": profile.stage_since and profile.stage_since.isoformat(),
        "lapsed_since": profile.lapsed_since and profile.lapsed_since.isoformat(),
        "last_delivered_at": profile.last_delivered_at and profile.last_delivered_at.isoformat(),
        "winback_at": profile.winback_at and profile.winback_at.isoformat(),
        "winback_key": profile.winback_key,
        "won_back_at": profile.won_back_at and profile.won_back_at.isoformat(),
        "as_of": profile.as_of and profile.as_of.isoformat(),
        "winback_done": profile.winback_done,
        "appreciated": profile.appreciated,
    }
    item.update({name: _s(value) for name, value in optional.items() if value})
    if profile.tiers_rewarded:
        item["tiers_rewarded"] = {"SS": sorted(profile.tiers_rewarded)}
    if profile.exposures:
        item["exposures"] = {
            "M": {
                family: {
                    "M": {
                        "at": _s(exposed.at.isoformat()),
                        "sk": _s(exposed.sk),
                        "treated": {"BOOL": exposed.treated},
                    }
                }
                for family, exposed in profile.exposures.items()
            }
        }
    if due is not None:
        item["due_shard"] = _s(due_shard(profile.customer_id))
        item["due_day"] = _s(due.isoformat())
    return item


def profile_from(item: dict[str, Any], rules: StageRules | None = None) -> Profile:
    """The profile an item holds. Given the rules, a profile written before the retention
    stage existed gets its first marks (nothing owed from before)."""
    profile = _profile_values(item)
    if rules is not None and "retention_marks" not in item:
        return first_marks(profile, rules)
    return profile


def _profile_values(item: dict[str, Any]) -> Profile:
    values = plain(item)
    return Profile(
        customer_id=values["customer_id"],
        placed=int(values.get("placed", 0)),
        delivered=int(values.get("delivered", 0)),
        cancelled=int(values.get("cancelled", 0)),
        spend={c: Decimal(a) for c, a in (values.get("spend") or {}).items()},
        points=int(values.get("points", 0)),
        tier=values.get("tier"),
        first_order_at=_time(values.get("first_order_at")),
        last_order_at=_time(values.get("last_order_at")),
        last_delivered_at=_time(values.get("last_delivered_at")),
        open_orders=int(values.get("open_orders", 0)),
        recent={o: datetime.fromisoformat(t) for o, t in (values.get("recent") or {}).items()},
        stage=values.get("stage", "prospect"),
        stage_since=_time(values.get("stage_since")),
        lapsed_since=_time(values.get("lapsed_since")),
        winback_at=_time(values.get("winback_at")),
        winback_key=values.get("winback_key"),
        won_back_at=_time(values.get("won_back_at")),
        as_of=date.fromisoformat(values["as_of"]) if values.get("as_of") else None,
        version=int(values.get("version", 0)),
        winback_done=values.get("winback_done"),
        tiers_rewarded=frozenset(values.get("tiers_rewarded") or ()),
        appreciated=values.get("appreciated"),
        exposures={
            family: Exposed(
                at=datetime.fromisoformat(exposed["at"]),
                sk=exposed["sk"],
                treated=bool(exposed["treated"]),
            )
            for family, exposed in (values.get("exposures") or {}).items()
        },
    )


def _contribution_item(customer_id: str, part: Contribution) -> dict[str, Any]:
    item: dict[str, Any] = {
        "customer_id": _s(customer_id),
        "sk": _s(f"order#{part.order_id}"),
        "order_id": _s(part.order_id),
        "placed_at": _s(part.placed_at.isoformat()),
        "updated_at": _s(part.updated_at.isoformat()),
        "status": _s(str(part.status)),
        "spend": {"N": str(part.spend)},
        "points": {"N": str(part.points)},
    }
    if part.currency:
        item["currency"] = _s(part.currency)
    if part.delivered_at:
        item["delivered_at"] = _s(part.delivered_at.isoformat())
    if part.promo_code:
        item["promo_code"] = _s(part.promo_code)
    if part.attributed:
        item["attributed"] = {"L": [_s(sk) for sk in part.attributed]}
    return item


def _contribution_from(item: dict[str, Any]) -> Contribution:
    values = plain(item)
    return Contribution(
        order_id=values["order_id"],
        placed_at=datetime.fromisoformat(values["placed_at"]),
        updated_at=datetime.fromisoformat(values["updated_at"]),
        status=OrderStatus(values["status"]),
        currency=values.get("currency"),
        spend=Decimal(values.get("spend", 0)),
        points=int(values.get("points", 0)),
        delivered_at=_time(values.get("delivered_at")),
        promo_code=values.get("promo_code"),
        attributed=tuple(values.get("attributed") or ()),
    )


def _change_item(customer_id: str, change: Change, version: int, number: int) -> dict[str, Any]:
    at = change.at.astimezone(UTC).isoformat()
    return {
        "customer_id": _s(customer_id),
        # Sorted by time; the profile version that wrote it (and its place in that write) keep
        # two changes at the same instant apart.
        "sk": _s(f"stage#{at}#{version:010d}#{number}"),
        "at": _s(change.at.isoformat()),
        "old": _s(change.old),
        "new": _s(change.new),
        "cause": _s(change.cause),
    }


EXPOSURES_INDEX = "exposures"
EXPOSURE_SK = "exposure#"


def exposure_item(customer_id: str, exposure: Exposure) -> dict[str, Any]:
    return {
        "customer_id": _s(customer_id),
        "sk": _s(exposure.sk),
        # The `exposures` index: each programme's exposures in time order.
        "programme": _s(exposure.programme),
        "exposed_at": _s(exposure.at.astimezone(UTC).isoformat()),
        "family": _s(exposure.family),
        "message_key": _s(exposure.key),
        "group": _s("treated" if exposure.treated else "holdout"),
        "outcome": _s(exposure.outcome),
    }


def change_from(item: dict[str, Any]) -> Change:
    values = plain(item)
    return Change(
        at=datetime.fromisoformat(values["at"]),
        old=values["old"],
        new=values["new"],
        cause=values["cause"],
    )


# Why DynamoDB cancels a transaction when another writer got there first: a condition on what
# was read no longer holds, or another transaction on the same item was in progress.
_RACE_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def _lost_race(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    if code in ("ConditionalCheckFailedException", "TransactionConflictException"):
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = error.response.get("CancellationReasons") or []
    codes = {reason.get("Code") for reason in reasons} - {"None", None}
    # moto does not always say why; a cancelled transaction of conditional puts is a lost race
    # unless a reason says otherwise (throttling, validation: the caller's trigger retries).
    return not codes - _RACE_REASONS


class DynamoProfiles:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        loyalty: LoyaltyRules,
        rules: StageRules,
    ) -> None:
        self._client = client
        self._table = table
        self._loyalty = loyalty
        self._rules = rules

    # ------------------------------------------------------------------ reads
    def _get(self, customer_id: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table,
            Key={"customer_id": _s(customer_id), "sk": _s(sk)},
            ConsistentRead=True,
        ).get("Item")
        return item

    def get(self, customer_id: str) -> Profile | None:
        item = self._get(customer_id, PROFILE)
        return profile_from(item, self._rules) if item else None

    def _collection(self, customer_id: str, prefix: str | None = None) -> Iterator[dict[str, Any]]:
        condition = "customer_id = :c"
        values: dict[str, Any] = {":c": _s(customer_id)}
        if prefix is not None:
            condition += " AND begins_with(sk, :p)"
            values[":p"] = _s(prefix)
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        ):
            yield from page["Items"]

    def history(self, customer_id: str) -> list[Change]:
        return [change_from(item) for item in self._collection(customer_id, "stage#")]

    def contributions(self, customer_id: str) -> list[Contribution]:
        return [_contribution_from(item) for item in self._collection(customer_id, "order#")]

    def due(self, until: date, items_read: ItemsRead | None = None) -> Iterator[str]:
        """The customers whose stage time may change on or before `until`, shard by shard
        (starting from a different shard each day, so a run that runs out of time leaves a
        different part of the rest for the next one)."""
        paginator = self._client.get_paginator("query")
        first = until.toordinal() % DUE_SHARDS
        for shard in (*range(first, DUE_SHARDS), *range(first)):
            for page in paginator.paginate(
                TableName=self._table,
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_shard = :s AND due_day <= :d",
                ExpressionAttributeValues={
                    ":s": _s(f"{shard:02d}"),
                    ":d": _s(until.isoformat()),
                },
            ):
                if items_read is not None:
                    items_read(int(page.get("ScannedCount", page.get("Count", 0))))
                for item in page["Items"]:
                    yield str(item["customer_id"]["S"])

    # ------------------------------------------------------------------ writes
    def record_order(self, order: Order, on_promo: OnPromo | None = None) -> Folded | None:
        """Fold one order image into its customer's profile; None when it changes nothing
        (a replayed or older image).

        `on_promo` is handed what the image means for its promo codes (redeem one, give one
        back), before the fold is written and only for an image that is folded: a replayed
        image never acts twice, and a crash in between repeats the action, which is
        idempotent, rather than losing it."""
        acted = False
        for _ in range(ATTEMPTS):
            profile_item = self._get(order.customer_id, PROFILE)
            part_item = self._get(order.customer_id, f"order#{order.order_id}")
            profile = (
                profile_from(profile_item, self._rules)
                if profile_item
                else Profile(order.customer_id)
            )
            before = _contribution_from(part_item) if part_item else None
            after = contribution(order, before, self._loyalty)
            if before is not None and not after.newer_than(before):
                return None
            if on_promo is not None and not acted:
                # Once per image even when the fold below loses a race and is read again: this
                # order's own last image (`before`) cannot change meanwhile (one stream shard).
                steps = promo_actions(
                    before.promo_code if before else None,
                    before.cancelled if before else False,
                    after.promo_code,
                    after.cancelled,
                )
                for step in steps:
                    on_promo(step, order)
                acted = True
            folded = apply_order(profile, before, after, self._loyalty, self._rules)
            part = {
                "Put": {
                    "TableName": self._table,
                    "Item": _contribution_item(order.customer_id, folded.contribution),
                    **(
                        {
                            "ConditionExpression": "updated_at = :u AND #st = :st",
                            "ExpressionAttributeNames": {"#st": "status"},
                            "ExpressionAttributeValues": {
                                ":u": _s(before.updated_at.isoformat()),
                                ":st": _s(str(before.status)),
                            },
                        }
                        if before is not None
                        else {"ConditionExpression": "attribute_not_exists(sk)"}
                    ),
                }
            }
            extra = [part, *self._attributions(order.customer_id, folded.contribution)]
            if self._write(folded.profile, profile.version, folded.changes, extra):
                return replace(folded, profile=replace(folded.profile, version=profile.version + 1))
        raise TransientError(f"profile {order.customer_id}: too many concurrent writes")

    def advance(self, customer_id: str, until: date) -> list[Change] | None:
        """Apply the changes time makes to the customer's stage up to `until` (the daily
        job); None if they have no profile."""
        for _ in range(ATTEMPTS):
            item = self._get(customer_id, PROFILE)
            if item is None:
                return None
            profile = profile_from(item, self._rules)
            if profile.as_of is not None and profile.as_of >= until:
                return []  # already brought up to that day (a redelivered batch)
            moved, changes = advance(profile, until, self._rules)
            if self._write(moved, profile.version, tuple(changes), []):
                return changes
        raise TransientError(f"profile {customer_id}: too many concurrent writes")

    def _attributions(self, customer_id: str, part: Contribution) -> list[dict[str, Any]]:
        """The order on each exposure it is attributed to, with its revenue as of this image
        (its spend once delivered; nothing while under way). A cancelled order is no
        conversion: the attribution is taken off the exposure again."""
        if part.cancelled:
            expression = (
                "SET revenue = :r, revenue_currency = :c REMOVE attributed_order, attributed_at"
            )
            values: dict[str, Any] = {}
        else:
            expression = (
                "SET attributed_order = :o, attributed_at = :a, revenue = :r, revenue_currency = :c"
            )
            values = {":o": _s(part.order_id), ":a": _s(part.placed_at.isoformat())}
        values |= {":r": {"N": str(part.spend)}, ":c": _s(part.currency or NO_CURRENCY)}
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"customer_id": _s(customer_id), "sk": _s(sk)},
                    "UpdateExpression": expression,
                    "ExpressionAttributeValues": values,
                }
            }
            for sk in part.attributed
        ]

    def mark(
        self, customer_id: str, marks: Callable[[Profile], Profile], exposure: Exposure | None
    ) -> bool:
        """Record what the retention stage did for the customer (`marks`: the step handled,
        the tier announced, the quarter rewarded) and the exposure it measures, in one write;
        False when the marks were already there (a redelivered batch), which writes nothing.
        The profile's day in the due index moves on with them."""
        for _ in range(ATTEMPTS):
            item = self._get(customer_id, PROFILE)
            if item is None:
                return False
            profile = profile_from(item, self._rules)
            marked = marks(profile)
            if marked == profile:
                return False
            extra: list[dict[str, Any]] = []
            if exposure is not None:
                opened = Exposed(exposure.at, exposure.sk, exposure.treated)
                marked = replace(marked, exposures={**marked.exposures, exposure.family: opened})
                extra.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": exposure_item(customer_id, exposure),
                        }
                    }
                )
            if self._write(marked, profile.version, (), extra):
                return True
        raise TransientError(f"profile {customer_id}: too many concurrent writes")

    def winback_sent(self, customer_id: str, at: datetime, key: str) -> None:
        """Record a win-back message, so an order after it wins the customer back."""
        from lifecycle.profiles.stages import winback_sent

        for _ in range(ATTEMPTS):
            item = self._get(customer_id, PROFILE)
            if item is None:
                return
            profile = profile_from(item, self._rules)
            if self._write(winback_sent(profile, at, key), profile.version, (), []):
                return
        raise TransientError(f"profile {customer_id}: too many concurrent writes")

    def _write(
        self,
        profile: Profile,
        version: int,
        changes: tuple[Change, ...],
        extra: list[dict[str, Any]],
    ) -> bool:
        """Write the profile (version + 1, on condition nobody wrote it since `version`), its
        stage changes and `extra` in one transaction; False on a lost race."""
        due = next_due(profile, profile.as_of, self._rules) if profile.as_of else None
        written = replace(profile, version=version + 1)
        condition: dict[str, Any] = (
            {
                # Through a name: DynamoDB reserves many words.
                "ConditionExpression": "#version = :v",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
            if version
            else {"ConditionExpression": "attribute_not_exists(sk)"}
        )
        items = [
            {"Put": {"TableName": self._table, "Item": _profile_item(written, due), **condition}},
            *extra,
            *(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _change_item(profile.customer_id, change, version + 1, number),
                        "ConditionExpression": "attribute_not_exists(sk)",
                    }
                }
                for number, change in enumerate(changes)
            ),
        ]
        try:
            self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as error:
            if _lost_race(error):
                # Another writer of this customer's profile: read again, after a short
                # random pause so two writers do not collide again at once.
                time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not security
                return False
            raise
        return True

    # ------------------------------------------------------------------ subject requests
    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything the profiles hold on the customer, as plain values."""
        found: dict[str, Any] = {
            "profile": None,
            "orders": [],
            "stage_history": [],
            "promo_codes": [],
            "retention_exposures": [],
        }
        for item in self._collection(customer_id):
            values = plain(item)
            sk = str(values.pop("sk"))
            values.pop("customer_id", None)
            if sk == PROFILE:
                found["profile"] = values
            elif sk.startswith("order#"):
                found["orders"].append(values)
            elif sk.startswith("stage#"):
                found["stage_history"].append(values)
            elif sk.startswith(CODE_SK):
                found["promo_codes"].append(values)
            elif sk.startswith(EXPOSURE_SK):
                found["retention_exposures"].append(values)
        return found

    def forget(self, customer_id: str) -> int:
        """Delete the customer's whole item collection, and the lookup item of each of their
        promo codes (it names them); how many items went."""
        gone = 0
        for item in list(self._collection(customer_id)):
            if item["sk"]["S"].startswith(CODE_SK) and "code" in item:
                self._client.delete_item(TableName=self._table, Key=lookup_key(item["code"]["S"]))
                gone += 1
            self._client.delete_item(
                TableName=self._table, Key={"customer_id": item["customer_id"], "sk": item["sk"]}
            )
            gone += 1
        return gone
