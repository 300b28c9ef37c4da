"""Typed settings: the only module that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# In a source checkout the templates sit at the repository root; in Lambda the template layer
# puts them under /opt and the stack sets TEMPLATES_DIR.
_CHECKOUT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Business:
    """Who the messages come from; rendered into every footer."""

    name: str
    postal_address: str
    sender_email: str
    website: str


@dataclass(frozen=True)
class ScheduleSettings:
    """Delayed messages: where their one-time schedules live and what they invoke."""

    group: str | None
    role_arn: str | None
    dead_letter_arn: str | None
    reminder_function_arn: str | None
    feedback_function_arn: str | None
    reminder_lead_minutes: int
    feedback_delay_hours: int
    send_in_process: bool


@dataclass(frozen=True)
class FeedbackSettings:
    """The feedback stage: rating links, how often to ask, and where complaints go."""

    ratings_table: str | None
    ratings_url: str | None  # the rating endpoint (Function URL) the request's links open
    rating_link_valid_days: int
    quiet_days: int  # no second feedback request to a customer within this many days
    referral_quiet_days: int  # no second referral ask within this many days
    referral_url: str | None  # where a friend books; the referrer's id goes in `ref`
    complaints_topic_arn: str | None


@dataclass(frozen=True)
class Settings:
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
    link_signing_secret: str | None
    preferences_url: str | None
    link_valid_days: int
    schedules: ScheduleSettings
    feedback: FeedbackSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"environment variable {name} is required")
            return value

        def integer(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
            if value <= 0:
                raise SettingsError(f"{name} must be positive, got {value}")
            return value

        def https(name: str) -> str:
            value = required(name)
            if not value.startswith("https://"):
                raise SettingsError(f"{name} must be an https:// URL, got {value!r}")
            return value

        def optional_https(name: str) -> str | None:
            return https(name) if env.get(name, "").strip() else None

        def optional(name: str) -> str | None:
            return env.get(name, "").strip() or None

        timezone = env.get("DEFAULT_TIMEZONE", "").strip() or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"DEFAULT_TIMEZONE {timezone!r} is not an IANA time zone") from exc

        templates_dir = Path(env.get("TEMPLATES_DIR", "").strip() or _CHECKOUT_TEMPLATES)
        if not templates_dir.is_dir():
            raise SettingsError(f"TEMPLATES_DIR {str(templates_dir)!r} is not a directory")

        return cls(
            customers_table=required("CUSTOMERS_TABLE"),
            orders_table=required("ORDERS_TABLE"),
            ledger_table=required("LEDGER_TABLE"),
            suppressions_table=required("SUPPRESSIONS_TABLE"),
            preferences_table=required("PREFERENCES_TABLE"),
            business=Business(
                name=required("BUSINESS_NAME"),
                postal_address=required("BUSINESS_POSTAL_ADDRESS"),
                sender_email=required("SENDER_EMAIL"),
                website=https("BUSINESS_WEBSITE"),
            ),
            default_locale=env.get("DEFAULT_LOCALE", "").strip() or "en",
            default_timezone=timezone,
            templates_dir=templates_dir,
            ses_configuration_set=env.get("SES_CONFIGURATION_SET", "").strip() or None,
            sms_sender_id=env.get("SMS_SENDER_ID", "").strip() or None,
            claim_lease_seconds=integer("CLAIM_LEASE_SECONDS", 90),
            ledger_retention_days=integer("LEDGER_RETENTION_DAYS", 400),
            link_signing_secret=env.get("LINK_SIGNING_SECRET", "").strip() or None,
            preferences_url=optional_https("PREFERENCES_URL"),
            link_valid_days=integer("LINK_VALID_DAYS", 365),
            schedules=ScheduleSettings(
                group=env.get("SCHEDULE_GROUP", "").strip() or None,
                role_arn=env.get("SCHEDULER_ROLE_ARN", "").strip() or None,
                dead_letter_arn=env.get("SCHEDULE_DLQ_ARN", "").strip() or None,
                reminder_function_arn=env.get("REMINDER_FUNCTION_ARN", "").strip() or None,
                feedback_function_arn=env.get("FEEDBACK_FUNCTION_ARN", "").strip() or None,
                reminder_lead_minutes=integer("REMINDER_LEAD_MINUTES", 120),
                feedback_delay_hours=integer("FEEDBACK_DELAY_HOURS", 24),
                send_in_process=env.get("SEND_IN_PROCESS", "").strip().lower() == "true",
            ),
            feedback=FeedbackSettings(
                ratings_table=optional("RATINGS_TABLE"),
                ratings_url=optional_https("RATINGS_URL"),
                rating_link_valid_days=integer("RATING_LINK_VALID_DAYS", 30),
                quiet_days=integer("FEEDBACK_QUIET_DAYS", 14),
                referral_quiet_days=integer("REFERRAL_QUIET_DAYS", 90),
                referral_url=optional_https("REFERRAL_URL"),
                complaints_topic_arn=optional("COMPLAINTS_TOPIC_ARN"),
            ),
        )
