"""The feedback stage's settings, one set per function: each reads only what it uses."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.platform.settings import Env


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
class FollowUpSettings:
    """What a rating leads to: complaint alerts, and the referral ask."""

    complaints_topic_arn: str
    referral_url: str | None  # where a friend books; the referrer's id goes in `ref`
    referral_quiet_days: int  # no second referral ask within this many days

    @classmethod
    def from_env(cls, env: Env) -> FollowUpSettings:
        return cls(
            complaints_topic_arn=env.required("COMPLAINTS_TOPIC_ARN"),
            referral_url=env.optional_https("REFERRAL_URL"),
            referral_quiet_days=env.integer("REFERRAL_QUIET_DAYS", 90),
        )
