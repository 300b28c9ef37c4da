"""What a journey asks the dispatcher to send, and what came of it.

A message is always made from its spec (`spec.message(...)`): its stage, kind, topic and
template come from the spec, never from the journey, so a marketing message cannot go out
without its topic (and with it the preference lookup, the unsubscribe link and the one-click
headers), and a message cannot name a template it does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.models import Customer

# Topics a customer can leave one by one (the preference centre lists them in this order).
TOPICS = ("announcements", "offers", "loyalty", "feedback")
# The files a message needs in its template folder (and in each locale folder), per channel.
EMAIL_PARTS = ("email.subject.j2", "email.html.j2", "email.txt.j2")
SMS_PART = "sms.txt.j2"
# The shared layout every email and marketing SMS is rendered in (templates/_layouts/).
LAYOUTS = "_layouts"
SMS_OPT_OUT = "sms.optout.txt.j2"
LAYOUT_PARTS = ("email.html.j2", "email.txt.j2", "footer.html.j2", "footer.txt.j2", SMS_OPT_OUT)
# The layout parts with words in them: each locale a message is written in has its own.
LOCALISED_LAYOUT_PARTS = LAYOUT_PARTS[2:]


@dataclass(frozen=True)
class Business:
    """Who the messages come from; rendered into every footer."""

    name: str
    postal_address: str
    sender_email: str
    website: str


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Kind(StrEnum):
    """Why a message is sent; decides which consent it needs."""

    SERVICE = "service"  # about the customer's relationship (welcome, feedback)
    TRANSACTIONAL = "transactional"  # about an order the customer placed
    MARKETING = "marketing"  # promotion; needs marketing consent and an unsubscribe link


# The kind of every message on a topic, and so the consent the topic needs: the preference
# centre shows a topic as available only where the contact policy would let it through.
TOPIC_KINDS = {
    "announcements": Kind.MARKETING,
    "offers": Kind.MARKETING,
    "loyalty": Kind.MARKETING,
    "feedback": Kind.SERVICE,  # the feedback request: about the customer's own order
}


@dataclass(frozen=True)
class Cap:
    """A frequency cap: at most `limit` messages under `key` per `window` (one feedback request
    per customer per fortnight, two marketing messages per customer and channel a week).
    `owner` (an order, a message) may retry without being capped by itself; `reason` is
    recorded when the cap holds a message back."""

    key: str
    owner: str
    window: timedelta
    reason: str
    limit: int = 1  # messages under the key per window (the marketing cap: 2 in 7 days)

    def frees(self, taken: datetime) -> datetime:
        """When a marker taken at `taken` lets the next message through: once strictly older
        than the window (markers are stamped in whole seconds)."""
        return taken + self.window + timedelta(seconds=1)

    @property
    def slots(self) -> tuple[str, ...]:
        """One marker per message the cap lets through in its window."""
        if self.limit == 1:
            return (self.key,)
        return tuple(f"{self.key}#{slot}" for slot in range(self.limit))


class Quiet(StrEnum):
    """What a message does in the recipient's quiet hours (messaging/quiet.py)."""

    DEFER = "defer"  # waits for the window to end: nothing lost, nobody woken
    SEND = "send"  # goes at once: it is about something happening now (the driver is on the way)


class WhenCapped(StrEnum):
    """What a marketing message does when the marketing cap holds it back."""

    SKIP = "skip"  # recorded as skipped with the cap's reason
    DEFER = "defer"  # waits until the cap's oldest slot frees (within the maximum delay)


class SpecError(ValueError):
    """A message spec, or a message made from it, is not what the catalog allows."""


@dataclass(frozen=True)
class MessageSpec:
    """One message the product can send: its template folder, stage, kind, channels and the
    context its templates may use (beside the renderer's own values)."""

    template: str  # folder under templates/
    stage: str
    kind: Kind
    channels: tuple[Channel, ...]
    variables: frozenset[str]  # what the journey puts in the context
    topic: str | None = None  # marketing messages belong to a topic
    sms_segments: int = 1  # most SMS segments one message may take (each is billed)
    # A service or transactional message the contact policy refuses on its channel goes by
    # another of its channels. False where a journey sends one message per channel already.
    fallback: bool = True
    # In quiet hours: wait for them to end (the default), or go at once (time-critical service
    # and transactional SMS only; marketing always waits).
    quiet: Quiet = Quiet.DEFER
    # Held back by the marketing cap: skipped (the default), or deferred until a slot frees.
    capped: WhenCapped = WhenCapped.SKIP

    def __post_init__(self) -> None:
        if self.kind is Kind.MARKETING and self.topic is None:
            raise SpecError(f"{self.template}: a marketing message must belong to a topic")
        if self.topic is not None and self.topic not in TOPICS:
            raise SpecError(f"{self.template}: unknown topic {self.topic!r}")
        if self.topic is not None and TOPIC_KINDS[self.topic] is not self.kind:
            raise SpecError(
                f"{self.template}: topic {self.topic!r} carries {TOPIC_KINDS[self.topic]} "
                f"messages, not {self.kind}"
            )
        if not self.channels:
            raise SpecError(f"{self.template}: a message needs at least one channel")
        if self.kind is Kind.MARKETING and self.quiet is Quiet.SEND:
            raise SpecError(f"{self.template}: marketing never goes in quiet hours")
        if self.kind is not Kind.MARKETING and self.capped is WhenCapped.DEFER:
            raise SpecError(f"{self.template}: only marketing messages count against the cap")

    @property
    def parts(self) -> tuple[str, ...]:
        """The template files this message needs in its folder (and each locale folder)."""
        parts: tuple[str, ...] = ()
        if Channel.EMAIL in self.channels:
            parts += EMAIL_PARTS
        if Channel.SMS in self.channels:
            parts += (SMS_PART,)
        return parts

    def message(
        self,
        key: str,
        customer: Customer,
        channel: Channel,
        context: Mapping[str, Any],
        *,
        cap: Cap | None = None,
        order_id: str | None = None,
        campaign: str | None = None,
        sequence: str | None = None,
        deliver_by: datetime | None = None,
    ) -> Message:
        """The message to `customer` on `channel`. The context must hold exactly the spec's
        variables: a missing one would fail at render time, an extra one is a typo.
        `deliver_by`: the moment after which it is pointless (a pickup reminder once the
        pickup has begun): never sent, nor deferred, past it."""
        if channel not in self.channels:
            raise SpecError(f"{self.template} is not sent by {channel}")
        missing = self.variables - set(context)
        extra = set(context) - self.variables
        if missing or extra:
            problems = [f"missing {', '.join(sorted(missing))}"] if missing else []
            problems += [f"not declared {', '.join(sorted(extra))}"] if extra else []
            raise SpecError(f"{self.template} context: {'; '.join(problems)}")
        return Message(
            spec=self,
            key=key,
            channel=channel,
            customer=customer,
            context=dict(context),
            cap=cap,
            order_id=order_id,
            campaign=campaign,
            sequence=sequence,
            deliver_by=deliver_by,
        )


@dataclass(frozen=True)
class Message:
    """One message to one customer on one channel; made by `MessageSpec.message`.

    `key` is deterministic (for example `welcome#<customer_id>#email`), so a redelivered trigger
    produces the same key and the ledger sends it at most once. `order_id`, `campaign` and
    `sequence` say what the message is about; the ledger records them beside the stage and
    template, so reports read attributes, never keys.

    A deferred message (quiet hours, the marketing cap) comes back from its schedule with
    `deferred_since`, when it was first held back (the maximum delay counts from there), and
    `deferred_until`, the moment it was deferred to.
    """

    spec: MessageSpec
    key: str
    channel: Channel
    customer: Customer
    context: Mapping[str, Any] = field(default_factory=dict)
    cap: Cap | None = None
    order_id: str | None = None
    campaign: str | None = None
    sequence: str | None = None
    fallback: str | None = None  # why it goes by this channel and not its first one
    deliver_by: datetime | None = None  # pointless after this (never sent, nor deferred, past it)
    deferred_since: datetime | None = None
    deferred_until: datetime | None = None

    def by(self, channel: Channel, *, fallback: str) -> Message:
        """The same message (same key: it is sent at most once) on another of its channels."""
        if channel not in self.spec.channels:
            raise SpecError(f"{self.template} is not sent by {channel}")
        return replace(self, channel=channel, fallback=fallback)

    @property
    def stage(self) -> str:
        return self.spec.stage

    @property
    def template(self) -> str:
        return self.spec.template

    @property
    def kind(self) -> Kind:
        return self.spec.kind

    @property
    def topic(self) -> str | None:
        return self.spec.topic


class Status(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # a policy said no: consent, suppression, no address
    DEFERRED = "deferred"  # held back (quiet hours, the marketing cap) and scheduled for later
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
    deliver_at: datetime | None = None  # when a deferred message is scheduled to go
