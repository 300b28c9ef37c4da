"""The sending rate every campaign sender shares: one DynamoDB item, a ticket counter in time.

It holds `tat`, the theoretical arrival time (epoch milliseconds) of the next free send slot
(the generic cell rate algorithm). A sender reserves `n` slots with one conditional update
that moves `tat` on by n / rate seconds and returns where it lands; its slots are the n spaced
1 / rate apart before that. Slots are handed out in order and never twice, so however many
senders run, sends that wait for their slot can never go faster than the rate. Each call
reserves for many messages, so the limiter costs a fraction of a call per message, and it
never refuses: a busy bucket only moves the slots further ahead.

A bucket left idle falls behind the clock; it is brought up to now by a second conditional
update, so idle time is not banked (a busy one may run up to half a second behind).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import is_condition_failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# How far behind the clock a busy bucket may run: the burst senders may catch up on after a
# short stall (SES's own bucket allows a second's worth). Below the senders' lateness limit
# (sender.LATE_MS), so a slot just handed out is never already given up.
BURST_MS = 500
# How far ahead of the clock a bucket can honestly be: every sender's reserved slots at once
# (at most a second of the rate each, so as many seconds as senders). An hour ahead it was set
# by a clock that was wrong, and is brought back.
AHEAD_MS = 3_600_000


@dataclass(frozen=True)
class Slots:
    """`count` send slots: the first at `first_ms`, one every `every_ms` after it."""

    first_ms: float
    every_ms: float
    count: int

    def at(self, index: int) -> float:
        return self.first_ms + index * self.every_ms


class DynamoRateLimiter:
    """The bucket item (`campaign_id` = `rate#<name>`, `sk` = `bucket`) in the Campaigns table."""

    def __init__(self, client: DynamoDBClient, table: str, name: str = "email") -> None:
        self._client = client
        self._table = table
        self._key = {"campaign_id": {"S": f"rate#{name}"}, "sk": {"S": "bucket"}}

    def reserve(self, count: int, per_second: float, now_ms: float) -> Slots:
        """Reserve `count` slots at `per_second`; where they are."""
        if count < 1 or per_second <= 0:
            raise ValueError("reserve at least one slot at a positive rate")
        every = 1000.0 / per_second
        cost = every * count
        floor = now_ms - BURST_MS
        for _ in range(5):
            # The usual case: a bucket in use, whose next slot is at most a burst behind.
            tat = self._move(
                "SET tat = tat + :cost",
                "tat >= :floor",
                {":cost": _n(cost), ":floor": _n(floor)},
            )
            if tat is None:
                # Idle (or new): start from now.
                tat = self._move(
                    "SET tat = :start",
                    "attribute_not_exists(tat) OR tat < :floor",
                    {":start": _n(now_ms + cost), ":floor": _n(floor)},
                )
            if tat is not None and tat - cost > now_ms + AHEAD_MS:
                # Set by a clock far ahead of this one: back to now, unless another sender
                # moved it meanwhile.
                self._move(
                    "SET tat = :start", "tat = :seen", {":start": _n(now_ms), ":seen": _n(tat)}
                )
                continue
            if tat is not None:
                return Slots(first_ms=tat - cost, every_ms=every, count=count)
        raise RuntimeError("rate bucket contended beyond reason")  # each round, one update wins

    def _move(self, update: str, condition: str, values: dict[str, dict[str, str]]) -> float | None:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return float(response["Attributes"]["tat"]["N"])


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}"}
