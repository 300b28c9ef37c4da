"""A customer's profile, kept from the Orders stream one order image at a time. Pure.

Each order contributes to its customer's profile (one order placed; delivered or cancelled;
what it cost; the points it earned). The profile keeps each order's last contribution beside
the totals, so an image is folded in by taking the order's old contribution out and its new
one in: a redelivered or replayed image changes nothing (its contribution is already there),
an older image than the one already folded is ignored, and a cancellation or refund after
delivery takes the spend and the points back. Nothing here re-reads a customer's orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from itertools import pairwise
from statistics import median
from typing import TYPE_CHECKING

from lifecycle.models import PROGRESS, Order, OrderStatus
from lifecycle.profiles.promo import normalise

if TYPE_CHECKING:
    from lifecycle.profiles.stages import Change

# ISO 4217's own code for "no currency": where spend on an order without `currency` is kept.
NO_CURRENCY = "XXX"

# How many of a customer's latest orders the profile keeps the dates of: enough for their usual
# interval (the median gap) and for "orders in the last 90 days" of the heaviest users.
RECENT_ORDERS = 24


@dataclass(frozen=True)
class LoyaltyRules:
    """Points per currency unit spent on delivered orders (per currency, else the default),
    and the tiers: the highest whose threshold the points balance reaches."""

    points_per_unit: Decimal = Decimal(1)
    per_currency: Mapping[str, Decimal] = field(default_factory=dict)
    tiers: tuple[tuple[str, int], ...] = (("bronze", 0), ("silver", 250), ("gold", 750))

    def points(self, spend: Decimal, currency: str | None) -> int:
        rate = self.per_currency.get(currency or "", self.points_per_unit)
        return int((spend * rate).to_integral_value(rounding=ROUND_FLOOR))

    def tier(self, points: int) -> str | None:
        reached = [name for name, threshold in self.tiers if points >= threshold]
        return reached[-1] if reached else None


@dataclass(frozen=True)
class Contribution:
    """What one order adds to its customer's profile, as of its latest image folded in."""

    order_id: str
    placed_at: datetime  # when the product first saw the order
    updated_at: datetime  # the image's `updated_at`
    status: OrderStatus
    currency: str | None = None
    spend: Decimal = Decimal(0)  # delivered orders: total less any refund
    points: int = 0
    delivered_at: datetime | None = None  # when the product first saw it delivered
    promo_code: str | None = None  # compact when it reads as one; kept to act on a change only
    # The retention exposures this order was attributed to (their items' sort keys), whose
    # revenue follows the order's spend as later images arrive.
    attributed: tuple[str, ...] = ()

    @property
    def live(self) -> bool:
        return self.status is not OrderStatus.CANCELLED

    @property
    def delivered(self) -> bool:
        return self.status is OrderStatus.DELIVERED

    @property
    def cancelled(self) -> bool:
        return self.status is OrderStatus.CANCELLED

    @property
    def open(self) -> bool:
        """Placed and still under way: neither delivered nor cancelled."""
        return self.live and not self.delivered

    def newer_than(self, other: Contribution) -> bool:
        """True if this image comes after `other` (the same order's last one folded in)."""
        return (self.updated_at, PROGRESS[self.status]) > (
            other.updated_at,
            PROGRESS[other.status],
        )


def contribution(order: Order, before: Contribution | None, rules: LoyaltyRules) -> Contribution:
    """The order's contribution as of this image (`before`: its last one, if any)."""
    spend = Decimal(0)
    delivered_at = None
    if order.status is OrderStatus.DELIVERED:
        delivered_at = before.delivered_at if before and before.delivered_at else order.updated_at
        if order.total is not None:
            spend = max(order.total - (order.refunded_total or Decimal(0)), Decimal(0))
    return Contribution(
        order_id=order.order_id,
        placed_at=before.placed_at if before else order.updated_at,
        updated_at=order.updated_at,
        status=order.status,
        # Spend with no currency is kept under ISO 4217's "no currency" code, not lost.
        currency=order.currency or (NO_CURRENCY if spend else None),
        spend=spend,
        points=rules.points(spend, order.currency) if spend else 0,
        delivered_at=delivered_at,
        promo_code=(normalise(order.promo_code) or order.promo_code) if order.promo_code else None,
        attributed=before.attributed if before else (),
    )


@dataclass(frozen=True)
class Exposed:
    """A retention exposure an order may be attributed to: a message that went, or a holdout's
    record of the message it did not get (`sk`: the exposure's item in the customer's
    collection)."""

    at: datetime
    sk: str
    treated: bool


@dataclass(frozen=True)
class Exposure:
    """One customer's exposure to a retention programme's step, for measuring it: the message
    went (`treated`), or the customer was held out of the programme and got nothing. Kept in
    the customer's collection, and found by programme and time through the `exposures`
    index."""

    programme: str  # the step measured: winback#0, winback#1, winback#2, tier_up, appreciation
    family: str  # the programme a holdout is drawn for: winback, tier_up, appreciation
    key: str  # the message's ledger key
    treated: bool
    at: datetime
    outcome: str  # sent, deferred (it goes later), duplicate (it went before), held_out

    @property
    def sk(self) -> str:
        return f"exposure#{self.key}"  # adapters/profiles.py EXPOSURE_SK


@dataclass(frozen=True)
class Profile:
    """What the product knows of a customer's custom, and where they stand.

    `recent` holds the placement time of the customer's latest live orders (at most
    RECENT_ORDERS). `open_orders`: live orders not delivered yet. `winback_at`/`winback_key`:
    the last win-back message sent (set by the retention stage); an order soon after it, while
    at risk or dormant, wins the customer back.
    """

    customer_id: str
    placed: int = 0
    delivered: int = 0
    cancelled: int = 0
    spend: Mapping[str, Decimal] = field(default_factory=dict)  # per currency
    points: int = 0
    tier: str | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_delivered_at: datetime | None = None
    open_orders: int = 0
    recent: Mapping[str, datetime] = field(default_factory=dict)
    stage: str = "prospect"
    stage_since: datetime | None = None
    lapsed_since: datetime | None = None  # at risk or dormant since, while they are
    winback_at: datetime | None = None
    winback_key: str | None = None
    won_back_at: datetime | None = None  # the placement time of the order that won them back
    as_of: date | None = None  # the last day the stage was worked out for
    version: int = 0
    # The retention stage's marks: the last win-back step handled (sent, held out or refused),
    # the loyalty tiers announced, the quarter of the last appreciation reward, and each
    # programme's latest exposure an order may still be attributed to.
    winback_done: str | None = None
    tiers_rewarded: frozenset[str] = frozenset()
    appreciated: str | None = None  # a quarter, e.g. 2026-Q2
    exposures: Mapping[str, Exposed] = field(default_factory=dict)  # programme family ->

    @property
    def live_orders(self) -> int:
        return self.placed - self.cancelled

    def order_times(self) -> list[datetime]:
        return sorted(self.recent.values())

    def last_activity(self) -> datetime | None:
        """Since when the customer has been without an order: their last order's placement, or
        its delivery when that came later (a customer is not idle while being served)."""
        times = [t for t in (self.last_order_at, self.last_delivered_at) if t is not None]
        return max(times) if times else None


def median_gap(days: list[date]) -> Decimal | None:
    """The usual interval: the median of the calendar days between orders (sorted days)."""
    if len(days) < 2:
        return None
    return Decimal(median((b - a).days for a, b in pairwise(days)))


def fold(
    profile: Profile, before: Contribution | None, after: Contribution, rules: LoyaltyRules
) -> Profile:
    """The profile with the order's contribution `before` replaced by `after`."""
    spend = dict(profile.spend)
    for part, sign in ((before, -1), (after, 1)):
        if part is not None and part.spend and part.currency:
            spend[part.currency] = spend.get(part.currency, Decimal(0)) + sign * part.spend
    spend = {currency: amount for currency, amount in spend.items() if amount}

    def count(test: str) -> int:
        was = 1 if before is not None and getattr(before, test) else 0
        return (1 if getattr(after, test) else 0) - was

    recent = dict(profile.recent)
    recent.pop(after.order_id, None)
    if after.live:
        recent[after.order_id] = after.placed_at
        recent = dict(sorted(recent.items(), key=lambda item: item[1])[-RECENT_ORDERS:])
    live_times = sorted(recent.values())
    points = profile.points + after.points - (before.points if before else 0)
    first = profile.first_order_at
    if first is None or after.placed_at < first:
        first = after.placed_at  # the first order ever placed, even if later cancelled
    delivered_at = profile.last_delivered_at
    if after.delivered_at is not None and (
        delivered_at is None or after.delivered_at > delivered_at
    ):
        delivered_at = after.delivered_at
    return replace(
        profile,
        placed=profile.placed + (0 if before is not None else 1),
        delivered=profile.delivered + count("delivered"),
        cancelled=profile.cancelled + count("cancelled"),
        open_orders=profile.open_orders + count("open"),
        spend=spend,
        points=points,
        tier=rules.tier(points),
        first_order_at=first,
        last_order_at=live_times[-1] if live_times else None,
        last_delivered_at=delivered_at,
        recent=recent,
    )


@dataclass(frozen=True)
class Folded:
    """The outcome of folding one order image into a profile."""

    profile: Profile
    contribution: Contribution
    changes: tuple[Change, ...] = ()
