"""The cases table: one item per complaint alert (key `case_id`, the alert's key).

Attributes: `order_id`, `customer_id`, `reason`, `rating`, `week`, `alerted_at`,
`escalate_at`, and once they happen `acknowledged_at`/`acknowledged_by`,
`resolved_at`/`resolved_by`, `escalated_at`, and `escalating_until` while a sweep holds the
escalation (ISO 8601 in UTC, to the second, so they sort as
strings). No email address or phone number: ids only.

Indexes:
- `by_week` (`week`, `alerted_at`): the KPI reads a range of weeks, one query per week;
- `by_customer` (`customer_id`, `alerted_at`): one customer's cases, for export and erasure;
- `due` (`awaiting`, `escalate_at`), sparse: `awaiting` is present only while a case waits for
  an acknowledgement and has not escalated, so the sweep reads only those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.dynamo import conditional, plain
from lifecycle.stages.feedback.cases import Case, weeks_between

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

WEEK_INDEX = "by_week"
CUSTOMER_INDEX = "by_customer"
FORGOTTEN = "forgotten"  # the customer id of a case whose customer was erased
DUE_INDEX = "due"
AWAITING = "ack"  # the sparse `awaiting` attribute's one value (its partition in `due`)
ACTIONS = {"acknowledge": "acknowledged", "resolve": "resolved"}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def to_case(item: dict[str, Any]) -> Case:
    values = plain(item)
    return Case(
        case_id=str(values["case_id"]),
        order_id=str(values["order_id"]),
        customer_id=str(values["customer_id"]),
        reason=str(values["reason"]),
        rating=int(values["rating"]),
        alerted_at=datetime.fromisoformat(str(values["alerted_at"])),
        escalate_at=datetime.fromisoformat(str(values["escalate_at"])),
        week=str(values["week"]),
        acknowledged_at=_moment(values.get("acknowledged_at")),
        acknowledged_by=values.get("acknowledged_by"),
        resolved_at=_moment(values.get("resolved_at")),
        resolved_by=values.get("resolved_by"),
        escalated_at=_moment(values.get("escalated_at")),
    )


@dataclass(frozen=True)
class Answered:
    """A tap's outcome: the case as stored after it, and whether this tap was the first of
    its action (the one whose time, and name, the case keeps)."""

    case: Case
    first: bool


class DynamoCases:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    # ------------------------------------------------------------------ writes
    def record_alert(self, case: Case) -> bool:
        """Open the case; False if it was open already (a replay, a second publish): its
        times never move."""
        item: dict[str, Any] = {
            "case_id": {"S": case.case_id},
            "order_id": {"S": case.order_id},
            "customer_id": {"S": case.customer_id},
            "reason": {"S": case.reason},
            "rating": {"N": str(case.rating)},
            "week": {"S": case.week},
            "alerted_at": {"S": stamp(case.alerted_at)},
            "escalate_at": {"S": stamp(case.escalate_at)},
            "awaiting": {"S": AWAITING},
        }
        return conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(case_id)",
            )
        )

    def acknowledge(self, case_id: str, at: datetime, by: str | None = None) -> Case | None:
        """Someone is on it: the first acknowledgement's time (and name, if it came with one)
        stays; it stops the escalation. None if there is no such case."""
        answered = self.answer(case_id, "acknowledge", at, by)
        return answered.case if answered else None

    def resolve(self, case_id: str, at: datetime, by: str | None = None) -> Case | None:
        """Resolved, which also acknowledges a case nobody acknowledged yet (its time only:
        whoever resolves is not named as the acknowledger). First wins."""
        answered = self.answer(case_id, "resolve", at, by)
        return answered.case if answered else None

    def answer(self, case_id: str, action: str, at: datetime, by: str | None) -> Answered | None:
        """Record a tap: only the first of its action sets the time, and the name given with
        it; a later tap changes nothing (`first` False) and names nobody. None if there is no
        such case."""
        name = ACTIONS[action]
        values: dict[str, Any] = {":at": {"S": stamp(at)}}
        sets = [f"{name}_at = :at"]
        if by:
            values[":by"] = {"S": by}
            sets.append(f"{name}_by = :by")
        if name == "resolved":
            sets.append("acknowledged_at = if_not_exists(acknowledged_at, :at)")
        # Answered: out of the sweep's index, so it never escalates.
        case = self._update(
            case_id,
            f"SET {', '.join(sets)} REMOVE awaiting",
            values,
            f"attribute_not_exists({name}_at)",
        )
        if case is not None:
            return Answered(case, first=True)
        before = self.get(case_id)
        return Answered(before, first=False) if before is not None else None

    def name(self, case_id: str, action: str, by: str, tapped_at: datetime) -> Case | None:
        """Who made the first tap of `action`, said on the page that tap got: only while that
        tap (its stored time) is the one recorded and nobody is named. Resolving names only
        the resolver. None if there is no such case, or it is not that tap's to name."""
        name = ACTIONS[action]
        return self._update(
            case_id,
            f"SET {name}_by = :by",
            {":by": {"S": by}, ":at": {"S": stamp(tapped_at)}},
            f"{name}_at = :at AND attribute_not_exists({name}_by)",
        )

    def _update(
        self, case_id: str, expression: str, values: dict[str, Any], condition: str | None
    ) -> Case | None:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"case_id": {"S": case_id}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            "ConditionExpression": " AND ".join(
                ["attribute_exists(case_id)", *([condition] if condition else [])]
            ),
            "ReturnValues": "ALL_NEW",
        }
        found: list[Case] = []

        def write() -> None:
            found.append(to_case(self._client.update_item(**request)["Attributes"]))

        return found[0] if conditional(write) else None

    def claim_escalation(self, case_id: str, now: datetime, until: datetime) -> bool:
        """Take the case's escalation until `until`, before its alert is published: False if
        it escalated, was acknowledged, or another sweep holds an unexpired claim."""
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"case_id": {"S": case_id}},
                UpdateExpression="SET escalating_until = :until",
                ConditionExpression="attribute_exists(case_id) AND "
                "attribute_not_exists(escalated_at) AND attribute_not_exists(acknowledged_at) "
                "AND (attribute_not_exists(escalating_until) OR escalating_until < :now)",
                ExpressionAttributeValues={
                    ":until": {"S": stamp(until)},
                    ":now": {"S": stamp(now)},
                },
            )
        )

    def release_escalation(self, case_id: str, until: datetime) -> bool:
        """Give back this sweep's claim (its publish failed), so the retry need not wait."""
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"case_id": {"S": case_id}},
                UpdateExpression="REMOVE escalating_until",
                ConditionExpression="escalating_until = :until",
                ExpressionAttributeValues={":until": {"S": stamp(until)}},
            )
        )

    def escalated(self, case_id: str, at: datetime) -> bool:
        """Mark the case escalated (once), which takes it out of the sweep's index. False if
        it escalated before, or someone acknowledged it meanwhile."""
        return conditional(
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"case_id": {"S": case_id}},
                UpdateExpression="SET escalated_at = :at REMOVE awaiting, escalating_until",
                ConditionExpression="attribute_exists(case_id) AND "
                "attribute_not_exists(escalated_at) AND attribute_not_exists(acknowledged_at)",
                ExpressionAttributeValues={":at": {"S": stamp(at)}},
            )
        )

    # ------------------------------------------------------------------ reads
    def get(self, case_id: str) -> Case | None:
        item = self._client.get_item(
            TableName=self._table, Key={"case_id": {"S": case_id}}, ConsistentRead=True
        ).get("Item")
        return to_case(item) if item else None

    def due(self, now: datetime, limit: int = 100) -> list[Case]:
        """Cases unacknowledged and not escalated whose `escalate_at` has passed, oldest due
        first, at most `limit` (the rest wait for the next sweep). The index is eventually
        consistent: each is read again, so one acknowledged a moment ago is left out."""
        due: list[Case] = []
        for key in self._query(
            DUE_INDEX,
            "awaiting = :awaiting AND escalate_at <= :now",
            {":awaiting": {"S": AWAITING}, ":now": {"S": stamp(now)}},
        ):
            case = self.get(str(key["case_id"]["S"]))
            if case is not None and case.acknowledged_at is None and case.escalated_at is None:
                due.append(case)
            if len(due) >= limit:
                break
        return due

    def in_weeks(self, since: date, until: date) -> list[Case]:
        """Every case alerted in the ISO weeks from the one holding `since` to the one holding
        `until` (days on the business's calendar): one query per week, no scan."""
        cases: list[Case] = []
        for week in weeks_between(since, until):
            cases += [
                to_case(item)
                for item in self._query(WEEK_INDEX, "#week = :week", {":week": {"S": week}})
            ]
        return cases

    def of_customer(self, customer_id: str) -> list[Case]:
        """One customer's cases (lifecycle export)."""
        found = [
            self.get(str(key["case_id"]["S"]))
            for key in self._query(CUSTOMER_INDEX, "customer_id = :c", {":c": {"S": customer_id}})
        ]
        return [case for case in found if case is not None]

    def forget_customer(self, customer_id: str) -> int:
        """Erase the customer from their cases (lifecycle forget): the id becomes
        "forgotten", while the times stay for the response-time figures. How many."""
        erased = 0
        for case in self.of_customer(customer_id):
            request: dict[str, Any] = {
                "TableName": self._table,
                "Key": {"case_id": {"S": case.case_id}},
                "UpdateExpression": "SET customer_id = :forgotten",
                "ConditionExpression": "customer_id = :c",
                "ExpressionAttributeValues": {
                    ":forgotten": {"S": FORGOTTEN},
                    ":c": {"S": customer_id},
                },
            }
            if conditional(partial(self._client.update_item, **request)):
                erased += 1
        return erased

    def _query(
        self, index: str, condition: str, values: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if "#week" in condition:
            request["ExpressionAttributeNames"] = {"#week": "week"}
        while True:
            page = self._client.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
