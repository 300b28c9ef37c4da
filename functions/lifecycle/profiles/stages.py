"""Lifecycle stages: where a customer stands, derived from their profile on a given day. Pure.

    prospect   no order yet (every order cancelled counts as none)
    new        one order
    active     two or more orders, ordering about as usual
    loyal      a heavy user: at least `loyal_orders` orders in `loyal_window_days`, or a
               loyal tier (gold by default)
    at_risk    overdue against their own usual interval: no order for `at_risk_factor` times
               their median gap between orders (at least `at_risk_floor_days`; the floor alone
               for a customer with one order)
    dormant    no order for `dormant_days`
    won_back   ordered again within `winback_window_days` of a win-back message, while at
               risk or dormant; until their next order (then active or loyal) or until they
               are overdue again

The first that holds, from dormant down, is the stage. Days are the business's calendar days
(`timezone`), counted from the customer's last order activity (its placement, or its delivery
when later); a customer with an order under way is never at risk or dormant.

Time alone moves a customer (active to at_risk to dormant, loyal to active as old orders leave
the window), so each profile carries the next day its stage can change (`next_change`), and
`advance` applies every change due up to a day, each on its own day, so a day the daily job
missed is caught up with the right dates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from lifecycle.profiles.model import (
    Contribution,
    Exposed,
    Folded,
    LoyaltyRules,
    Profile,
    fold,
    median_gap,
)


class Stage(StrEnum):
    PROSPECT = "prospect"
    NEW = "new"
    ACTIVE = "active"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    DORMANT = "dormant"
    WON_BACK = "won_back"


# The stages a win-back message is sent in, and so the ones an order wins a customer back from.
LAPSED = frozenset({Stage.AT_RISK, Stage.DORMANT})


@dataclass(frozen=True)
class StageRules:
    timezone: str = "UTC"  # whose calendar days count
    at_risk_factor: Decimal = Decimal("1.5")
    at_risk_floor_days: int = 21
    dormant_days: int = 60
    loyal_orders: int = 5
    loyal_window_days: int = 90
    loyal_tiers: frozenset[str] = frozenset({"gold"})
    # The attribution window: an order this soon after a retention message (or a holdout's
    # exposure) is attributed to it, and after a win-back message, while lapsed, wins back.
    winback_window_days: int = 14
    # What else the daily run must see a customer for, though their stage does not change
    # (the retention stage's programmes; empty: none). Days after lapsing (the win-back
    # sequence's steps); the tiers a tier-up message announces, lowest first; the orders in
    # `appreciation_window_days` that earn the heavy-user reward once a quarter (0: off).
    wake_after_lapse: tuple[int, ...] = ()
    reward_tiers: tuple[str, ...] = ()
    appreciation_orders: int = 0
    appreciation_window_days: int = 90

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()

    def start_of(self, day: date) -> datetime:
        """The first moment of `day` in the business's time zone."""
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(self.timezone))

    def usual_gap(self, profile: Profile) -> Decimal | None:
        """The median of the calendar days between the customer's recent orders."""
        return median_gap([self.day_of(placed) for placed in profile.order_times()])

    def overdue_after(self, profile: Profile) -> int:
        """Days without an order after which the customer is at risk."""
        gap = self.usual_gap(profile)
        if gap is None:
            return self.at_risk_floor_days
        overdue = int((self.at_risk_factor * gap).to_integral_value(rounding=ROUND_CEILING))
        return max(overdue, self.at_risk_floor_days)


@dataclass(frozen=True)
class Change:
    """A stage change: when, from what, to what, and why."""

    at: datetime
    old: str
    new: str
    cause: str


def stage_on(profile: Profile, day: date, rules: StageRules) -> tuple[Stage, str]:
    """The customer's stage on `day`, and why."""
    last, active = profile.last_order_at, profile.last_activity()
    if profile.live_orders <= 0 or last is None or active is None:
        return Stage.PROSPECT, "no order yet"
    idle = (day - rules.day_of(active)).days
    if profile.open_orders <= 0 and idle >= rules.dormant_days:
        return Stage.DORMANT, f"no order for {idle} days (dormant after {rules.dormant_days})"
    overdue = rules.overdue_after(profile)
    if profile.open_orders <= 0 and idle >= overdue:
        gap = rules.usual_gap(profile)
        usual = f"usually every {gap} days" if gap is not None else "one order so far"
        return Stage.AT_RISK, f"no order for {idle} days ({usual}; at risk after {overdue})"
    if profile.won_back_at is not None and profile.won_back_at == last:
        return Stage.WON_BACK, "ordered again after a win-back message"
    window_start = day - timedelta(days=rules.loyal_window_days)
    lately = sum(1 for placed in profile.order_times() if rules.day_of(placed) > window_start)
    if lately >= rules.loyal_orders:
        return Stage.LOYAL, f"{lately} orders in {rules.loyal_window_days} days"
    if profile.tier is not None and profile.tier in rules.loyal_tiers:
        return Stage.LOYAL, f"tier {profile.tier}"
    if profile.live_orders == 1:
        return Stage.NEW, "one order"
    return Stage.ACTIVE, f"{profile.live_orders} orders"


def next_change(profile: Profile, day: date, rules: StageRules) -> date | None:
    """The first day after `day` on which time alone gives the customer another stage than
    the one they have; None when only an order can change it (prospects, the dormant)."""
    active = profile.last_activity()
    if active is None:
        return None
    last_day = rules.day_of(active)
    candidates: set[date] = set()
    if profile.open_orders <= 0:  # an order under way: only its delivery moves them on
        candidates |= {
            last_day + timedelta(days=rules.overdue_after(profile)),
            last_day + timedelta(days=rules.dormant_days),
        }
    # An order leaves the heavy-user window the day after it is `loyal_window_days` old.
    candidates |= {
        rules.day_of(placed) + timedelta(days=rules.loyal_window_days)
        for placed in profile.order_times()
    }
    for candidate in sorted(c for c in candidates if c > day):
        if stage_on(profile, candidate, rules)[0] != profile.stage:
            return candidate
    return None


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _next_quarter(day: date) -> date:
    month = ((day.month - 1) // 3 + 1) * 3 + 1
    return date(day.year + 1, 1, 1) if month > 12 else date(day.year, month, 1)


def orders_within(profile: Profile, day: date, days: int, rules: StageRules) -> int:
    """The customer's live orders placed in the `days` days up to and including `day`."""
    start = day - timedelta(days=days)
    return sum(1 for placed in profile.order_times() if start < rules.day_of(placed) <= day)


def tier_up_due(profile: Profile, rules: StageRules) -> bool:
    """The customer holds a tier a tier-up message announces, and has not heard of it."""
    return profile.tier in rules.reward_tiers and profile.tier not in profile.tiers_rewarded


def appreciation_due(profile: Profile, day: date, rules: StageRules) -> bool:
    """A heavy user on `day` who has had no appreciation reward this quarter (and is not
    lapsed: a customer overdue gets the win-back sequence, not thanks for their custom)."""
    if rules.appreciation_orders <= 0 or profile.appreciated == quarter_of(day):
        return False
    if profile.stage in LAPSED:
        return False
    lately = orders_within(profile, day, rules.appreciation_window_days, rules)
    return lately >= rules.appreciation_orders


def winback_owed(profile: Profile, day: date, rules: StageRules) -> tuple[str, int] | None:
    """The win-back step the customer is owed on `day` and not yet handled, as (sequence,
    step): the latest step whose day has come since they lapsed (a missed morning sends that
    step late, never an earlier one after a later one); None unless lapsed now."""
    if not rules.wake_after_lapse or profile.stage not in LAPSED or profile.lapsed_since is None:
        return None
    began = rules.day_of(profile.lapsed_since)
    reached = [n for n, offset in enumerate(rules.wake_after_lapse) if offset <= (day - began).days]
    if not reached:
        return None
    sequence = began.isoformat()
    key = winback_key(profile.customer_id, sequence, reached[-1])
    return None if profile.winback_done == key else (sequence, reached[-1])


def first_marks(profile: Profile, rules: StageRules) -> Profile:
    """The retention marks of a profile written before the retention stage was deployed: its
    tiers count as announced, and the win-back step it has already reached as handled, so the
    first morning after the deployment sends nothing months late (a tier-up for a tier reached
    in spring, a last chance for an offer never sent). What comes next goes as usual."""
    tiers = frozenset(profile.tiers_rewarded)
    if profile.tier in rules.reward_tiers:
        tiers |= set(rules.reward_tiers[: rules.reward_tiers.index(profile.tier) + 1])
    done = profile.winback_done
    if profile.as_of is not None:
        owed = winback_owed(profile, profile.as_of, rules)
        if owed is not None:
            done = winback_key(profile.customer_id, *owed)
    return replace(profile, tiers_rewarded=tiers, winback_done=done)


def winback_key(customer_id: str, sequence: str, step: int) -> str:
    """The ledger key of one step of one lapse's win-back sequence: it goes at most once."""
    return f"winback#{customer_id}#{sequence}#{step}"


def next_due(profile: Profile, day: date, rules: StageRules) -> date | None:
    """The first day the daily run must see the customer: `day` itself while a reward waits
    for them (a tier-up, the quarter's appreciation), else the first day after it with their
    next stage change, a win-back step's day while they stay lapsed, or the next quarter's
    first day for a heavy user who will still be one; None when none comes."""
    if tier_up_due(profile, rules) or appreciation_due(profile, day, rules):
        return day
    if winback_owed(profile, day, rules) is not None:
        # Until the retention stage marks the step handled: a write on the step's day (the
        # daily run moving the stage, an order image) must not move the profile past it.
        return day
    due = [d for d in (next_change(profile, day, rules),) if d is not None]
    quarter = _next_quarter(day)
    if rules.appreciation_orders > 0 and appreciation_due(profile, quarter, rules):
        due.append(quarter)
    if profile.stage in LAPSED and profile.lapsed_since is not None:
        lapsed = rules.day_of(profile.lapsed_since)
        due += [
            lapsed + timedelta(days=offset)
            for offset in rules.wake_after_lapse
            if lapsed + timedelta(days=offset) > day
        ]
    return min(due, default=None)


def _moved(profile: Profile, stage: Stage, at: datetime, cause: str) -> tuple[Profile, Change]:
    change = Change(at=at, old=profile.stage, new=str(stage), cause=cause)
    # When the customer lapsed (first became at risk, or dormant) and has been since: the
    # win-back sequence counts its steps from there.
    lapsed = profile.lapsed_since if profile.stage in LAPSED else None
    if stage in LAPSED and lapsed is None:
        lapsed = at
    return replace(profile, stage=str(stage), stage_since=at, lapsed_since=lapsed), change


def advance(profile: Profile, until: date, rules: StageRules) -> tuple[Profile, list[Change]]:
    """Apply every change time makes up to and including `until`, each on its own day."""
    changes: list[Change] = []
    as_of = profile.as_of
    if as_of is not None and as_of >= until:
        return profile, changes
    day = next_change(profile, as_of, rules) if as_of is not None else None
    while day is not None and day <= until:
        stage, cause = stage_on(profile, day, rules)
        profile, change = _moved(profile, stage, rules.start_of(day), cause)
        changes.append(change)
        day = next_change(profile, day, rules)
    return replace(profile, as_of=until), changes


def _cause(before: Contribution | None, after: Contribution, won_back: str | None) -> str:
    if won_back is not None:
        return f"order {after.order_id} after win-back message {won_back}"
    if before is None:
        return f"order {after.order_id} placed"
    return f"order {after.order_id} {after.status}"


def apply_order(
    profile: Profile,
    before: Contribution | None,
    after: Contribution,
    loyalty: LoyaltyRules,
    rules: StageRules,
) -> Folded:
    """Fold one order image into the profile: the changes time made up to the image's day
    first, then the order's own effect on the stage."""
    day = rules.day_of(after.updated_at)
    if profile.as_of is not None and profile.as_of > day:
        day = profile.as_of  # an image older than what time has already moved on
    profile, changes = advance(profile, day, rules)
    won_back = None
    attributed: tuple[str, ...] = after.attributed
    if before is None and after.live:
        profile, attributed = _attribute(profile, after.placed_at, rules)
    if before is None and after.live and profile.winback_at is not None:
        # Any new order ends the win-back: it either wins the customer back (soon after the
        # message, while they were lapsed) or shows they were not lost.
        window = timedelta(days=rules.winback_window_days)
        if profile.stage in LAPSED and profile.winback_at < after.placed_at <= (
            profile.winback_at + window
        ):
            won_back = profile.winback_key or "win-back"
            profile = replace(profile, won_back_at=after.placed_at)
        profile = replace(profile, winback_at=None)
    profile = fold(profile, before, after, loyalty)
    stage, _ = stage_on(profile, day, rules)
    if stage != profile.stage:
        # Never dated before the change already recorded (a late image), so the history's
        # chain of old and new stages reads in order.
        at = max(after.updated_at, profile.stage_since or after.updated_at)
        profile, change = _moved(profile, stage, at, _cause(before, after, won_back))
        changes.append(change)
    return Folded(
        replace(profile, as_of=day), replace(after, attributed=attributed), tuple(changes)
    )


def _attribute(
    profile: Profile, placed: datetime, rules: StageRules
) -> tuple[Profile, tuple[str, ...]]:
    """A new order is attributed to each programme's latest exposure it comes within the
    attribution window of (once: the exposure is then closed); exposures older than the window
    are dropped."""
    window = timedelta(days=rules.winback_window_days)
    attributed: list[str] = []
    still: dict[str, Exposed] = {}
    for family, exposed in profile.exposures.items():
        if exposed.at < placed <= exposed.at + window:
            attributed.append(exposed.sk)
        elif placed <= exposed.at:
            still[family] = exposed  # an image older than the exposure: it stays open
    return replace(profile, exposures=still), tuple(attributed)


def winback_sent(profile: Profile, at: datetime, key: str) -> Profile:
    """Record a win-back message (the retention stage): an order after it wins them back."""
    return replace(profile, winback_at=at, winback_key=key)
