"""Engagement events: what SES tells the product about an email after it was sent. Pure.

The configuration set publishes Send, Delivery, DeliveryDelay, Reject, Rendering Failure,
Bounce and Complaint events, and Open and Click where the stack tracks them, through its SNS
topic. Each carries the tags the dispatcher set on the email (`message`: its ledger key;
`stage`, `campaign`, `variant`), so an event is tied to its ledger item and counted by what
it is about without looking anything up.

Nothing here keeps an address: an event keeps its type, its time, SES's reason (an SMTP status
and a delay type, never the diagnostic text that may quote the recipient) and, for a click,
the link's host and path without its query string. Any address found in what is kept anyway
is replaced.

Counting, per day the email was sent (its `mail.timestamp`, UTC) and per stage, campaign and
variant (the aggregate): every event adds one to its type's total; a message's first delivery,
first open, first click and first engagement (an open or a click, whichever came first) also
add one to `delivered`, `opened`, `clicked` and `engaged`, so rates are per message. An email
sent before messages carried their ledger key has no `message` tag: its events count under
stage `unknown`, totals only (there is no item to tell a first open from a second).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

UNKNOWN = "unknown"  # the stage of an event whose email carried no ledger key
NONE = "-"  # the campaign or variant of a message that has none, in aggregate keys


class EventType(StrEnum):
    """An engagement event's type: its counter's name in the aggregate."""

    SEND = "send"
    DELIVERY = "delivery"
    DELIVERY_DELAY = "delivery_delay"
    REJECT = "reject"
    RENDERING_FAILURE = "rendering_failure"
    OPEN = "open"
    CLICK = "click"
    BOUNCE = "bounce"  # permanent: the address is suppressed
    SOFT_BOUNCE = "soft_bounce"  # transient or undetermined
    COMPLAINT = "complaint"


class First(StrEnum):
    """Per-message counters: a message counts once in each, however many events it has."""

    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    ENGAGED = "engaged"  # opened or clicked


# SES's `eventType` values (event publishing) and the identity notifications' `notificationType`.
_SES_TYPES = {
    "Send": EventType.SEND,
    "Delivery": EventType.DELIVERY,
    "DeliveryDelay": EventType.DELIVERY_DELAY,
    "Reject": EventType.REJECT,
    "Rendering Failure": EventType.RENDERING_FAILURE,
    "Open": EventType.OPEN,
    "Click": EventType.CLICK,
    "Complaint": EventType.COMPLAINT,
}
# Where each event type keeps its own timestamp (the others happen when the mail was sent).
_TIMESTAMPS = {
    EventType.DELIVERY: "delivery",
    EventType.DELIVERY_DELAY: "deliveryDelay",
    EventType.OPEN: "open",
    EventType.CLICK: "click",
    EventType.BOUNCE: "bounce",
    EventType.SOFT_BOUNCE: "bounce",
    EventType.COMPLAINT: "complaint",
}
_ADDRESS = re.compile(r"[^\s<>()\[\]/,;:\"'@]+@[^\s<>()\[\]/,;:\"'@]+")
_DETAIL_LENGTH = 300


class NotEngagement(ValueError):
    """Not an SES event the product counts (a Subscription event, or not SES's shape)."""


def tag_value(tags: Mapping[str, Any], name: str) -> str | None:
    """One tag the product set on the email, as `tag_pairs` sent it: plain, or hex-encoded
    under `<name>_hex` when its value holds characters SES tags do not allow."""
    plain = tags.get(name) or []
    if plain:
        return str(plain[0])
    encoded = tags.get(f"{name}_hex") or []
    if encoded:
        try:
            return bytes.fromhex(str(encoded[0])).decode()
        except ValueError:
            return None
    return None


def without_addresses(text: str) -> str:
    """`text` with anything that looks like an email address replaced, cut to a sane length."""
    return _ADDRESS.sub("[address]", text)[:_DETAIL_LENGTH]


def link_of(url: str) -> str:
    """What is kept of a clicked link: its host and path, never its query string or fragment
    (they carry tokens and ids), nor any user part of the host."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    return without_addresses(f"{host}{parts.path or '/'}")


@dataclass(frozen=True)
class EngagementEvent:
    event_id: str  # the SNS notification's MessageId: the same on every delivery of it
    type: EventType
    at: datetime  # when it happened
    sent_on: date  # the day (UTC) the email was sent: the aggregate's day
    message_key: str | None  # the ledger key from the `message` tag; None: sent before it
    stage: str
    campaign: str | None
    variant: str | None
    detail: str | None = None  # SES's reason, without addresses
    link: str | None = None  # a click's host and path

    @property
    def dimensions(self) -> tuple[str, str, str]:
        """What the aggregate counts it by: stage, campaign, variant."""
        return (self.stage, self.campaign or NONE, self.variant or NONE)


def _moment(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event_id_for(message_id: str, message: str) -> str:
    """The SNS MessageId; a hash of the message itself where a test or a replay gives none."""
    return message_id or f"sha256-{hashlib.sha256(message.encode()).hexdigest()}"


def parse(notification: Mapping[str, Any], event_id: str) -> EngagementEvent:
    """An SES event record as the product counts it; NotEngagement for other records."""
    kind = notification.get("eventType") or notification.get("notificationType")
    if not isinstance(kind, str):
        raise NotEngagement("not an SES event: no eventType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        event_type = EventType.BOUNCE if permanent else EventType.SOFT_BOUNCE
    elif kind in _SES_TYPES:
        event_type = _SES_TYPES[kind]
    else:
        raise NotEngagement(kind)
    mail = notification.get("mail") or {}
    sent_at = _moment(mail.get("timestamp"))
    own = notification.get(_TIMESTAMPS.get(event_type, ""), None) or {}
    at = _moment(own.get("timestamp") if isinstance(own, dict) else None) or sent_at
    if at is None:
        raise NotEngagement(f"{kind} without a timestamp")
    tags = mail.get("tags") or {}
    key = tag_value(tags, "message")
    link = None
    if event_type is EventType.CLICK:
        link = link_of(str((notification.get("click") or {}).get("link", "")))
    return EngagementEvent(
        event_id=event_id,
        type=event_type,
        at=at,
        sent_on=(sent_at or at).astimezone(UTC).date(),
        message_key=key,
        # Mail sent before it carried its ledger key is counted apart: its stage tag alone
        # could not say whether an open is its first.
        stage=(tag_value(tags, "stage") or UNKNOWN) if key else UNKNOWN,
        campaign=tag_value(tags, "campaign") if key else None,
        variant=tag_value(tags, "variant") if key else None,
        detail=_detail(event_type, notification),
        link=link,
    )


def _detail(event_type: EventType, notification: Mapping[str, Any]) -> str | None:
    """SES's reason, as far as it says nothing about the recipient."""
    if event_type is EventType.REJECT:
        reason = (notification.get("reject") or {}).get("reason")
    elif event_type is EventType.RENDERING_FAILURE:
        failure = notification.get("failure") or {}
        reason = failure.get("errorMessage")
        if failure.get("templateName"):
            reason = f"{reason} (template {failure['templateName']})"
    elif event_type is EventType.DELIVERY_DELAY:
        delay = notification.get("deliveryDelay") or {}
        statuses = sorted(
            {str(r.get("status")) for r in delay.get("delayedRecipients", []) if r.get("status")}
        )
        reason = " ".join([str(delay.get("delayType", "Undetermined")), *statuses])
    elif event_type in (EventType.BOUNCE, EventType.SOFT_BOUNCE):
        bounce = notification.get("bounce") or {}
        reason = f"{bounce.get('bounceType', '?')}/{bounce.get('bounceSubType', '?')}"
    elif event_type is EventType.COMPLAINT:
        reason = (notification.get("complaint") or {}).get("complaintFeedbackType") or "complaint"
    else:
        return None
    return without_addresses(str(reason)) if reason else None


def untracked(link: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a clicked link is one the product never tracks (unsubscribe, preference
    centre, rating): their anchors carry `ses:no-track`, so SES should never report them."""
    return any(link.startswith(prefix) for prefix in prefixes if prefix)


# ---------------------------------------------------------------------- what an event changes
@dataclass(frozen=True)
class Seen:
    """What a message's ledger item already records of its engagement."""

    delivered: bool = False
    opened: bool = False
    clicked: bool = False


# The ledger attribute whose presence says a message reached each first.
FIRST_ATTRIBUTES = {
    First.DELIVERED: "delivered_at",
    First.OPENED: "first_open_at",
    First.CLICKED: "first_click_at",
}


@dataclass(frozen=True)
class Change:
    """What one event changes: aggregate counters to add, and on the message's ledger item
    attributes to set, counters to add, links to add, and the first-attributes whose absence
    (False) or presence (True) the counting assumed (the write is conditioned on them, so two
    opens at once cannot both count as the first)."""

    counts: Mapping[str, int]
    sets: Mapping[str, str] = field(default_factory=dict)
    adds: Mapping[str, int] = field(default_factory=dict)
    links: tuple[str, ...] = ()
    expect: Mapping[str, bool] = field(default_factory=dict)

    @property
    def touches_ledger(self) -> bool:
        return bool(self.sets or self.adds or self.links)


def change(event: EngagementEvent, seen: Seen | None) -> Change:
    """What `event` adds, given what the message's ledger item records (`seen`; None when
    there is no item: mail sent before messages carried their key, or an erased customer)."""
    at = event.at.astimezone(UTC).isoformat()
    counts = {str(event.type): 1}
    kind = event.type
    if seen is None:
        if kind is EventType.DELIVERY:
            # SES publishes one Delivery per recipient, and a message has one.
            counts[First.DELIVERED] = 1
        return Change(counts)
    sets: dict[str, str] = {}
    adds: dict[str, int] = {}
    links: tuple[str, ...] = ()
    expect: dict[str, bool] = {}

    def first(name: First) -> None:
        attribute = FIRST_ATTRIBUTES[name]
        counts[name] = 1
        sets[attribute] = at
        expect[attribute] = False

    if kind is EventType.DELIVERY:
        if seen.delivered:
            expect[FIRST_ATTRIBUTES[First.DELIVERED]] = True
        else:
            first(First.DELIVERED)
    elif kind in (EventType.OPEN, EventType.CLICK):
        opening = kind is EventType.OPEN
        name = First.OPENED if opening else First.CLICKED
        already = seen.opened if opening else seen.clicked
        other = FIRST_ATTRIBUTES[First.CLICKED if opening else First.OPENED]
        if already:
            expect[FIRST_ATTRIBUTES[name]] = True
        else:
            first(name)
            expect[other] = seen.clicked if opening else seen.opened
            if not (seen.opened or seen.clicked):
                counts[First.ENGAGED] = 1
        adds["opens" if opening else "clicks"] = 1
        if event.link:
            links = (event.link,)
    elif kind is EventType.DELIVERY_DELAY:
        adds["delivery_delays"] = 1
        sets.update(last_delay_at=at, last_delay=event.detail or "")
    elif kind is EventType.REJECT:
        sets.update(rejected_at=at, reject_reason=event.detail or "")
    elif kind is EventType.RENDERING_FAILURE:
        sets.update(rendering_failed_at=at, rendering_failure=event.detail or "")
    elif kind in (EventType.BOUNCE, EventType.SOFT_BOUNCE):
        sets.update(bounced_at=at, bounce_type=event.detail or "")
    elif kind is EventType.COMPLAINT:
        sets.update(complained_at=at, complaint_type=event.detail or "")
    # A Send event changes nothing on the item: the dispatcher marked it sent.
    return Change(counts, sets, adds, links, expect)
