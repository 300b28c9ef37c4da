"""The retention stage's settings: the offers, the holdout, and the profiles' rules it reads
(the win-back steps, the tiers announced and the heavy-user threshold live there, because
every function writing a profile must agree on the day the daily run next sees it)."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.platform.settings import Env, SettingsError
from lifecycle.profiles.settings import ProfileSettings


def _share(env: Env, name: str, default: str) -> float:
    raw = env.optional(name) or default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a share such as 0.1, got {raw!r}") from None
    if not 0 <= value < 1:
        raise SettingsError(f"{name} must be at least 0 and below 1, got {raw!r}")
    return value


def _percent(env: Env, name: str, default: int) -> int:
    value = env.integer(name, default)
    if value >= 100:
        raise SettingsError(f"{name} must be below 100, got {value}")
    return value


@dataclass(frozen=True)
class RetentionSettings:
    profiles: ProfileSettings
    holdout_share: float  # of each programme's eligible customers, who get nothing from it
    holdout_key: bytes  # keys the holdout's hash: stable, and different per deployment
    offer_percent: int  # the win-back offer's discount
    appreciation_percent: int  # the heavy-user reward's discount
    code_valid_days: int  # a promo code's life from its issue
    book_url: str  # where the messages send a customer to book a pickup

    @classmethod
    def from_env(cls, env: Env) -> RetentionSettings:
        profiles = ProfileSettings.from_env(env)
        steps = profiles.stages.wake_after_lapse
        valid = env.integer("PROMO_CODE_VALID_DAYS", 30)
        if steps and valid <= steps[2] - steps[1]:
            raise SettingsError(
                f"PROMO_CODE_VALID_DAYS ({valid}) must outlast the days from the win-back offer "
                f"to its last chance ({steps[2] - steps[1]}): the last chance repeats the code"
            )
        book = env.optional("BOOK_URL") or env.required("BUSINESS_WEBSITE")
        if not book.startswith("https://"):
            raise SettingsError(f"BOOK_URL must be an https:// URL, got {book!r}")
        return cls(
            profiles=profiles,
            holdout_share=_share(env, "HOLDOUT_SHARE", "0.1"),
            holdout_key=env.required("HOLDOUT_KEY").encode(),
            offer_percent=_percent(env, "WINBACK_OFFER_PERCENT", 20),
            appreciation_percent=_percent(env, "APPRECIATION_PERCENT", 15),
            code_valid_days=valid,
            book_url=book,
        )
