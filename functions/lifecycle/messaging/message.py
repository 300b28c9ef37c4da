"""What a journey asks the dispatcher to send, and what came of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from lifecycle.models import Customer


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Kind(StrEnum):
    """Why a message is sent; decides which consent it needs."""

    SERVICE = "service"  # about the customer's relationship (welcome, feedback)
    TRANSACTIONAL = "transactional"  # about an order the customer placed
    MARKETING = "marketing"  # promotion; needs marketing consent and an unsubscribe link


@dataclass(frozen=True)
class Cap:
    """A frequency cap: at most one message under `key` per `window` (one feedback request per
    customer per fortnight, say). `owner` (an order) may retry without being capped by itself;
    `reason` is recorded when the cap holds a message back."""

    key: str
    owner: str
    window: timedelta
    reason: str


@dataclass(frozen=True)
class Message:
    """One message to one customer on one channel.

    `key` is deterministic (for example `welcome#<customer_id>#email`), so a redelivered trigger
    produces the same key and the ledger sends it at most once. `template` names the folder
    under templates/; `context` is what the templates may use, beside the business and customer
    values the renderer adds itself.
    """

    key: str
    stage: str
    template: str
    channel: Channel
    kind: Kind
    customer: Customer
    context: Mapping[str, Any] = field(default_factory=dict)
    topic: str | None = None
    cap: Cap | None = None


class Status(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # a policy said no: consent, suppression, no address
    DUPLICATE = "duplicate"  # the ledger already holds this key as sent or in flight
    FAILED = "failed"  # permanent error: bad template, provider rejected the message


@dataclass(frozen=True)
class Outcome:
    message_key: str
    stage: str
    channel: Channel
    customer_id: str
    status: Status
    reason: str | None = None
    provider_id: str | None = None
