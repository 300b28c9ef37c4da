"""The feedback stage's settings, one set per function: each reads only what it uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lifecycle.platform.settings import Env, SettingsError
from lifecycle.stages.feedback.cases import BusinessHours, escalate_at


@dataclass(frozen=True)
class RequestSettings:
    """The feedback request: where its rating links point and how often to ask."""

    ratings_url: str  # the rating endpoint (Function URL) the request's links open
    rating_link_valid_days: int
    quiet_days: int  # no second feedback request to a customer within this many days

    @classmethod
    def from_env(cls, env: Env) -> RequestSettings:
        return cls(
            ratings_url=env.https("RATINGS_URL"),
            rating_link_valid_days=env.integer("RATING_LINK_VALID_DAYS", 30),
            quiet_days=env.integer("FEEDBACK_QUIET_DAYS", 14),
        )


@dataclass(frozen=True)
class DeskSettings:
    """The rating endpoint: where ratings are kept (links are checked with the link key)."""

    ratings_table: str

    @classmethod
    def from_env(cls, env: Env) -> DeskSettings:
        env.required("LINK_SIGNING_SECRET")
        return cls(ratings_table=env.required("RATINGS_TABLE"))


@dataclass(frozen=True)
class CaseSettings:
    """Complaint cases: where they are kept, the staff links' endpoint, and when an
    unacknowledged case escalates (business hours on the stack's DEFAULT_TIMEZONE)."""

    table: str
    url: str  # the case page (Function URL) the alert's staff links open
    link_valid_days: int
    business_hours: BusinessHours
    escalate_after: timedelta  # of business time without an acknowledgement

    @classmethod
    def from_env(cls, env: Env) -> CaseSettings:
        env.required("LINK_SIGNING_SECRET")  # the staff links are signed
        text = env.optional("BUSINESS_HOURS") or "Mon-Fri 09:00-17:00"
        try:
            hours = BusinessHours.parse(text)
        except ValueError as error:
            raise SettingsError(f"BUSINESS_HOURS: {error}") from None
        return cls(
            table=env.required("CASES_TABLE"),
            url=env.https("CASES_URL"),
            link_valid_days=env.integer("CASE_LINK_VALID_DAYS", 30),
            business_hours=hours,
            escalate_after=_escalate_after(env, hours),
        )


# The template's MaxValue for EscalateAfterBusinessHours: a week of hours.
MAX_ESCALATE_AFTER_HOURS = 168


def _escalate_after(env: Env, hours: BusinessHours) -> timedelta:
    """Refused here, at cold start, rather than by every complaint alert that would fail to
    open its case: out of range, or more business time than the hours give in years."""
    value = env.integer("ESCALATE_AFTER_BUSINESS_HOURS", 4)
    if not 1 <= value <= MAX_ESCALATE_AFTER_HOURS:
        raise SettingsError(
            f"ESCALATE_AFTER_BUSINESS_HOURS: {value} is not from 1 to {MAX_ESCALATE_AFTER_HOURS}"
        )
    within = timedelta(hours=value)
    try:
        escalate_at(datetime(2026, 1, 5, tzinfo=UTC), within, hours, "UTC")
    except ValueError:
        raise SettingsError(
            f"ESCALATE_AFTER_BUSINESS_HOURS: {value} business hours of "
            f"{hours.opens:%H:%M}-{hours.closes:%H:%M} on {len(hours.days)} day(s) a week "
            "never come to an end"
        ) from None
    return within


@dataclass(frozen=True)
class FollowUpSettings:
    """What a rating leads to: complaint alerts (each opening a case), and the referral ask."""

    complaints_topic_arn: str
    referral_url: str | None  # where a friend books; the referrer's id goes in `ref`
    referral_quiet_days: int  # no second referral ask within this many days
    cases: CaseSettings

    @classmethod
    def from_env(cls, env: Env) -> FollowUpSettings:
        return cls(
            complaints_topic_arn=env.required("COMPLAINTS_TOPIC_ARN"),
            referral_url=env.optional_https("REFERRAL_URL"),
            referral_quiet_days=env.integer("REFERRAL_QUIET_DAYS", 90),
            cases=CaseSettings.from_env(env),
        )


@dataclass(frozen=True)
class EscalationSettings:
    """The escalation sweep: the cases, and the topic escalations go to."""

    complaints_topic_arn: str
    cases: CaseSettings

    @classmethod
    def from_env(cls, env: Env) -> EscalationSettings:
        return cls(
            complaints_topic_arn=env.required("COMPLAINTS_TOPIC_ARN"),
            cases=CaseSettings.from_env(env),
        )


@dataclass(frozen=True)
class CaseDeskSettings:
    """The case page: where cases are kept (links are checked with the link key)."""

    cases_table: str

    @classmethod
    def from_env(cls, env: Env) -> CaseDeskSettings:
        env.required("LINK_SIGNING_SECRET")
        return cls(cases_table=env.required("CASES_TABLE"))
