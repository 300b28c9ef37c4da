"""Retention decisions: the win-back step due on a day, and the holdout (pure)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import pytest

from lifecycle.models import Order, OrderStatus
from lifecycle.profiles.model import LoyaltyRules, Profile, contribution
from lifecycle.profiles.stages import StageRules, advance, apply_order, next_due
from lifecycle.stages.retention.journey import held_out, winback_step

DAY0 = date(2026, 3, 2)
RULES = StageRules(timezone="Europe/Amsterdam")
STEPS = (0, 14, 30)


def _on(day: int) -> date:
    return DAY0 + timedelta(days=day)


def _ordered(profile: Profile, order_id: str, day: int) -> Profile:
    image = Order(
        order_id=order_id,
        customer_id=profile.customer_id,
        status=OrderStatus.DELIVERED,
        updated_at=datetime.combine(_on(day), datetime.min.time(), UTC).replace(hour=10),
        total=20,
        currency="EUR",
    )
    after = contribution(image, None, LoyaltyRules())
    return apply_order(profile, None, after, LoyaltyRules(), RULES).profile


def _lapsed_customer() -> Profile:
    """One order on day 0: at risk from day 21, dormant from day 60."""
    return _ordered(Profile("c-1"), "o-1", 0)


def test_the_steps_fall_on_their_days_after_the_customer_lapses() -> None:
    profile = _lapsed_customer()
    due = {}
    for day in range(1, 90):
        profile, _ = advance(profile, _on(day), RULES)
        step = winback_step(profile, _on(day), STEPS, RULES)
        if step is not None:
            due.setdefault(step.step, day)
    assert due == {0: 21, 1: 35, 2: 51}
    assert profile.lapsed_since is not None  # dormant since day 60: still the same lapse
    step = winback_step(profile, _on(89), STEPS, RULES)
    assert step is not None
    assert step.key("c-1") == f"winback#c-1#{_on(21).isoformat()}#2"


def test_an_order_ends_the_sequence_and_a_new_lapse_starts_a_new_one() -> None:
    profile, _ = advance(_lapsed_customer(), _on(25), RULES)
    assert winback_step(profile, _on(25), STEPS, RULES) is not None
    profile = _ordered(profile, "o-2", 26)  # ordered the day after the first step
    for day in range(26, 40):
        profile, _ = advance(profile, _on(day), RULES)
        assert winback_step(profile, _on(day), STEPS, RULES) is None, day
    profile, _ = advance(profile, _on(80), RULES)
    step = winback_step(profile, _on(80), STEPS, RULES)
    assert step is not None
    assert step.sequence != _on(21).isoformat()  # a new lapse: a new sequence


def test_a_missed_day_sends_the_latest_step_only() -> None:
    profile, _ = advance(_lapsed_customer(), _on(40), RULES)
    step = winback_step(profile, _on(40), STEPS, RULES)
    assert step is not None
    assert (step.step, step.due_on) == (1, _on(35))


def test_the_daily_run_is_woken_on_the_later_steps_days() -> None:
    rules = StageRules(timezone="Europe/Amsterdam", wake_after_lapse=(14, 30))
    profile, _ = advance(_lapsed_customer(), _on(21), rules)
    assert profile.stage == "at_risk"
    assert next_due(profile, _on(21), rules) == _on(35)  # the offer, before dormant (60)
    assert next_due(profile, _on(35), rules) == _on(51)
    assert next_due(profile, _on(51), rules) == _on(60)  # then the stage change
    # without the retention's steps, only stage changes wake it
    assert next_due(profile, _on(21), RULES) == _on(60)


def test_the_holdout_share_on_ten_thousand_customers_is_within_a_point() -> None:
    key = secrets.token_bytes(32)
    customers = [f"c-{n}" for n in range(10_000)]
    held = sum(held_out(key, "winback", c, 0.10) for c in customers)
    assert abs(held / len(customers) - 0.10) <= 0.01


def test_the_holdout_is_stable_per_programme_and_keyed() -> None:
    key = b"k" * 32
    first = [held_out(key, "winback", f"c-{n}", 0.5) for n in range(200)]
    assert first == [held_out(key, "winback", f"c-{n}", 0.5) for n in range(200)]
    assert first != [held_out(key, "loyalty", f"c-{n}", 0.5) for n in range(200)]
    assert first != [held_out(b"x" * 32, "winback", f"c-{n}", 0.5) for n in range(200)]
    assert not any(held_out(key, "winback", f"c-{n}", 0) for n in range(200))


def test_a_holdout_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="holdout share"):
        held_out(b"k", "winback", "c-1", 1.0)
