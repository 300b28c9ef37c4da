"""The tally: the counts the owner's report reads, kept from the product's own table streams
as daily deltas, so a report reads a year in a dozen queries whatever the size of the base.
Pure: stream images in, deltas out.

Each image a table writes contributes some counts; a change contributes the new image's counts
minus the old one's, so a redelivered image (same old and new) or an item written twice with
the same values adds nothing, and a message that moves from deferred to sent counts once as
sent. What is counted, by measure and its dimensions:

- `messages` (stage, template, channel, status): ledger message items once they are sent,
  skipped or failed, on the day of their last update. A ledger item that expires (TTL) is not
  taken back: the message was still sent.
- `customers` (stage), `spend` and `spenders` (stage, currency: customers with spend in it):
  every profile, on the day it was written, so the running sum is the number of customers in
  each lifecycle stage and what they spent;
  an erased profile is taken back. A profile written before the tally existed (no `tallied`)
  joins on its next write, and its old image is not taken away.
- `cohort_customers` (month of first order), `cohort_spend` and `cohort_spenders` (month,
  currency): the same, per cohort, for lifetime value.
- `moves` (old stage, new stage): each stage change, on its own day (an erasure keeps it).
- `ratings` (score): each rated order's current score, on the day it was first rated (a
  second tap of another score moves it).
- `unsubscribes` (channel, topic): the opt-outs each preference state change added, on its
  day (what took effect: a repeated request adds nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lifecycle.messaging.ledger import LedgerState, RecordType

_COUNTED_STATES = frozenset({LedgerState.SENT, LedgerState.SKIPPED, LedgerState.FAILED})
PROFILE_SK = "profile"
TALLIED = "tallied"  # on every profile image the tally counts (lifecycle.adapters.profiles)
STAGE_CHANGE_SK = "stage#"
STATE_ENTRY = "state"  # a customer's preference state: its `opt_outs` set
NO_COHORT = "-"  # a profile with no order yet (a prospect with a cancelled order, say)


class Measure(StrEnum):
    MESSAGES = "messages"
    CUSTOMERS = "customers"
    SPEND = "spend"
    SPENDERS = "spenders"  # customers with spend in a currency, per stage
    COHORT_CUSTOMERS = "cohort_customers"
    COHORT_SPEND = "cohort_spend"
    COHORT_SPENDERS = "cohort_spenders"
    MOVES = "moves"
    RATINGS = "ratings"
    UNSUBSCRIBES = "unsubscribes"


class Source(StrEnum):
    """Which table's stream a record came from."""

    LEDGER = "ledger"
    PROFILES = "profiles"
    RATINGS = "ratings"
    PREFERENCES = "preferences"


Key = tuple[date, Measure, tuple[str, ...]]


@dataclass(frozen=True)
class Delta:
    day: date
    measure: Measure
    dimensions: tuple[str, ...]
    count: int = 0
    amount: Decimal = Decimal(0)  # spend measures only

    @property
    def key(self) -> Key:
        return (self.day, self.measure, self.dimensions)


def _day(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date()


def _text(image: Mapping[str, Any], name: str, default: str = "-") -> str:
    value = image.get(name)
    return str(value) if value not in (None, "") else default


def _ledger(image: Mapping[str, Any]) -> list[Delta]:
    if image.get("record_type") != RecordType.MESSAGE or image.get("status") not in (
        _COUNTED_STATES
    ):
        return []
    day = _day(image.get("updated_at"))
    if day is None:
        return []
    dimensions = tuple(_text(image, name) for name in ("stage", "template", "channel", "status"))
    return [Delta(day, Measure.MESSAGES, dimensions, count=1)]


def _spend(image: Mapping[str, Any]) -> dict[str, Decimal]:
    spend = image.get("spend")
    if not isinstance(spend, Mapping):
        return {}
    return {str(currency): Decimal(str(amount)) for currency, amount in spend.items()}


def _profile(image: Mapping[str, Any], day: date) -> list[Delta]:
    """A profile's counts, on `day` (the day of the write that is being counted)."""
    sk = image.get("sk")
    if sk == PROFILE_SK:
        if not image.get(TALLIED):  # written before the tally: never counted
            return []
        stage = _text(image, "stage")
        first = _day(image.get("first_order_at"))
        cohort = first.strftime("%Y-%m") if first else NO_COHORT
        deltas = [
            Delta(day, Measure.CUSTOMERS, (stage,), count=1),
            Delta(day, Measure.COHORT_CUSTOMERS, (cohort,), count=1),
        ]
        for currency, amount in sorted(_spend(image).items()):
            deltas += [
                Delta(day, Measure.SPEND, (stage, currency), amount=amount),
                Delta(day, Measure.SPENDERS, (stage, currency), count=1),
                Delta(day, Measure.COHORT_SPEND, (cohort, currency), amount=amount),
                Delta(day, Measure.COHORT_SPENDERS, (cohort, currency), count=1),
            ]
        return deltas
    if isinstance(sk, str) and sk.startswith(STAGE_CHANGE_SK):
        moved = _day(image.get("at"))
        if moved is None:
            return []
        return [Delta(moved, Measure.MOVES, (_text(image, "old"), _text(image, "new")), count=1)]
    return []


def _rating(image: Mapping[str, Any]) -> list[Delta]:
    day, score = _day(image.get("rated_at")), image.get("score")
    if day is None or score is None:
        return []
    return [Delta(day, Measure.RATINGS, (str(int(score)),), count=1)]


def _unsubscribes(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[Delta]:
    """The opt-outs a preference state change added: what took effect, however many requests
    asked for it (a second one-click unsubscribe, a complaint after an unsubscribe add none)."""
    day = _day(new.get("updated_at"))
    if new.get("entry") != STATE_ENTRY or day is None:
        return []
    added = set(new.get("opt_outs") or ()) - set(old.get("opt_outs") or ())
    return [
        Delta(day, Measure.UNSUBSCRIBES, tuple(entry.split(":", 1)), count=1)
        for entry in sorted(added)
        if ":" in entry
    ]


def _negated(deltas: Iterable[Delta]) -> list[Delta]:
    return [Delta(d.day, d.measure, d.dimensions, -d.count, -d.amount) for d in deltas]


def deltas(
    source: Source,
    event: str,
    new: Mapping[str, Any],
    old: Mapping[str, Any],
    happened: datetime,
) -> list[Delta]:
    """What one stream record changes in the tally. `happened` is when the record was written
    (its approximate creation time): the day an erased profile leaves the counts."""
    if source is Source.LEDGER:
        if event == "REMOVE":  # expiry: the message still went out
            return []
        return _ledger(new) + _negated(_ledger(old))
    if source is Source.PROFILES:
        # A profile counts on the day it was written, and its old counts leave that day; an
        # erased one leaves on the day of its erasure; a stage change counts on its own day,
        # and stays counted when an erasure removes it (the move happened).
        if event == "REMOVE":
            if old.get("sk") != PROFILE_SK:
                return []
            return _negated(_profile(old, happened.astimezone(UTC).date()))
        written = _day(new.get("updated_at")) or happened.astimezone(UTC).date()
        return _profile(new, written) + _negated(_profile(old, written))
    if source is Source.RATINGS:
        if event == "REMOVE":  # erasure: the rating was still given
            return []
        return _rating(new) + _negated(_rating(old))
    if event == "REMOVE":  # erasure: the unsubscribes still happened
        return []
    return _unsubscribes(new, old)


def combined(all_deltas: Iterable[Delta]) -> dict[Key, Delta]:
    """The deltas summed per day, measure and dimensions, without the ones that cancel out."""
    totals: dict[Key, Delta] = {}
    for delta in all_deltas:
        before = totals.get(delta.key)
        if before is not None:
            delta = Delta(
                delta.day,
                delta.measure,
                delta.dimensions,
                before.count + delta.count,
                before.amount + delta.amount,
            )
        totals[delta.key] = delta
    return {key: d for key, d in totals.items() if d.count or d.amount}


@dataclass(frozen=True)
class Count:
    """A day's summed deltas of one measure and its dimensions, as the report reads them."""

    day: date
    measure: str
    dimensions: tuple[str, ...]
    count: int
    amount: Decimal
