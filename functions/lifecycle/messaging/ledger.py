"""The send ledger protocol: claim -> send -> mark, so each message key is sent at most once.

A claim is a conditional write that succeeds only if the key was never sent and no live claim
holds it. A claim whose sender died is taken over once its lease expires; until then a retry
of the same message fails as transient and comes back later. Duplicates are possible only when
the provider accepted a message but we could not learn it: the process died after the send and
before `mark_sent`, or the send timed out (or got a 5xx) after the provider took it and the
lease ran out before the retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from lifecycle.messaging.message import Cap, Message


class RecordType(StrEnum):
    """What a ledger item is (its `record_type` attribute)."""

    MESSAGE = "message"  # a message: claimed, sent, skipped or failed
    REJECTION = "rejection"  # a trigger that could not become a message (bad data)
    PROGRESS = "progress"  # how far an order has come
    CAP = "cap"  # a frequency cap's marker
    MARKER = "marker"  # a one-time marker (notification handled, alert raised)
    STREAM_FAILURE = "stream-failure"  # the keys of stream records that failed (for replay)


class LedgerState(StrEnum):
    CLAIMED = "claimed"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    DEFERRED = "deferred"  # waiting for its schedule (quiet hours, the marketing cap)


@dataclass(frozen=True)
class Claim:
    """Proof that this process holds a message key until `lease_until`."""

    key: str
    token: str


@dataclass(frozen=True)
class Marker:
    """A cap's marker a claim takes with it, in the same write (`slot`: the marker's key),
    where the marker was read ahead and found free: one call where two would do."""

    slot: str
    cap: Cap
    customer_id: str


class SlotTaken:
    """What a claim with a marker answers when the key was free but the marker no longer
    was (another sender took it since it was read): the caller takes the cap as usual."""


SLOT_TAKEN = SlotTaken()


@dataclass(frozen=True)
class Held:
    """A live claim holds the key (another sender, or a send in doubt) until `lease_until`."""

    lease_until: datetime | None


class Ledger(Protocol):
    def claim(
        self, message: Message, now: datetime, marker: Marker | None = None
    ) -> Claim | Held | LedgerState | SlotTaken:
        """Take the key (and `marker` with it, in one write: both or neither); or say why
        not: `LedgerState.SENT` (done before), `Held` (a live claim holds it, until when), or
        `SLOT_TAKEN` (only with a marker: the key was free, the marker not)."""
        ...

    def mark_sent(self, claim: Claim, provider_id: str, now: datetime) -> None:
        """Record that the provider accepted the message."""
        ...

    def mark_failed(self, claim: Claim, reason: str, now: datetime) -> None:
        """Record a permanent failure; the key may be claimed again by a later redrive."""
        ...

    def mark_uncertain(self, claim: Claim, reason: str, now: datetime) -> None:
        """Keep the claim (its lease runs on) after an error that may hide a sent message."""
        ...

    def release(self, claim: Claim) -> None:
        """Give the key back after a transient error, so the retry need not wait for the lease."""
        ...

    def record_skip(self, message: Message, reason: str, now: datetime) -> None:
        """Record why a message was not sent (never overwrites a sent or claimed key)."""
        ...

    def record_deferred(
        self,
        message: Message,
        reason: str,
        until: datetime,
        since: datetime,
        now: datetime,
        attributes: Mapping[str, str],
    ) -> bool:
        """Record that a message waits until `until` and why (held back since `since`), with
        the decision's `attributes` (the time zone and its source); False, writing nothing,
        when the key is already sent or being sent."""
        ...

    def record_rejected(
        self, key: str, stage: str, customer_id: str | None, reason: str, now: datetime
    ) -> None:
        """Record a trigger that could not become a message at all (malformed record)."""
        ...


class CapStore(Protocol):
    """Frequency caps (`Message.cap`): one marker per cap key, taken by the dispatcher."""

    def take(self, cap: Cap, customer_id: str, now: datetime) -> datetime | None:
        """Take one of the cap's markers for its owner: None if taken, else when the oldest
        marker another owner holds was taken (within the cap's window), so the caller knows
        when a slot frees (`Cap.frees`)."""
        ...

    def give_back(self, cap: Cap) -> None:
        """Give the marker back: the message it was taken for did not go out."""
        ...


class ReadAheadCaps(CapStore, Protocol):
    """A cap store that reads a page of recipients' markers ahead (the campaign sender)."""

    def free_slot(self, cap: Cap, now: datetime) -> str | datetime | None:
        """From the markers read ahead: the key of a marker free to take (a claim takes it
        with it), or when the earliest of them was taken when every one is another's and
        in its window, or None when they were not read ahead or the owner holds one."""
        ...


class ProgressStore(Protocol):
    """How far each order has come, so a late update for an earlier status is never sent."""

    def advance(
        self, order_id: str, customer_id: str, rank: int, status: str, now: datetime
    ) -> str | None:
        """Record that the order reached `rank`; the later status it had already reached
        (the update is stale), or None."""
        ...


class MarkerStore(Protocol):
    """One-time markers: an SES notification, an inbound SMS or a complaint alert handled."""

    def seen(self, key: str) -> bool:
        """True if `key` was marked before."""
        ...

    def first_time(
        self, key: str, what: str, now: datetime, attributes: Mapping[str, str] | None = None
    ) -> bool:
        """Mark `key` (with what it was and its attributes); False if it already was."""
        ...


def failure_log_key(stream_arn: str, first_sequence: str) -> str:
    """The ledger key of a stream failure record (see `StreamFailures`)."""
    return f"stream-failure#{stream_arn}#{first_sequence}"


class StreamFailures(Protocol):
    """What a stream handler records when records of a batch fail, so `lifecycle replay` can
    rebuild them from the current items once the stream no longer holds them."""

    def record(
        self, stream_arn: str, first_sequence: str, entries: list[dict[str, Any]], now: datetime
    ) -> None:
        """`entries`: each failed record's `sequence`, `event_name` and `keys`."""
        ...
