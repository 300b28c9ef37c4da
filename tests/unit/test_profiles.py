"""Profiles and lifecycle stages: order histories folded image by image, and time moving
stages on the right days (pure: no AWS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from lifecycle.models import Order, OrderStatus
from lifecycle.profiles.model import Contribution, LoyaltyRules, Profile, contribution
from lifecycle.profiles.stages import (
    Change,
    StageRules,
    advance,
    apply_order,
    next_change,
    stage_on,
    winback_sent,
)

DAY0 = date(2026, 1, 5)
RULES = StageRules(timezone="Europe/Amsterdam")
LOYALTY = LoyaltyRules()

# An event: (day, order id, status) or (day, order id, status, total) or a win-back message
# ("winback", day). Orders are placed at 10:00 UTC on their day.
Event = tuple[object, ...]


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(DAY0.year, DAY0.month, DAY0.day, hour, tzinfo=UTC) + timedelta(days=day)


class Folder:
    """Folds a history in, keeping each order's last contribution as the table does."""

    def __init__(self) -> None:
        self.profile = Profile("c-1")
        self.parts: dict[str, Contribution] = {}
        self.changes: list[Change] = []

    def order(
        self,
        day: int,
        order_id: str,
        status: str,
        total: str | None = None,
        *,
        refunded: str | None = None,
        currency: str = "EUR",
        hour: int = 10,
        at: datetime | None = None,
    ) -> bool:
        image = Order(
            order_id=order_id,
            customer_id="c-1",
            status=OrderStatus(status),
            updated_at=at or _at(day, hour),
            total=Decimal(total) if total else None,
            currency=currency,
            refunded_total=Decimal(refunded) if refunded else None,
        )
        before = self.parts.get(order_id)
        after = contribution(image, before, LOYALTY)
        if before is not None and not after.newer_than(before):
            return False
        folded = apply_order(self.profile, before, after, LOYALTY, RULES)
        self.profile, self.parts[order_id] = folded.profile, after
        self.changes += folded.changes
        return True

    def winback(self, day: int) -> None:
        self.profile = winback_sent(self.profile, _at(day, 9), f"winback#c-1#s1#{day}")

    def on(self, day: int) -> str:
        self.profile, changes = advance(self.profile, DAY0 + timedelta(days=day), RULES)
        self.changes += changes
        # The stored stage is the one the pure function gives for that day.
        assert self.profile.stage == stage_on(self.profile, DAY0 + timedelta(days=day), RULES)[0]
        return self.profile.stage


def _day(event: Event) -> int:
    return int(str(event[1] if event[0] == "winback" else event[0]))


def _apply(folder: Folder, event: Event) -> None:
    if event[0] == "winback":
        folder.winback(_day(event))
    else:
        day, order_id, status, *total = event
        folder.order(int(str(day)), str(order_id), str(status), *(str(t) for t in total))


def _run(events: list[Event]) -> Folder:
    folder = Folder()
    for event in events:
        _apply(folder, event)
    return folder


def _weekly(*days: int, status: str = "delivered") -> list[Event]:
    return [(day, f"o-{day}", status, "20") for day in days]


# (name, history, {day: expected stage}); the days are checked in order, after the history.
HISTORIES: list[tuple[str, list[Event], dict[int, str]]] = [
    ("a prospect has no order", [], {0: "prospect", 400: "prospect"}),
    ("a first order placed makes a new customer", [(0, "o-1", "scheduled")], {0: "new"}),
    (
        "one delivered order: new",
        [(0, "o-1", "scheduled"), (1, "o-1", "delivered", "30")],
        {10: "new"},
    ),
    (
        "one order: at risk after the floor, dormant after 60 days",
        [(0, "o-1", "delivered", "30")],
        {20: "new", 21: "at_risk", 59: "at_risk", 60: "dormant", 365: "dormant"},
    ),
    (
        "an order cancelled is no order",
        [(0, "o-1", "scheduled"), (0, "o-1", "cancelled")],
        {5: "prospect"},
    ),
    ("two orders: active", _weekly(0, 7), {8: "active"}),
    (
        "weekly customer: the floor (21 days) beats 1.5 x 7",
        _weekly(0, 7, 14, 21),
        {41: "active", 42: "at_risk", 80: "at_risk", 81: "dormant"},
    ),
    (
        "every 20 days: at risk after 30 days",
        _weekly(0, 20, 40),
        {69: "active", 70: "at_risk", 99: "at_risk", 100: "dormant"},
    ),
    (
        "every 30 days: at risk after 45 days, dormant at 60",
        _weekly(0, 30, 60),
        {104: "active", 105: "at_risk", 120: "dormant"},
    ),
    (
        "five orders in 90 days: loyal",
        _weekly(0, 1, 2, 3, 4),
        {4: "loyal", 24: "loyal", 25: "at_risk"},
    ),
    (
        "loyal falls back to active as old orders leave the 90-day window",
        _weekly(0, 1, 2, 3, 4, 20, 40, 60, 80),
        {80: "loyal", 93: "loyal", 94: "active", 100: "active", 101: "at_risk"},
    ),
    (
        "a gold tier is loyal with one order",
        [(0, "o-1", "delivered", "800")],
        {0: "loyal", 20: "loyal", 21: "at_risk"},
    ),
    ("a silver tier is not loyal", [(0, "o-1", "delivered", "300")], {0: "new"}),
    (
        "cancelled after delivery: back to prospect",
        [(0, "o-1", "delivered", "800"), (2, "o-1", "cancelled")],
        {3: "prospect"},
    ),
    (
        "won back: an order after a win-back message while at risk",
        [(0, "o-1", "delivered", "20"), ("winback", 25), (30, "o-2", "delivered", "20")],
        {30: "won_back", 74: "won_back", 75: "at_risk"},
    ),
    (
        "won back until the next order",
        [
            (0, "o-1", "delivered", "20"),
            ("winback", 25),
            (30, "o-2", "delivered", "20"),
            (40, "o-3", "scheduled"),
        ],
        {40: "active"},
    ),
    (
        "an order after a win-back message while still active is not a win-back",
        [*_weekly(0, 7), ("winback", 9), (10, "o-10", "scheduled")],
        {10: "active"},
    ),
    (
        "dormant, then an order without a win-back: active again",
        [(0, "o-1", "delivered", "20"), (70, "o-2", "scheduled")],
        {69: "dormant", 70: "active"},
    ),
    (
        "won back from dormant",
        [(0, "o-1", "delivered", "20"), ("winback", 65), (70, "o-2", "scheduled")],
        {70: "won_back"},
    ),
    (
        "a win-back message then a cancelled order does not win back",
        [
            (0, "o-1", "delivered", "20"),
            ("winback", 25),
            (30, "o-2", "scheduled"),
            (30, "o-2", "cancelled"),
        ],
        {31: "at_risk"},
    ),
    (
        "a customer whose only order is cancelled later, long after: prospect",
        [(0, "o-1", "delivered", "20"), (90, "o-1", "cancelled")],
        {90: "prospect"},
    ),
    (
        "an order under way is never at risk: the idle days count from its delivery",
        [(0, "o-1", "scheduled"), (18, "o-1", "picked_up"), (24, "o-1", "delivered", "30")],
        {22: "new", 44: "new", 45: "at_risk"},
    ),
    (
        "a win-back message long before the order does not win back",
        [(0, "o-1", "delivered", "20"), ("winback", 25), (60, "o-2", "delivered", "20")],
        {60: "active"},
    ),
    (
        "an early order's cancellation moves the usual interval",
        [*_weekly(0, 7, 14), (15, "o-15", "scheduled"), (16, "o-15", "cancelled")],
        {34: "active", 35: "at_risk"},
    ),
]


@pytest.mark.parametrize(
    ("history", "expected"),
    [pytest.param(h, e, id=name) for name, h, e in HISTORIES],
)
def test_given_an_order_history_the_stage_on_each_day_is_the_expected_one(
    history: list[Event], expected: dict[int, str]
) -> None:
    # Events and checks in time order: the events of a day come before that day's check.
    folder, pending, got = Folder(), list(history), {}
    for day in sorted(expected):
        while pending and _day(pending[0]) <= day:
            _apply(folder, pending.pop(0))
        got[day] = folder.on(day)
    assert got == expected


def test_the_table_has_at_least_twenty_histories() -> None:
    assert len(HISTORIES) >= 20


def test_given_missed_days_when_time_catches_up_each_change_is_dated_on_its_own_day() -> None:
    folder = _run(_weekly(0, 7, 14))
    folder.changes.clear()
    # Nothing runs for 100 days: the first run still records both changes on their days.
    assert folder.on(100) == "dormant"
    days = [(change.new, RULES.day_of(change.at)) for change in folder.changes]
    assert days == [("at_risk", DAY0 + timedelta(days=35)), ("dormant", DAY0 + timedelta(days=74))]
    assert "no order for 21 days" in folder.changes[0].cause


def test_each_change_records_old_new_and_cause() -> None:
    folder = _run([(0, "o-1", "delivered", "20"), ("winback", 25), (30, "o-2", "scheduled")])
    folder.on(30)
    assert [(c.old, c.new) for c in folder.changes] == [
        ("prospect", "new"),
        ("new", "at_risk"),
        ("at_risk", "won_back"),
    ]
    assert folder.changes[0].cause == "order o-1 placed"
    assert folder.changes[2].cause == "order o-2 after win-back message winback#c-1#s1#25"
    assert folder.changes[2].at == _at(30)


def test_points_are_earned_on_delivery_and_taken_back_on_cancellation_or_refund() -> None:
    folder = Folder()
    folder.order(0, "o-1", "scheduled", "120.90")
    assert folder.profile.points == 0  # not delivered yet
    folder.order(1, "o-1", "delivered", "120.90")
    assert folder.profile.points == 120  # a point per whole euro
    assert folder.profile.spend == {"EUR": Decimal("120.90")}
    folder.order(2, "o-2", "delivered", "300")
    assert (folder.profile.points, folder.profile.tier) == (420, "silver")
    folder.order(3, "o-2", "delivered", "300", refunded="100")
    assert folder.profile.points == 320
    assert folder.profile.spend == {"EUR": Decimal("320.90")}
    folder.order(4, "o-1", "cancelled")
    assert (folder.profile.points, folder.profile.tier) == (200, "bronze")
    assert folder.profile.spend == {"EUR": Decimal("200")}
    assert (folder.profile.placed, folder.profile.delivered, folder.profile.cancelled) == (2, 1, 1)


def test_the_points_rule_can_differ_per_currency() -> None:
    rules = LoyaltyRules(points_per_unit=Decimal(1), per_currency={"TWD": Decimal("0.03")})
    assert rules.points(Decimal("1000"), "TWD") == 30
    assert rules.points(Decimal("99.99"), "EUR") == 99


def test_spend_is_kept_per_currency() -> None:
    folder = Folder()
    folder.order(0, "o-1", "delivered", "20", currency="EUR")
    folder.order(1, "o-2", "delivered", "30", currency="USD")
    assert folder.profile.spend == {"EUR": Decimal(20), "USD": Decimal(30)}


def test_a_replayed_or_older_image_changes_nothing() -> None:
    folder = Folder()
    assert folder.order(0, "o-1", "scheduled")
    assert folder.order(1, "o-1", "delivered", "50")
    before = folder.profile
    assert not folder.order(1, "o-1", "delivered", "50")  # the same image again
    assert not folder.order(0, "o-1", "scheduled")  # an older one
    assert folder.profile == before


def test_the_first_and_last_order_and_the_median_gap_are_kept() -> None:
    folder = _run(_weekly(0, 7, 21))
    profile = folder.profile
    assert profile.first_order_at == _at(0)
    assert profile.last_order_at == _at(21)
    assert RULES.usual_gap(profile) == Decimal("10.5")


def test_days_are_the_business_calendar_days() -> None:
    # 23:30 UTC on day 0 is already day 1 in Amsterdam: the floor counts from day 1.
    folder = Folder()
    folder.order(0, "o-1", "delivered", "20", hour=23)
    assert folder.on(21) == "new"
    assert folder.on(22) == "at_risk"


def test_next_change_is_none_when_only_an_order_can_move_the_customer() -> None:
    folder = _run([(0, "o-1", "delivered", "20")])
    assert next_change(folder.profile, DAY0, RULES) == DAY0 + timedelta(days=21)
    folder.on(60)
    assert next_change(folder.profile, DAY0 + timedelta(days=60), RULES) is None
    assert next_change(Profile("c-2"), DAY0, RULES) is None


def test_a_profile_is_never_moved_back_by_an_image_older_than_its_day() -> None:
    folder = _run([(0, "o-1", "delivered", "20")])
    assert folder.on(30) == "at_risk"
    # A late image of a second order, dated before the day time has reached: it still counts
    # as an order, but the stage is worked out for the profile's own day.
    folder.order(25, "o-2", "scheduled")
    assert replace(folder.profile).as_of == DAY0 + timedelta(days=30)
    assert folder.profile.stage == "active"


def test_the_usual_interval_is_in_calendar_days_across_a_clock_change() -> None:
    # Orders at 10:00 Amsterdam time every 20 days across the October clock change: the UTC
    # gap is 20 days and an hour, the calendar gap 20 days, so at risk after exactly 30.
    amsterdam = ZoneInfo("Europe/Amsterdam")
    folder = Folder()
    days = (date(2026, 10, 5), date(2026, 10, 25), date(2026, 11, 14))
    for number, day in enumerate(days):
        local = datetime.combine(day, time(10), amsterdam)
        folder.order(0, f"o-{number}", "delivered", "20", at=local)
    assert RULES.usual_gap(folder.profile) == 20
    last = days[-1]
    assert folder.on((last - DAY0).days + 29) == "active"
    assert folder.on((last - DAY0).days + 30) == "at_risk"


def test_the_at_risk_factor_is_exact_decimal_arithmetic() -> None:
    rules = StageRules(at_risk_factor=Decimal("1.1"), at_risk_floor_days=1)
    folder = _run(_weekly(0, 50))
    assert rules.overdue_after(folder.profile) == 55  # not 56 from 1.1 * 50 in binary floats


def test_an_order_time_without_an_offset_is_read_as_utc() -> None:
    naive = Order.model_validate(
        {
            "order_id": "o-1",
            "customer_id": "c",
            "status": "scheduled",
            "updated_at": "2026-01-05T10:00:00",
        }
    )
    assert naive.updated_at == _at(0)
    folder = Folder()
    folder.order(0, "o-0", "delivered", "10")
    after = contribution(naive, None, LOYALTY)
    # folds beside an order whose time has an offset (no naive/aware comparison error)
    assert apply_order(folder.profile, None, after, LOYALTY, RULES).profile.placed == 2


def test_spend_without_a_currency_is_kept_under_no_currency() -> None:
    image = Order(
        order_id="o-1",
        customer_id="c",
        status=OrderStatus.DELIVERED,
        updated_at=_at(0),
        total=Decimal("12"),
    )
    part = contribution(image, None, LOYALTY)
    assert (part.currency, part.spend, part.points) == ("XXX", Decimal(12), 12)
