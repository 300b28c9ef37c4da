"""The profiles' settings: their table, the loyalty rule and tiers, the stage thresholds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from lifecycle.platform.settings import Env, SettingsError
from lifecycle.profiles.model import RECENT_ORDERS, LoyaltyRules
from lifecycle.profiles.stages import StageRules


def _rate(name: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SettingsError(f"{name}: {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise SettingsError(f"{name}: {raw!r} must be zero or more")
    return value


def loyalty_rules(env: Env) -> LoyaltyRules:
    """`LOYALTY_POINTS_PER_UNIT`: `1` (a point per currency unit), or `1,JPY=0.01,TWD=0.03`
    (a default, then per-currency rates). `LOYALTY_TIERS`: `bronze:0,silver:250,gold:750`
    (name:points, thresholds rising), or `off`."""
    name = "LOYALTY_POINTS_PER_UNIT"
    default = Decimal(1)
    per_currency: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in (env.optional(name) or "1").split(","))):
        currency, equals, rate = part.partition("=")
        if not equals:
            default = _rate(name, part)
        elif len(currency.strip()) == 3 and currency.strip().isalpha():
            per_currency[currency.strip().upper()] = _rate(name, rate.strip())
        else:
            raise SettingsError(f"{name}: {currency!r} is not a three-letter currency code")
    tiers_name = "LOYALTY_TIERS"
    raw_tiers = env.optional(tiers_name) or "bronze:0,silver:250,gold:750"
    tiers: list[tuple[str, int]] = []
    if raw_tiers.lower() != "off":
        for part in (p.strip() for p in raw_tiers.split(",")):
            tier, colon, points = part.partition(":")
            if not colon or not tier.strip() or not points.strip().isdigit():
                raise SettingsError(
                    f"{tiers_name}: {part!r} is not name:points (e.g. bronze:0,silver:250)"
                )
            tiers.append((tier.strip(), int(points)))
        thresholds = [points for _, points in tiers]
        if thresholds != sorted(set(thresholds)):
            raise SettingsError(f"{tiers_name}: thresholds must rise, got {raw_tiers!r}")
    return LoyaltyRules(points_per_unit=default, per_currency=per_currency, tiers=tuple(tiers))


def stage_rules(env: Env, timezone: str) -> StageRules:
    factor_name = "STAGE_AT_RISK_FACTOR"
    raw_factor = env.optional(factor_name) or "1.5"
    try:
        factor = Decimal(raw_factor)
    except InvalidOperation:
        raise SettingsError(
            f"{factor_name} must be a number such as 1.5, got {raw_factor!r}"
        ) from None
    if not factor.is_finite() or not 1 <= factor <= 10:
        raise SettingsError(f"{factor_name} must be between 1 and 10, got {raw_factor!r}")
    tiers = env.optional("STAGE_LOYAL_TIERS")
    if tiers is not None and tiers.lower() == "none":
        tiers = ""
    rules = StageRules(
        timezone=timezone,
        at_risk_factor=factor,
        at_risk_floor_days=env.integer("STAGE_AT_RISK_FLOOR_DAYS", 21),
        dormant_days=env.integer("STAGE_DORMANT_DAYS", 60),
        loyal_orders=env.integer("STAGE_LOYAL_ORDERS", 5),
        loyal_window_days=env.integer("STAGE_LOYAL_WINDOW_DAYS", 90),
        winback_window_days=env.integer("STAGE_WINBACK_WINDOW_DAYS", 14),
        loyal_tiers=frozenset(
            t.strip() for t in (tiers if tiers is not None else "gold").split(",") if t.strip()
        ),
    )
    if rules.loyal_orders > RECENT_ORDERS:
        raise SettingsError(
            f"STAGE_LOYAL_ORDERS must be at most {RECENT_ORDERS} (the orders a profile keeps)"
        )
    if rules.dormant_days <= rules.at_risk_floor_days:
        raise SettingsError("STAGE_DORMANT_DAYS must be more than STAGE_AT_RISK_FLOOR_DAYS")
    return rules


def winback_steps(env: Env) -> tuple[int, ...]:
    """`WINBACK_STEP_DAYS`: the days after lapsing on which the win-back sequence's reminder,
    offer and last chance go (`0,14,30`), or `off`."""
    name = "WINBACK_STEP_DAYS"
    raw = env.optional(name) or "0,14,30"
    if raw.lower() == "off":
        return ()
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise SettingsError(
            f"{name} must be three whole days (reminder, offer, last chance), e.g. 0,14,30, "
            f"or off; got {raw!r}"
        )
    days = tuple(int(part) for part in parts)
    if list(days) != sorted(set(days)):
        raise SettingsError(f"{name}: the days must rise, got {raw!r}")
    return days


def _retention_wakes(env: Env, rules: StageRules, loyalty: LoyaltyRules) -> StageRules:
    """The retention programmes' wake-ups, which every function writing a profile must agree
    on (they decide the profile's day in the due index)."""
    steps = winback_steps(env)
    tier_up = (env.optional("LOYALTY_TIER_UP") or "on").lower()
    if tier_up not in ("on", "off"):
        raise SettingsError(f"LOYALTY_TIER_UP must be on or off, got {tier_up!r}")
    # Every tier above the first (the one every customer starts in) is announced.
    reward_tiers = tuple(name for name, points in loyalty.tiers if points > 0)
    appreciation = env.integer("APPRECIATION_MIN_ORDERS", 6, least=0)
    window = env.integer("APPRECIATION_WINDOW_DAYS", 90)
    if appreciation > RECENT_ORDERS:
        raise SettingsError(
            f"APPRECIATION_MIN_ORDERS must be at most {RECENT_ORDERS} (the orders a profile keeps)"
        )
    return replace(
        rules,
        wake_after_lapse=steps,
        reward_tiers=reward_tiers if tier_up == "on" else (),
        appreciation_orders=appreciation,
        appreciation_window_days=window,
    )


@dataclass(frozen=True)
class ProfileSettings:
    table: str
    loyalty: LoyaltyRules
    stages: StageRules

    @classmethod
    def from_env(cls, env: Env) -> ProfileSettings:
        loyalty = loyalty_rules(env)
        stages = stage_rules(env, env.optional("DEFAULT_TIMEZONE") or "UTC")
        unknown = stages.loyal_tiers - {name for name, _ in loyalty.tiers}
        if unknown:
            raise SettingsError(
                f"STAGE_LOYAL_TIERS names {', '.join(sorted(unknown))}, not among LOYALTY_TIERS"
            )
        stages = _retention_wakes(env, stages, loyalty)
        return cls(table=env.required("PROFILES_TABLE"), loyalty=loyalty, stages=stages)
