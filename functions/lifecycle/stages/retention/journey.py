"""Retention decisions. Pure: what the daily run owes a customer today (a win-back step, a
tier-up, the quarter's appreciation reward), who is held out of a programme, the message each
one sends, and the marks that say it was handled.

A customer lapses when they first become at risk (`Profile.lapsed_since`); the win-back
sequence's steps go on fixed days after that (default 0, 14 and 30). One lapse is one
sequence, named after the day it began, so a customer who orders, then lapses again, gets a
new sequence, and each step's ledger key (`winback#<customer>#<sequence>#<step>`) goes at most
once. An order ends the lapse (the customer is no longer at risk or dormant), and with it the
sequence: nothing is due after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from lifecycle.messaging import draw
from lifecycle.messaging.message import Channel, Message, MessageSpec
from lifecycle.profiles.model import LoyaltyRules, Profile
from lifecycle.profiles.promo import display
from lifecycle.profiles.stages import (
    StageRules,
    appreciation_due,
    orders_within,
    quarter_of,
    tier_up_due,
    winback_key,
    winback_owed,
)
from lifecycle.stages.retention.messages import (
    APPRECIATION_REWARD,
    LOYALTY_TIER_UP,
    WINBACK_LAST_CHANCE,
    WINBACK_OFFER,
    WINBACK_REMINDER,
)

if TYPE_CHECKING:
    from lifecycle.models import Customer
    from lifecycle.profiles.promo import PromoCode
    from lifecycle.stages.retention.settings import RetentionSettings

WINBACK = "winback"
TIER_UP = "tier_up"
APPRECIATION = "appreciation"
# The win-back sequence's messages, step by step.
WINBACK_SPECS = (WINBACK_REMINDER, WINBACK_OFFER, WINBACK_LAST_CHANCE)


@dataclass(frozen=True)
class WinbackStep:
    sequence: str  # the day the lapse began, e.g. 2026-03-23
    step: int  # 0-based: the reminder, the offer, the last chance
    due_on: date

    def key(self, customer_id: str) -> str:
        return winback_key(customer_id, self.sequence, self.step)


def winback_step(
    profile: Profile, today: date, steps: tuple[int, ...], rules: StageRules
) -> WinbackStep | None:
    """The win-back step the customer has reached today, whether handled or not (see
    `stages.winback_owed`); None unless the customer is lapsed (at risk or dormant) now."""
    reached = winback_owed(
        replace(profile, winback_done=None), today, replace(rules, wake_after_lapse=steps)
    )
    if reached is None:
        return None
    sequence, step = reached
    return WinbackStep(sequence, step, date.fromisoformat(sequence) + timedelta(days=steps[step]))


def held_out(key: bytes, programme: str, customer_id: str, share: float) -> bool:
    """True for the `share` of customers a programme holds out (they receive nothing from it,
    so its lift can be measured). A keyed hash of the programme and the customer: stable
    across runs, independent between programmes, and redrawn by a new key (HoldoutKey, not a
    secret: nobody chooses their customer id, so knowing the draw lets no one game it)."""
    if not 0 <= share < 1:
        raise ValueError(f"a holdout share must be at least 0 and below 1, got {share}")
    return draw.below(key, programme, customer_id, share)


@dataclass(frozen=True)
class Due:
    """One thing the daily run owes a customer today."""

    family: str  # the programme a holdout is drawn for: winback, tier_up, appreciation
    programme: str  # the step measured in the report: winback#0..2, tier_up, appreciation
    key: str  # the message's ledger key: each goes at most once
    spec: MessageSpec
    promo: str | None = None  # the promo programme whose code the message carries
    tier: str | None = None  # the tier a tier-up announces
    quarter: str | None = None  # the quarter an appreciation reward is for


def due(profile: Profile, today: date, rules: StageRules) -> list[Due]:
    """What the customer is owed today: at most one win-back step (the latest reached, once),
    a tier-up for a tier not announced yet, and the quarter's appreciation reward."""
    owed: list[Due] = []
    customer_id = profile.customer_id
    step = winback_step(profile, today, rules.wake_after_lapse, rules)
    if step is not None and winback_owed(profile, today, rules) is not None:
        owed.append(
            Due(
                WINBACK,
                f"{WINBACK}#{step.step}",
                step.key(customer_id),
                WINBACK_SPECS[step.step],
                # The offer's code, which the last chance repeats.
                promo=f"{WINBACK}-{step.sequence}" if step.step else None,
            )
        )
    if tier_up_due(profile, rules) and profile.tier is not None:
        key = f"{TIER_UP}#{customer_id}#{profile.tier}"
        owed.append(Due(TIER_UP, TIER_UP, key, LOYALTY_TIER_UP, tier=profile.tier))
    if appreciation_due(profile, today, rules):
        quarter = quarter_of(today)
        owed.append(
            Due(
                APPRECIATION,
                APPRECIATION,
                f"{APPRECIATION}#{customer_id}#{quarter}",
                APPRECIATION_REWARD,
                promo=f"{APPRECIATION}-{quarter}",
                quarter=quarter,
            )
        )
    return owed


def marks(
    owed: Due, rules: StageRules, *, sent_at: datetime | None
) -> Callable[[Profile], Profile]:
    """What records `owed` as handled on the profile, whatever came of it (sent, held out,
    refused by the contact policy): the step, the tier (and every tier below it: a customer
    who jumps two tiers hears of the higher only) or the quarter. A win-back message that
    went (`sent_at`) also opens the window in which an order wins the customer back."""

    def apply(profile: Profile) -> Profile:
        if owed.family == WINBACK:
            if profile.winback_done == owed.key:
                return profile  # handled already (a second worker on the same customer)
            profile = replace(profile, winback_done=owed.key)
            if sent_at is not None:
                profile = replace(profile, winback_at=sent_at, winback_key=owed.key)
        elif owed.family == TIER_UP and owed.tier in rules.reward_tiers:
            reached = rules.reward_tiers[: rules.reward_tiers.index(owed.tier) + 1]
            profile = replace(profile, tiers_rewarded=profile.tiers_rewarded | set(reached))
        elif owed.family == APPRECIATION:
            profile = replace(profile, appreciated=owed.quarter)
        return profile

    return apply


def message(
    owed: Due,
    customer: Customer,
    profile: Profile,
    today: date,
    settings: RetentionSettings,
    code: PromoCode | None,
) -> Message:
    """The message `owed` sends (by email: every retention message is marketing email).
    `code` is the promo code it carries; None only for a holdout's eligibility check, which
    is never sent."""
    spec = owed.spec
    promo_code = display(code.code) if code is not None else None
    expires_at = code.expires_at if code is not None else None
    context: dict[str, object]
    if spec is WINBACK_REMINDER:
        last = profile.last_activity()
        idle = (today - settings.profiles.stages.day_of(last)).days if last else 0
        context = {"days_since_order": idle, "book_url": settings.book_url}
    elif spec is LOYALTY_TIER_UP:
        upcoming = next_tier(profile.points, settings.profiles.loyalty)
        context = {
            "tier": owed.tier,
            "points": profile.points,
            "next_tier": upcoming[0] if upcoming else None,
            "points_to_next": upcoming[1] - profile.points if upcoming else None,
        }
    else:
        percent = (
            settings.appreciation_percent if spec is APPRECIATION_REWARD else settings.offer_percent
        )
        context = {
            "promo_code": promo_code,
            "discount_percent": percent,
            "expires_at": expires_at,
            "book_url": settings.book_url,
        }
        if spec is APPRECIATION_REWARD:
            rules = settings.profiles.stages
            window = rules.appreciation_window_days
            context["orders_lately"] = orders_within(profile, today, window, rules)
    context["first_name"] = customer.first_name
    return spec.message(owed.key, customer, Channel.EMAIL, context, sequence=owed.programme)


def next_tier(points: int, loyalty: LoyaltyRules) -> tuple[str, int] | None:
    """The first tier above `points` and its threshold, or None at the top."""
    return next(((name, least) for name, least in loyalty.tiers if least > points), None)
