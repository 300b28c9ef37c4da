"""Deferred messages: what a schedule carries, and how the message is made again from it.

A message held back by quiet hours or the marketing cap is deferred by a one-time schedule
(see `Deferrals`) whose payload names the message, never its recipient's address: the deferred
send function reloads the customer (fresh consent and address), makes the message again from
its spec and dispatches it, so every rule is checked again at the time it goes.

Contexts hold raw values (aware datetimes in the customer's zone, `Decimal`s, `Money` and
`Span`, lists of dicts), so the payload carries them in a small typed JSON codec that gives
back exactly what it was given: the same types, the same `Decimal` digits, the same time zone.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from lifecycle.messaging.formatting import Money, Span
from lifecycle.messaging.message import Cap, Channel, Message, MessageSpec

if TYPE_CHECKING:
    from lifecycle.models import Customer

PAYLOAD_VERSION = 1
_TAG = "$t"  # marks an encoded value that is not plain JSON


class CodecError(ValueError):
    """A value the deferral codec cannot carry (a programming error: tests cover every spec)."""


class Deferrals(Protocol):
    """Where deferred messages wait: one schedule per message and moment."""

    def defer(self, message: Message, until: datetime, since: datetime) -> None:
        """Have `message` dispatched again at `until` (held back since `since`). Deferring the
        same message to the same moment again changes nothing (a replayed trigger)."""
        ...


def schedule_name(key: str, until: datetime) -> str:
    """The deferral's schedule name: the same message deferred to the same moment always gets
    the same name (so a redelivered trigger makes no second schedule), within Scheduler's
    limit of 64 characters of [0-9A-Za-z_.-], whatever the key holds."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"defer-{digest}-{until.astimezone(UTC):%Y%m%dT%H%M%S}"


# ---------------------------------------------------------------------- the codec
def encode(value: Any) -> Any:
    """A raw context value as JSON-ready data that `decode` turns back into the same value."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_TAG: "float", "v": repr(value)}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, datetime):
        return _encode_datetime(value)
    if isinstance(value, date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, Money):
        return {_TAG: "money", "amount": encode(value.amount), "currency": value.currency}
    if isinstance(value, Span):
        return {_TAG: "span", "start": encode(value.start), "end": encode(value.end)}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode(item) for item in value]}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        # Keys JSON objects cannot hold as they are (not strings, or our tag's prefix).
        return {_TAG: "dict", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    raise CodecError(f"a deferred message cannot carry a {type(value).__name__}")


def decode(data: Any) -> Any:
    if data is None or isinstance(data, bool | str | int | float):
        return data
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        raise CodecError(f"not encoded context data: {type(data).__name__}")
    tag = data.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in data.items()}
    if tag == "float":
        return float(data["v"])
    if tag == "decimal":
        return Decimal(data["v"])
    if tag == "datetime":
        return _decode_datetime(data)
    if tag == "date":
        return date.fromisoformat(data["v"])
    if tag == "money":
        return Money(decode(data["amount"]), str(data["currency"]))
    if tag == "span":
        return Span(decode(data["start"]), decode(data["end"]))
    if tag == "tuple":
        return tuple(decode(item) for item in data["v"])
    if tag == "dict":
        return {decode(k): decode(v) for k, v in data["v"]}
    raise CodecError(f"unknown encoded type {tag!r}")


def _encode_datetime(value: datetime) -> dict[str, Any]:
    encoded: dict[str, Any] = {_TAG: "datetime", "v": value.replace(tzinfo=None).isoformat()}
    if value.fold:
        encoded["fold"] = 1
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo):
        encoded["zone"] = tz.key
    elif tz is not None:
        # A fixed offset (an ISO string's `+01:00`) comes back as a datetime.timezone.
        offset = value.utcoffset()
        assert offset is not None
        encoded["offset"] = offset.total_seconds()
    return encoded


def _decode_datetime(data: Mapping[str, Any]) -> datetime:
    wall = datetime.fromisoformat(str(data["v"]))
    if "zone" in data:
        wall = wall.replace(tzinfo=ZoneInfo(str(data["zone"])))
    elif "offset" in data:
        wall = wall.replace(tzinfo=timezone(timedelta(seconds=float(data["offset"]))))
    return wall.replace(fold=int(data.get("fold", 0)))


# ---------------------------------------------------------------------- the payload
def payload(message: Message, until: datetime, since: datetime) -> dict[str, Any]:
    """What the deferral's schedule hands the deferred send function: the message by its
    key, spec and customer id, its context, and the deferral's times (no address)."""
    return {
        "version": PAYLOAD_VERSION,
        "message_key": message.key,
        "template": message.template,
        "channel": str(message.channel),
        "customer_id": message.customer.customer_id,
        "context": encode(dict(message.context)),
        "cap": _encode_cap(message.cap),
        "order_id": message.order_id,
        "campaign": message.campaign,
        "sequence": message.sequence,
        "fallback": message.fallback,
        "deliver_by": _iso(message.deliver_by),
        "deferred_since": _iso(since),
        "deferred_until": _iso(until),
    }


@dataclass(frozen=True)
class Deferred:
    """A deferred message's payload, read (the deferred send function's model parses the
    JSON; this is what it hands back to make the message again)."""

    message_key: str
    channel: Channel
    context: Mapping[str, Any]  # encoded
    cap: Mapping[str, Any] | None
    order_id: str | None
    campaign: str | None
    sequence: str | None
    fallback: str | None
    deliver_by: datetime | None
    deferred_since: datetime
    deferred_until: datetime

    def message(self, spec: MessageSpec, customer: Customer) -> Message:
        """The message again, made from its spec for the customer as they are now."""
        made = spec.message(
            self.message_key,
            customer,
            self.channel,
            decode(dict(self.context)),
            cap=_decode_cap(self.cap),
            order_id=self.order_id,
            campaign=self.campaign,
            sequence=self.sequence,
            deliver_by=self.deliver_by,
        )
        return replace(
            made,
            fallback=self.fallback,
            deferred_since=self.deferred_since,
            deferred_until=self.deferred_until,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _encode_cap(cap: Cap | None) -> dict[str, Any] | None:
    if cap is None:
        return None
    return {
        "key": cap.key,
        "owner": cap.owner,
        "window_seconds": cap.window.total_seconds(),
        "reason": cap.reason,
        "limit": cap.limit,
    }


def _decode_cap(data: Mapping[str, Any] | None) -> Cap | None:
    if data is None:
        return None
    return Cap(
        key=str(data["key"]),
        owner=str(data["owner"]),
        window=timedelta(seconds=float(data["window_seconds"])),
        reason=str(data["reason"]),
        limit=int(data["limit"]),
    )
