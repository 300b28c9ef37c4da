"""The Campaigns table: each campaign's reviewed definition, its state, the planner's progress
and the senders' tallies, all under the campaign's id (`campaign_id`, sort key `sk`):

- `definition`: the campaign as scheduled (`campaign`, JSON), when and by whom;
- `state`: `status` (scheduled, sending, paused, cancelled), the send `rate` per second, the
  UTC `instants` it goes at, timestamps;
- `plan#<run>#<segment>`: one planner segment's progress (`step`, `cursor`, recipients
  `queued`, those `outside` the audience by reason, `done`);
- `wait#<instant>#<page>`: a page of recipients planned for a later instant (local-time
  sending), released to the senders by that instant's schedule;
- `parked#<page>`: a page a sender found paused, sent on by `resume`;
- `tally#<page>`: what became of one page of recipients (sent, deferred, failed, held out,
  cancelled, skipped by reason), written when the page is done; rewriting it is harmless.

The rate bucket every sender shares lives here too (`rate#email`, see adapters/rate.py).
Status sums the tallies and the plan items with one query of the campaign's items.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import conditional, plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class Status:
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class State:
    status: str
    rate: float | None  # sends per second, set when sending starts
    instants: tuple[str, ...] = ()
    updated_at: str | None = None
    started_at: str | None = None


@dataclass
class Tally:
    """What became of some recipients: counts by outcome, and skips by reason."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    held_out: int = 0
    cancelled: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first_at: str | None = None  # the page's first send and last outcome (ISO 8601, UTC)
    last_at: str | None = None

    @property
    def total(self) -> int:
        return (
            self.sent
            + self.deferred
            + self.failed
            + self.held_out
            + self.cancelled
            + sum(self.skipped.values())
        )

    def add(self, other: Tally) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.held_out += other.held_out
        self.cancelled += other.cancelled
        self.skipped.update(other.skipped)
        firsts = [t for t in (self.first_at, other.first_at) if t]
        lasts = [t for t in (self.last_at, other.last_at) if t]
        self.first_at = min(firsts) if firsts else None
        self.last_at = max(lasts) if lasts else None


@dataclass
class Plan:
    """The planner's progress over every segment and run."""

    queued: int = 0  # sent to the senders as planned (due when planned)
    later: int = 0  # planned for a later instant (local-time sending), released or not
    waiting: int = 0  # of those, in pages not yet released
    outside: Counter[str] = field(default_factory=Counter)
    segments: int = 0
    done: int = 0


@dataclass(frozen=True)
class PlanStep:
    step: int
    cursor: dict[str, Any] | None
    done: bool


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


class DynamoCampaigns:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, campaign_id: str, sk: str) -> dict[str, Any]:
        return {"campaign_id": _s(campaign_id), "sk": _s(sk)}

    def _get(self, campaign_id: str, sk: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(campaign_id, sk), ConsistentRead=True
        ).get("Item")
        return plain(item) if item else None

    # ------------------------------------------------------------------ definition and state
    def definition(self, campaign_id: str) -> dict[str, Any] | None:
        item = self._get(campaign_id, "definition")
        return json.loads(item["campaign"]) if item else None

    def put_definition(
        self, campaign_id: str, campaign: Mapping[str, Any], instants: list[str], now: datetime
    ) -> bool:
        """Store a new campaign, scheduled; False if one with this id exists (a campaign is
        scheduled once: a change is a new id, so nobody gets an announcement twice)."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                **self._key(campaign_id, "definition"),
                                "campaign": _s(json.dumps(campaign, sort_keys=True)),
                                "scheduled_at": _s(now.isoformat()),
                            },
                            "ConditionExpression": "attribute_not_exists(campaign_id)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                **self._key(campaign_id, "state"),
                                "status": _s(Status.SCHEDULED),
                                "instants": {"L": [_s(i) for i in instants]},
                                "updated_at": _s(now.isoformat()),
                            },
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise
        return True

    def state(self, campaign_id: str) -> State | None:
        item = self._get(campaign_id, "state")
        if item is None:
            return None
        rate = item.get("rate")
        return State(
            status=str(item["status"]),
            rate=float(rate) if rate is not None else None,
            instants=tuple(str(i) for i in item.get("instants") or ()),
            updated_at=item.get("updated_at"),
            started_at=item.get("started_at"),
        )

    def start(self, campaign_id: str, rate: float, now: datetime) -> State | None:
        """Start a campaign's sending at `rate`: a scheduled one moves to sending; a paused one
        (paused before it started) gets its rate and start time and stays paused until
        resumed; a cancelled one, or one started already, stays as it is. Its state after."""
        conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._key(campaign_id, "state"),
                UpdateExpression="SET rate = :rate, started_at = :now, updated_at = :now",
                ConditionExpression="#s IN (:scheduled, :paused) AND attribute_not_exists(rate)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":scheduled": _s(Status.SCHEDULED),
                    ":paused": _s(Status.PAUSED),
                    ":rate": _n(rate),
                    ":now": _s(now.isoformat()),
                },
            )
        )
        self.move(campaign_id, Status.SENDING, (Status.SCHEDULED,), now)
        return self.state(campaign_id)

    def park(self, campaign_id: str, sk: str, page: Mapping[str, Any]) -> bool:
        """Keep a page a sender found paused, if the campaign is paused still (one write
        with the check): False when it was resumed or cancelled meanwhile, so the sender
        reads the state again rather than park a page nobody would send on."""
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": self._key(campaign_id, "state"),
                            "ConditionExpression": "#s = :paused",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":paused": _s(Status.PAUSED)},
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {**self._key(campaign_id, sk), "page": _s(json.dumps(page))},
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise
        return True

    def move(self, campaign_id: str, to: str, allowed_from: tuple[str, ...], now: datetime) -> bool:
        """Change the status if it is one of `allowed_from`; False if it was not."""
        values = {f":from{i}": _s(s) for i, s in enumerate(allowed_from)}
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=self._key(campaign_id, "state"),
                UpdateExpression="SET #s = :to, updated_at = :now",
                ConditionExpression=f"#s IN ({', '.join(values)})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":to": _s(to), ":now": _s(now.isoformat()), **values},
            )
        )

    # ------------------------------------------------------------------ planning
    def plan_step(self, campaign_id: str, run: str, segment: int) -> PlanStep:
        item = self._get(campaign_id, f"plan#{run}#{segment:03d}")
        if item is None:
            return PlanStep(0, None, False)
        cursor = item.get("cursor")
        return PlanStep(
            int(item["step"]), json.loads(cursor) if cursor else None, bool(item["done"])
        )

    def advance_plan(
        self,
        campaign_id: str,
        run: str,
        segment: int,
        step: int,
        cursor: dict[str, Any] | None,
        queued: int,
        waiting: int,
        outside: Mapping[str, int],
    ) -> bool:
        """Record that `step` of the segment is done (its pages queued or stored), and where
        the next begins; False if it was recorded already (a redelivered step)."""
        values: dict[str, Any] = {
            ":step": _n(step + 1),
            ":prev": _n(step),
            ":done": {"BOOL": cursor is None},
            ":zero": _n(0),
            ":queued": _n(queued),
            ":waiting": _n(waiting),
        }
        update = (
            "SET step = :step, done = :done, queued = if_not_exists(queued, :zero) + :queued, "
            "waiting = if_not_exists(waiting, :zero) + :waiting"
        )
        if cursor is not None:
            update += ", #cursor = :cursor"
            values[":cursor"] = _s(json.dumps(cursor))
        names = {"#cursor": "cursor"}
        for i, (reason, count) in enumerate(sorted(outside.items())):
            names[f"#o{i}"] = reason
            values[f":o{i}"] = _n(count)
        if outside:
            update += ", outside.#o" + ", outside.#o".join(
                f"{i} = if_not_exists(outside.#o{i}, :zero) + :o{i}" for i in range(len(outside))
            )
        condition = "attribute_not_exists(step) OR step = :prev"
        key = self._key(campaign_id, f"plan#{run}#{segment:03d}")
        if outside:
            # A map must exist before its entries can be set.
            conditional(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET outside = :empty",
                    ConditionExpression="attribute_not_exists(outside)",
                    ExpressionAttributeValues={":empty": {"M": {}}},
                )
            )
        if cursor is None:
            update += " REMOVE #cursor"
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        )

    # ------------------------------------------------------------------ pages
    def store_page(self, campaign_id: str, sk: str, page: Mapping[str, Any]) -> None:
        """Keep a page (waiting for its instant, or parked by a pause)."""
        self._client.put_item(
            TableName=self._table,
            Item={**self._key(campaign_id, sk), "page": _s(json.dumps(page))},
        )

    def pages(self, campaign_id: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The pages stored under a prefix (`wait#<instant>#`, `parked#`), with their keys."""
        for item in self._query(campaign_id, prefix):
            yield str(item["sk"]), json.loads(item["page"])

    def drop_page(self, campaign_id: str, sk: str) -> None:
        self._client.delete_item(TableName=self._table, Key=self._key(campaign_id, sk))

    # ------------------------------------------------------------------ tallies
    def put_tally(self, campaign_id: str, page_id: str, tally: Tally) -> None:
        item: dict[str, Any] = {
            **self._key(campaign_id, f"tally#{page_id}"),
            "sent": _n(tally.sent),
            "deferred": _n(tally.deferred),
            "failed": _n(tally.failed),
            "held_out": _n(tally.held_out),
            "cancelled": _n(tally.cancelled),
            "skipped": {"M": {reason: _n(n) for reason, n in tally.skipped.items()}},
        }
        if tally.first_at:
            item["first_at"] = _s(tally.first_at)
        if tally.last_at:
            item["last_at"] = _s(tally.last_at)
        self._client.put_item(TableName=self._table, Item=item)

    def progress(self, campaign_id: str) -> tuple[Plan, Tally]:
        """Every plan item and tally of the campaign, summed."""
        plan, tally = Plan(), Tally()
        for item in self._query(campaign_id, ""):
            sk = str(item["sk"])
            if sk.startswith("plan#"):
                plan.segments += 1
                plan.done += 1 if item.get("done") else 0
                plan.queued += int(item.get("queued") or 0)
                plan.later += int(item.get("waiting") or 0)
                plan.outside.update({k: int(v) for k, v in (item.get("outside") or {}).items()})
            elif sk.startswith("wait#"):
                plan.waiting += len(json.loads(item["page"]).get("customers", []))
            elif sk.startswith("tally#"):
                tally.add(
                    Tally(
                        sent=int(item.get("sent") or 0),
                        deferred=int(item.get("deferred") or 0),
                        failed=int(item.get("failed") or 0),
                        held_out=int(item.get("held_out") or 0),
                        cancelled=int(item.get("cancelled") or 0),
                        skipped=Counter(
                            {k: int(v) for k, v in (item.get("skipped") or {}).items()}
                        ),
                        first_at=item.get("first_at"),
                        last_at=item.get("last_at"),
                    )
                )
        return plan, tally

    def _query(self, campaign_id: str, prefix: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "campaign_id = :c",
            "ExpressionAttributeValues": {":c": _s(campaign_id)},
            "ConsistentRead": True,
        }
        if prefix:
            request["KeyConditionExpression"] += " AND begins_with(sk, :p)"
            request["ExpressionAttributeValues"][":p"] = _s(prefix)
        while True:
            response = self._client.query(**request)
            for item in response.get("Items", []):
                yield plain(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last
