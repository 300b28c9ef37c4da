"""Typed settings: the only module that reads the environment.

`CoreSettings` is what every function needs (its tables, the business, templates, sending
options); each stage reads its own settings with `Env` in its `settings` module, so a function
parses only what it uses and a missing or malformed value is named at cold start.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lifecycle.messaging.message import Business
from lifecycle.messaging.quiet import QuietHours

# In a source checkout the templates sit at the repository root; in Lambda the template layer
# puts them under /opt and the stack sets TEMPLATES_DIR.
_CHECKOUT_TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


class Env:
    """Reads and checks environment variables, naming the variable in every error."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def optional(self, name: str) -> str | None:
        return self._env.get(name, "").strip() or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise SettingsError(f"environment variable {name} is required")
        return value

    def integer(self, name: str, default: int, *, least: int = 1) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
        if value < least:
            wanted = "positive" if least == 1 else f"at least {least}"
            raise SettingsError(f"{name} must be {wanted}, got {value}")
        return value

    def https(self, name: str) -> str:
        value = self.required(name)
        if not value.startswith("https://"):
            raise SettingsError(f"{name} must be an https:// URL, got {value!r}")
        return value

    def optional_https(self, name: str) -> str | None:
        return self.https(name) if self.optional(name) else None

    def flag(self, name: str) -> bool:
        return (self.optional(name) or "").lower() == "true"


@dataclass(frozen=True)
class LinkSettings:
    """The signed links (unsubscribe, preferences, ratings): the key's secret and the
    preference centre's URL. Functions that send topic email cannot start without them."""

    signing_secret: str | None
    preferences_url: str | None
    valid_days: int

    def missing(self) -> list[str]:
        names = []
        if not self.signing_secret:
            names.append("LINK_SIGNING_SECRET")
        if not self.preferences_url:
            names.append("PREFERENCES_URL")
        return names


DEFAULT_QUIET_HOURS = QuietHours(time(21), time(8))


@dataclass(frozen=True)
class DeferralSettings:
    """Quiet hours, the marketing cap's deferrals, and where deferred messages wait: one-time
    schedules in `schedule_group`, invoking the deferred send function (`target_arn`) with
    `scheduler_role_arn`, parked in `dead_letter_arn` when they cannot."""

    quiet_hours: QuietHours | None = DEFAULT_QUIET_HOURS  # None: off
    # The longest a message may wait, counted from when it was first held back; past it, it is
    # skipped with its reason. 12 h: the default window (11 h, 12 h on the night the clocks go
    # back) always fits.
    quiet_max_delay: timedelta = timedelta(hours=12)
    cap_max_delay: timedelta = timedelta(hours=72)
    schedule_group: str | None = None
    scheduler_role_arn: str | None = None
    target_arn: str | None = None
    dead_letter_arn: str | None = None

    def missing(self) -> list[str]:
        """What a function that may defer messages needs and was not given."""
        names = {
            "DEFERRAL_SCHEDULE_GROUP": self.schedule_group,
            "DEFERRAL_SCHEDULER_ROLE_ARN": self.scheduler_role_arn,
            "DEFERRED_SEND_FUNCTION_ARN": self.target_arn,
        }
        return [name for name, value in names.items() if not value]

    @classmethod
    def from_env(cls, env: Env) -> DeferralSettings:
        return cls(
            quiet_hours=_quiet_hours(env),
            quiet_max_delay=timedelta(hours=env.integer("QUIET_HOURS_MAX_DELAY_HOURS", 12)),
            cap_max_delay=timedelta(hours=env.integer("MARKETING_CAP_MAX_DELAY_HOURS", 72)),
            schedule_group=env.optional("DEFERRAL_SCHEDULE_GROUP"),
            scheduler_role_arn=env.optional("DEFERRAL_SCHEDULER_ROLE_ARN"),
            target_arn=env.optional("DEFERRED_SEND_FUNCTION_ARN"),
            dead_letter_arn=env.optional("DEFERRAL_DLQ_ARN"),
        )


@dataclass(frozen=True)
class CoreSettings:
    customers_table: str
    orders_table: str
    ledger_table: str
    suppressions_table: str
    preferences_table: str
    business: Business
    default_locale: str
    default_timezone: str
    templates_dir: Path
    ses_configuration_set: str | None
    sms_sender_id: str | None
    claim_lease_seconds: int
    ledger_retention_days: int
    links: LinkSettings
    # The longest pause a stream batch takes before it reports a failed record (0: none).
    stream_retry_pause_seconds: int = 30
    # Marketing messages per customer and channel: (messages, days), or absent for no cap.
    marketing_caps: tuple[tuple[str, int, int], ...] = (("email", 2, 7), ("sms", 2, 7))
    deferrals: DeferralSettings = field(default_factory=DeferralSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CoreSettings:
        env = Env(environ)
        timezone = env.optional("DEFAULT_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"DEFAULT_TIMEZONE {timezone!r} is not an IANA time zone") from exc

        templates_dir = Path(env.optional("TEMPLATES_DIR") or _CHECKOUT_TEMPLATES)
        if not templates_dir.is_dir():
            raise SettingsError(f"TEMPLATES_DIR {str(templates_dir)!r} is not a directory")

        return cls(
            customers_table=env.required("CUSTOMERS_TABLE"),
            orders_table=env.required("ORDERS_TABLE"),
            ledger_table=env.required("LEDGER_TABLE"),
            suppressions_table=env.required("SUPPRESSIONS_TABLE"),
            preferences_table=env.required("PREFERENCES_TABLE"),
            business=Business(
                name=env.required("BUSINESS_NAME"),
                postal_address=env.required("BUSINESS_POSTAL_ADDRESS"),
                sender_email=env.required("SENDER_EMAIL"),
                website=env.https("BUSINESS_WEBSITE"),
            ),
            default_locale=env.optional("DEFAULT_LOCALE") or "en",
            default_timezone=timezone,
            templates_dir=templates_dir,
            ses_configuration_set=env.optional("SES_CONFIGURATION_SET"),
            sms_sender_id=env.optional("SMS_SENDER_ID"),
            claim_lease_seconds=env.integer("CLAIM_LEASE_SECONDS", 45),
            ledger_retention_days=env.integer("LEDGER_RETENTION_DAYS", 400),
            links=LinkSettings(
                signing_secret=env.optional("LINK_SIGNING_SECRET"),
                preferences_url=env.optional_https("PREFERENCES_URL"),
                valid_days=env.integer("LINK_VALID_DAYS", 365),
            ),
            stream_retry_pause_seconds=env.integer("STREAM_RETRY_PAUSE_SECONDS", 30, least=0),
            marketing_caps=tuple(
                (channel, *cap)
                for channel in ("email", "sms")
                if (cap := _marketing_cap(env, f"MARKETING_CAP_{channel.upper()}")) is not None
            ),
            deferrals=DeferralSettings.from_env(env),
        )


def _marketing_cap(env: Env, name: str) -> tuple[int, int] | None:
    """`2/7`: at most 2 marketing messages per customer in 7 days on the channel; `off`: none."""
    raw = (env.optional(name) or "2/7").strip().lower()
    if raw == "off":
        return None
    count, _, days = raw.partition("/")
    try:
        messages, period = int(count), int(days)
    except ValueError:
        raise SettingsError(
            f"{name} must be MESSAGES/DAYS such as 2/7, or off; got {raw!r}"
        ) from None
    if messages < 1 or period < 1:
        raise SettingsError(f"{name} must be MESSAGES/DAYS with both at least 1; got {raw!r}")
    return messages, period


_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _quiet_hours(env: Env) -> QuietHours | None:
    """`21:00-08:00` (local time on the recipient's clock, across midnight) or `off`."""
    name = "QUIET_HOURS"
    marketing_email = env.optional("QUIET_HOURS_MARKETING_EMAIL")
    if marketing_email is not None and marketing_email.lower() not in ("true", "false"):
        raise SettingsError(
            f"QUIET_HOURS_MARKETING_EMAIL must be true or false; got {marketing_email!r}"
        )
    raw = (env.optional(name) or "21:00-08:00").strip().lower()
    if raw == "off":
        return None
    start, _, end = (part.strip() for part in raw.partition("-"))
    clocks = [_CLOCK.match(part) for part in (start, end)]
    if not all(clocks):
        raise SettingsError(f"{name} must be HH:MM-HH:MM such as 21:00-08:00, or off; got {raw!r}")
    opening, closing = (time(int(m[1]), int(m[2])) for m in clocks if m is not None)
    if opening == closing:
        raise SettingsError(f"{name} must start and end at different times; got {raw!r}")
    return QuietHours(opening, closing, marketing_email=env.flag("QUIET_HOURS_MARKETING_EMAIL"))
