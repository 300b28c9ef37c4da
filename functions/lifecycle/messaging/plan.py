"""The one shape every journey returns: a plan of steps the handler kit runs in order.

A journey decides (pure: no boto3, no environment); the kit does (`platform/effects.py`), so
the rules a step obeys (once per key, stale updates skipped, schedules targeted at the right
function) live in one place for every stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from lifecycle.messaging.engagement import EngagementEvent
from lifecycle.messaging.message import Channel, Message
from lifecycle.messaging.preferences import Change, Source

if TYPE_CHECKING:
    from lifecycle.models import Order
    from lifecycle.stages.feedback.cases import Case


@dataclass(frozen=True)
class Send:
    """Send one message through the dispatcher."""

    message: Message


@dataclass(frozen=True)
class Skip:
    """Record that a message is not sent, and why (a deferred message no longer due)."""

    message: Message
    reason: str


@dataclass(frozen=True)
class Advance:
    """Record that an order reached `rank`; `message` (its update) goes only if no later
    status was reached before, else it is recorded as skipped, stale."""

    order_id: str
    customer_id: str
    rank: int
    status: str
    message: Message | None = None


@dataclass(frozen=True)
class Schedule:
    """Create (or move) a one-time schedule that invokes `target` (a function ARN) at `at`
    (wall-clock time in `timezone`) with `payload`."""

    name: str
    at: datetime
    timezone: str
    target: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Cancel:
    """Delete a one-time schedule, if it is still there."""

    name: str


@dataclass(frozen=True)
class Alert:
    """An alert to staff (the complaints topic), raised at most once per `key`."""

    key: str
    subject: str
    text: str
    attributes: Mapping[str, str]
    metric: str = "ComplaintAlerts"  # counted when it is published


@dataclass(frozen=True)
class OpenCase:
    """Record the case a complaint alert opens, once per case id (a replay keeps its times)."""

    case: Case


@dataclass(frozen=True)
class MarkEscalated:
    """Record that a case's escalation alert went out, once (it leaves the sweep's index)."""

    case_id: str
    at: datetime


@dataclass(frozen=True)
class Escalate:
    """A due case's escalation: claim the case until `until` (so an overlapping sweep, or an
    acknowledgement that landed since the case was read, stops it), raise `alert` once, then
    record it escalated at `at`."""

    case_id: str
    alert: Alert
    at: datetime
    until: datetime


@dataclass(frozen=True)
class Enqueue:
    """Put a message of work on a queue (fan-out): `queue` is the queue's URL."""

    queue: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Reject:
    """Record a trigger that could not become a message (bad data), never retried."""

    key: str
    stage: str
    customer_id: str | None
    reason: str


@dataclass(frozen=True)
class Suppress:
    """Never contact `address` on `channel` again (a permanent bounce, a STOP)."""

    channel: Channel
    address: str
    reason: str


@dataclass(frozen=True)
class Unsuppress:
    """Lift a suppression of one kind (a STOP, by START), never another (a bounce)."""

    channel: Channel
    address: str
    only_if_reason_starts: str


@dataclass(frozen=True)
class CountSoftBounce:
    address: str
    reason: str


@dataclass(frozen=True)
class ChangePreferences:
    """Apply preference changes, once per `event_id` (the preference store's audit record)."""

    subject: str  # a customer id, or `number#<hash>` for a phone number's own trail
    changes: tuple[Change, ...]
    source: Source
    event_id: str


@dataclass(frozen=True)
class RecordOrder:
    """Fold an order image into its customer's profile (counts, spend, points, stage)."""

    order: Order


@dataclass(frozen=True)
class MoveStages:
    """Apply the stage changes time makes to these customers' profiles, up to `until`."""

    customer_ids: tuple[str, ...]
    until: date


@dataclass(frozen=True)
class RecordEngagement:
    """Count an SES engagement event once, on its message's ledger item and in its day's
    aggregate (its SNS MessageId names it, whatever redelivers it)."""

    event: EngagementEvent


Step = (
    Send
    | Skip
    | Advance
    | Schedule
    | Cancel
    | Alert
    | OpenCase
    | MarkEscalated
    | Escalate
    | Enqueue
    | Reject
    | Suppress
    | Unsuppress
    | CountSoftBounce
    | ChangePreferences
    | RecordOrder
    | MoveStages
    | RecordEngagement
)


@dataclass(frozen=True)
class Once:
    """Run `steps` at most once per `key` (an SES notification id, an inbound SMS id).

    `mark_first`: take the marker before acting, for steps that are not safe to repeat (a
    tally); otherwise act, then mark, so a crash in between repeats steps that change nothing
    the second time (suppressing or unsubscribing again) rather than losing them."""

    key: str
    what: str
    steps: tuple[Step, ...]
    mark_first: bool = False
    metric: str | None = None  # counted when the steps run (not on a replay)

    def __post_init__(self) -> None:
        # A marker taken first and a send that then fails transiently would lose the message:
        # messages and alerts have their own once-only keys, and go outside `Once`.
        if any(isinstance(step, Send | Skip | Alert | Escalate) for step in self.steps):
            raise ValueError("messages and alerts are sent once by their own keys, not in Once")


@dataclass(frozen=True)
class Plan:
    """What a trigger means: steps to run in order; or why nothing is done (`skipped`, or
    `rejected` when the trigger was bad data, recorded by a `Reject` step or before)."""

    steps: tuple[Step | Once, ...] = ()
    skipped: str | None = None
    rejected: str | None = None

    @classmethod
    def nothing(cls, reason: str) -> Plan:
        return cls(skipped=reason)

    @classmethod
    def reject(cls, reason: str, record: Reject | None = None) -> Plan:
        return cls(steps=(record,) if record else (), rejected=reason)


# A journey that needs nothing from its trigger returns this.
EMPTY = Plan()
