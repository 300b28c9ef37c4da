"""Retention decisions (pure): the win-back step due on a day, what else a customer is owed
(tier-ups, the quarter's appreciation), the marks that say it was handled, attribution, the
messages' contexts, the holdout and the settings."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from lifecycle.models import Order, OrderStatus
from lifecycle.platform.settings import Env
from lifecycle.profiles.model import Exposed, LoyaltyRules, Profile, contribution
from lifecycle.profiles.stages import StageRules, advance, apply_order, first_marks, next_due
from lifecycle.stages.retention.journey import (
    WINBACK_SPECS,
    due,
    held_out,
    marks,
    message,
    winback_step,
)

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
    # on the step's day it stays due until the retention stage marks the step handled
    assert next_due(profile, _on(35), rules) == _on(35)
    offer = replace(profile, winback_done=f"winback#c-1#{_on(21).isoformat()}#0")
    assert next_due(offer, _on(35), rules) == _on(51)
    last = replace(profile, winback_done=f"winback#c-1#{_on(21).isoformat()}#1")
    assert next_due(last, _on(51), rules) == _on(60)  # then the stage change
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


# ---------------------------------------------------------------------- what is owed, and marks
TIERS = LoyaltyRules(tiers=(("bronze", 0), ("silver", 250), ("gold", 750)))
WAKES = replace(
    RULES,
    wake_after_lapse=STEPS,
    reward_tiers=("silver", "gold"),
    appreciation_orders=6,
)


def _heavy(points: int, orders: int = 6, start: int = 0) -> Profile:
    """A customer with `orders` orders on consecutive days from `start`, and `points`."""
    recent = {
        f"o-{n}": datetime.combine(_on(start + n), datetime.min.time(), UTC).replace(hour=10)
        for n in range(orders)
    }
    return Profile(
        "c-9",
        placed=orders,
        delivered=orders,
        points=points,
        tier=TIERS.tier(points),
        recent=recent,
        last_order_at=max(recent.values()),
        stage="loyal",
        as_of=_on(start + orders),
    )


def test_a_lapsed_customer_is_owed_one_step_and_only_until_it_is_marked() -> None:
    profile = advance(_lapsed_customer(), _on(21), WAKES)[0]
    (owed,) = due(profile, _on(21), WAKES)
    assert (owed.programme, owed.key, owed.promo) == ("winback#0", owed.key, None)
    assert owed.spec is WINBACK_SPECS[0]
    marked = marks(owed, WAKES, sent_at=None)(profile)
    assert due(marked, _on(21), WAKES) == []
    # the offer, a fortnight later, carries the sequence's code
    (offer,) = due(advance(marked, _on(35), WAKES)[0], _on(35), WAKES)
    assert offer.promo == f"winback-{_on(21).isoformat()}"


def test_a_customer_jumping_two_tiers_hears_of_the_higher_only_and_once() -> None:
    profile = _heavy(800, orders=2)
    (owed,) = due(profile, _on(3), WAKES)
    assert (owed.family, owed.tier) == ("tier_up", "gold")
    marked = marks(owed, WAKES, sent_at=None)(profile)
    assert marked.tiers_rewarded == {"silver", "gold"}
    assert due(marked, _on(3), WAKES) == []
    # falling back to silver (points taken back) and up again announces nothing
    assert due(replace(marked, points=300, tier="silver"), _on(4), WAKES) == []


def test_the_appreciation_reward_needs_six_orders_in_ninety_days_and_goes_once_a_quarter() -> None:
    assert due(_heavy(100, orders=5), _on(6), WAKES) == []
    profile = _heavy(100, orders=6)
    (owed,) = due(profile, _on(6), WAKES)
    assert (owed.family, owed.quarter, owed.promo) == (
        "appreciation",
        "2026-Q1",
        "appreciation-2026-Q1",
    )
    marked = marks(owed, WAKES, sent_at=None)(profile)
    assert due(marked, _on(7), WAKES) == []
    # the daily run sees them again on the next quarter's first day, still a heavy user (an
    # order under way: time alone cannot make them at risk before that)
    assert next_due(replace(marked, open_orders=1), _on(6), WAKES) == date(2026, 4, 1)
    (again,) = due(marked, date(2026, 4, 1), WAKES)
    assert again.quarter == "2026-Q2"
    # a lapsed heavy user gets the win-back, not thanks
    assert due(replace(profile, stage="at_risk"), _on(6), WAKES) == []


def test_a_waiting_reward_makes_the_profile_due_on_its_own_day() -> None:
    profile = _heavy(300, orders=2)
    assert next_due(profile, _on(2), WAKES) == _on(2)
    assert next_due(replace(profile, tiers_rewarded=frozenset({"silver"})), _on(2), WAKES) != _on(2)


def test_a_win_back_message_that_went_opens_the_window_an_order_wins_back_in() -> None:
    profile = advance(_lapsed_customer(), _on(21), WAKES)[0]
    (owed,) = due(profile, _on(21), WAKES)
    sent = datetime.combine(_on(21), datetime.min.time(), UTC).replace(hour=4)
    assert marks(owed, WAKES, sent_at=sent)(profile).winback_at == sent
    assert marks(owed, WAKES, sent_at=None)(profile).winback_at is None


def test_an_order_is_attributed_to_each_programmes_open_exposure_within_the_window() -> None:
    sent = datetime.combine(_on(21), datetime.min.time(), UTC).replace(hour=4)
    profile = replace(
        advance(_lapsed_customer(), _on(21), WAKES)[0],
        exposures={
            "winback": Exposed(sent, "exposure#w", treated=True),
            "tier_up": Exposed(sent - timedelta(days=20), "exposure#t", treated=True),
        },
    )
    image = Order(
        order_id="o-2",
        customer_id="c-1",
        status=OrderStatus.SCHEDULED,
        updated_at=sent + timedelta(days=13),
    )
    folded = apply_order(profile, None, contribution(image, None, TIERS), TIERS, WAKES)
    # the win-back's (13 days before) is attributed; the tier-up's (33 days) expired
    assert folded.contribution.attributed == ("exposure#w",)
    assert folded.profile.exposures == {}
    # later images of the order keep the attribution (its revenue follows them)
    delivered = image.model_copy(
        update={"status": OrderStatus.DELIVERED, "total": 30, "currency": "EUR"}
    )
    after = contribution(delivered, folded.contribution, TIERS)
    assert after.attributed == ("exposure#w",)


def test_the_messages_carry_what_their_templates_use() -> None:
    from lifecycle.models import Customer
    from lifecycle.profiles.promo import issued
    from lifecycle.stages.retention.settings import RetentionSettings

    env = {
        "PROFILES_TABLE": "p",
        "HOLDOUT_KEY": "k",
        "BUSINESS_WEBSITE": "https://freshfold.example/book",
        "LOYALTY_TIERS": "bronze:0,silver:250,gold:750",
    }
    settings = RetentionSettings.from_env(Env(env))
    person = Customer(
        customer_id="c-9",
        first_name="Dana",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        email="dana@example.com",
    )
    silver = _heavy(300, orders=2)
    (tier_up,) = due(silver, _on(2), settings.profiles.stages)
    context = message(tier_up, person, silver, _on(2), settings, None).context
    assert (context["next_tier"], context["points_to_next"]) == ("gold", 450)
    gold = _heavy(800, orders=2)
    (top,) = due(gold, _on(2), settings.profiles.stages)
    context = message(top, person, gold, _on(2), settings, None).context
    assert (context["tier"], context["next_tier"], context["points_to_next"]) == (
        "gold",
        None,
        None,
    )
    heavy = _heavy(100, orders=6)
    (reward,) = due(heavy, _on(6), settings.profiles.stages)
    code = issued(
        "ABCDEFGHJKMN", "c-9", "appreciation-2026-Q1", 30, datetime(2026, 3, 8, tzinfo=UTC)
    )
    context = message(reward, person, heavy, _on(6), settings, code).context
    assert context["promo_code"] == "ABCD-EFGH-JKMN"
    assert (context["discount_percent"], context["orders_lately"]) == (15, 6)
    assert context["expires_at"] == code.expires_at


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"WINBACK_STEP_DAYS": "0,14"}, "three whole days"),
        ({"WINBACK_STEP_DAYS": "0,30,14"}, "must rise"),
        ({"PROMO_CODE_VALID_DAYS": "10"}, "must outlast"),
        ({"HOLDOUT_SHARE": "1.5"}, "below 1"),
        ({"HOLDOUT_SHARE": "a tenth"}, "a share such as 0.1"),
        ({"WINBACK_OFFER_PERCENT": "100"}, "below 100"),
        ({"BOOK_URL": "http://freshfold.example"}, "https://"),
        ({"LOYALTY_TIER_UP": "maybe"}, "on or off"),
    ],
)
def test_bad_retention_settings_are_refused_by_name(env: dict[str, str], problem: str) -> None:
    from lifecycle.platform.settings import SettingsError
    from lifecycle.stages.retention.settings import RetentionSettings

    base = {"PROFILES_TABLE": "p", "HOLDOUT_KEY": "k", "BUSINESS_WEBSITE": "https://f.example"}
    with pytest.raises(SettingsError, match=problem):
        RetentionSettings.from_env(Env({**base, **env}))


def test_a_second_worker_on_the_same_step_changes_nothing() -> None:
    profile = advance(_lapsed_customer(), _on(21), WAKES)[0]
    (owed,) = due(profile, _on(21), WAKES)
    first = datetime.combine(_on(21), datetime.min.time(), UTC).replace(hour=4)
    marked = marks(owed, WAKES, sent_at=first)(profile)
    # the second worker's message came back a duplicate, a moment later
    assert marks(owed, WAKES, sent_at=first + timedelta(seconds=3))(marked) == marked


def test_a_profile_from_before_the_retention_stage_is_owed_nothing_from_before() -> None:
    # a gold customer, lapsed for 40 days when the retention stage is deployed
    lapsed = advance(_lapsed_customer(), _on(61), WAKES)[0]
    old = replace(lapsed, points=800, tier="gold", stage="at_risk")
    marked = first_marks(old, WAKES)
    assert marked.tiers_rewarded == {"silver", "gold"}
    assert marked.winback_done == f"winback#c-1#{_on(21).isoformat()}#2"
    assert due(marked, _on(61), WAKES) == []
    # what comes next goes as usual
    assert due(replace(marked, points=2000, tier="platinum"), _on(61), WAKES) == []
    assert first_marks(Profile("c-new"), WAKES) == Profile("c-new")
