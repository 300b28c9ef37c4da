"""In-memory fakes of the dispatcher's ports, for unit tests without AWS."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle.messaging.channels import OutboundEmail, OutboundSms
from lifecycle.messaging.deferral import schedule_name
from lifecycle.messaging.ledger import Claim, Held, LedgerState
from lifecycle.messaging.message import Business, Cap, Channel, Message
from lifecycle.messaging.preferences import Change, Preferences, Source
from lifecycle.messaging.timing import Budget
from lifecycle.models import Customer, Order

BUSINESS = Business(
    name="Fresh Fold Laundry",
    postal_address="Keizersgracht 100, 1015 CJ Amsterdam, NL",
    sender_email="hello@freshfold.example",
    website="https://freshfold.example/book",
)


def customer(**overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "customer_id": "c-1",
        "first_name": "Ann",
        "created_at": "2026-11-22T09:00:00+00:00",
        "email": "ann@example.com",
        "phone": "+31612345678",
        "locale": "en",
        "consent": {"sms_transactional": True},
    }
    values.update(overrides)
    return Customer.model_validate(values)


def order(**overrides: Any) -> Order:
    """Order o-1 of customer c-1, scheduled, with what a test gives it."""
    values: dict[str, Any] = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "status": "scheduled",
        "updated_at": "2026-12-01T10:00:00+00:00",
    }
    values.update(overrides)
    return Order.model_validate(values)


@dataclass
class FakeLedger:
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    lease: timedelta = timedelta(seconds=45)

    def claim(self, message: Message, now: datetime) -> Claim | Held | LedgerState:
        item = self.items.get(message.key)
        if item and item["status"] == "sent":
            return LedgerState.SENT
        if item and item["status"] == "claimed":
            lease: datetime | None = item.get("lease_until")
            if lease is None or lease >= now:
                return Held(lease)
        token = uuid.uuid4().hex
        self.items[message.key] = {
            "status": "claimed",
            "token": token,
            "lease_until": now + self.lease,
        }
        return Claim(message.key, token)

    def mark_sent(self, claim: Claim, provider_id: str, now: datetime) -> None:
        self.items[claim.key] = {"status": "sent", "provider_id": provider_id}

    def mark_failed(self, claim: Claim, reason: str, now: datetime) -> None:
        self.items[claim.key] = {"status": "failed", "reason": reason}

    def mark_uncertain(self, claim: Claim, reason: str, now: datetime) -> None:
        self.items[claim.key] = {**self.items[claim.key], "reason": reason}

    def release(self, claim: Claim) -> None:
        self.items.pop(claim.key, None)

    def record_skip(self, message: Message, reason: str, now: datetime) -> None:
        self.items[message.key] = {"status": "skipped", "reason": reason}

    def record_deferred(
        self,
        message: Message,
        reason: str,
        until: datetime,
        since: datetime,
        now: datetime,
        attributes: Mapping[str, str],
    ) -> bool:
        if self.items.get(message.key, {}).get("status") in ("sent", "claimed"):
            return False
        self.items[message.key] = {
            "status": "deferred",
            "reason": reason,
            "deliver_at": until,
            "deferred_since": since,
            **attributes,
        }
        return True

    def record_rejected(
        self, key: str, stage: str, customer_id: str | None, reason: str, now: datetime
    ) -> None:
        self.items[key] = {"status": "failed", "reason": reason}


@dataclass
class FakeDeferrals:
    """Deferred messages by schedule name, as Scheduler keeps them (create or update)."""

    schedules: dict[str, tuple[Message, datetime, datetime]] = field(default_factory=dict)
    calls: int = 0

    def defer(self, message: Message, until: datetime, since: datetime) -> None:
        self.calls += 1
        self.schedules[schedule_name(message.key, until)] = (message, until, since)


@dataclass
class FakeStreamFailures:
    logged: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(
        self, stream_arn: str, first_sequence: str, entries: list[dict[str, Any]], now: datetime
    ) -> None:
        self.logged[f"{stream_arn}#{first_sequence}"] = entries


@dataclass
class FakeCaps:
    """The cap store with DynamoDB's semantics: each marker is one conditional write, atomic on
    its own (a lock stands in for the table's per-item atomicity); a take is not."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _put_if_free(self, key: str, cap: Cap, now: datetime) -> bool:
        with self.lock:
            held = self.items.get(key)
            if held is None or held["taken_at"] < now - cap.window:
                self.items[key] = {"owner": cap.owner, "taken_at": now}
                return True
            return False

    def take(self, cap: Cap, customer_id: str, now: datetime) -> datetime | None:
        mine = [k for k in cap.slots if self.items.get(k, {}).get("owner") == cap.owner]
        if mine:
            return None
        for key in cap.slots:
            if self._put_if_free(key, cap, now):
                return None
        taken: datetime = min(self.items[key]["taken_at"] for key in cap.slots)
        return taken

    def give_back(self, cap: Cap) -> None:
        with self.lock:
            for key in cap.slots:
                if self.items.get(key, {}).get("owner") == cap.owner:
                    del self.items[key]


@dataclass
class FakeSuppressions:
    entries: dict[tuple[Channel, str], str] = field(default_factory=dict)

    def reason_for(self, channel: Channel, address: str) -> str | None:
        return self.entries.get((channel, address))


@dataclass
class FakePreferences:
    state: dict[str, Preferences] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)

    def get(self, customer_id: str) -> Preferences:
        return self.state.get(customer_id, Preferences())

    def apply(
        self, customer_id: str, changes: list[Change], source: Source, at: datetime, event_id: str
    ) -> bool:
        if event_id in self.events:
            return False
        self.events.add(event_id)
        current = self.get(customer_id)
        self.state[customer_id] = Preferences(current.after(changes), current.version + 1)
        return True


@dataclass
class FakeSmsOptOuts:
    numbers: set[str] = field(default_factory=set)

    def is_opted_out(self, phone: str) -> bool:
        return phone in self.numbers


@dataclass
class FakeEmail:
    sent: list[OutboundEmail] = field(default_factory=list)
    error: Exception | None = None

    def send(self, email: OutboundEmail) -> str:
        if self.error is not None:
            raise self.error
        self.sent.append(email)
        return f"email-{len(self.sent)}"


@dataclass
class FakeSms:
    sent: list[OutboundSms] = field(default_factory=list)
    error: Exception | None = None

    def send(self, sms: OutboundSms) -> str:
        if self.error is not None:
            raise self.error
        self.sent.append(sms)
        return f"sms-{len(self.sent)}"


@dataclass
class FakeLinks:
    def url_for(self, customer_id: str, topic: str | None) -> str:
        return f"https://freshfold.example/u/{customer_id}/{topic}?sig=abc"


def now() -> datetime:
    return datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class VirtualTime:
    """A clock that moves only when something sleeps: leases and time budgets in tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or now()
        self.elapsed = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.elapsed += seconds

    def budget(self) -> Budget:
        return Budget(clock=self.now, monotonic=self.monotonic, sleep=self.sleep)
