"""Subscriber preferences: what a customer has left, per channel and topic, and why.

Marketing messages (and the feedback request) belong to a topic. A customer can leave one
topic on one channel (`email:offers`), or all of a channel's topics (`email:*`). Every change
is kept with its time and source, an audit trail a business can show a regulator. Consent that
the business's own systems record stays in the Customers table; these are the product's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from lifecycle.messaging.message import TOPICS, Channel

ALL_TOPICS = "*"


class Action(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    RESUBSCRIBE = "resubscribe"


class Source(StrEnum):
    ONE_CLICK = "one-click"  # RFC 8058 POST from the mailbox provider
    PREFERENCE_CENTRE = "preference-centre"
    SES_COMPLAINT = "ses-complaint"
    SMS_STOP = "sms-stop"
    SMS_START = "sms-start"
    OPS = "ops"
    PINPOINT_IMPORT = "pinpoint-import"  # an endpoint's OptOut ALL, carried by the import


@dataclass(frozen=True)
class Change:
    channel: Channel
    topic: str  # one of TOPICS, or ALL_TOPICS
    action: Action

    def __post_init__(self) -> None:
        if self.topic != ALL_TOPICS and self.topic not in TOPICS:
            raise ValueError(f"unknown topic {self.topic!r}; topics are {', '.join(TOPICS)}")

    @property
    def entry(self) -> str:
        return f"{self.channel}:{self.topic}"


@dataclass(frozen=True)
class Preferences:
    opt_outs: frozenset[str] = field(default_factory=frozenset)
    version: int = 0

    def allows(self, channel: Channel, topic: str) -> bool:
        return f"{channel}:{topic}" not in self.opt_outs and f"{channel}:*" not in self.opt_outs

    def refusal(self, channel: Channel, topic: str) -> str | None:
        if f"{channel}:{ALL_TOPICS}" in self.opt_outs:
            return f"unsubscribed: all {channel} marketing"
        if f"{channel}:{topic}" in self.opt_outs:
            return f"unsubscribed: {topic} by {channel}"
        return None

    def after(self, changes: list[Change]) -> frozenset[str]:
        entries = set(self.opt_outs)
        for change in changes:
            if change.action is Action.UNSUBSCRIBE:
                entries.add(change.entry)
            else:
                entries.discard(change.entry)
        return frozenset(entries)


class PreferenceStore(Protocol):
    def get(self, customer_id: str) -> Preferences:
        """The customer's current opt-outs (none if they never changed anything)."""
        ...

    def apply(
        self,
        customer_id: str,
        changes: list[Change],
        source: Source,
        at: datetime,
        event_id: str,
    ) -> bool:
        """Apply and record the changes once per `event_id`; False if already applied."""
        ...
