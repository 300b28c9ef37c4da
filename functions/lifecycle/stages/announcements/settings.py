"""The announcement stage's settings: where campaigns, their queues and schedules live, and the
share of the account's SES sending rate campaigns may use."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.platform.settings import Env, SettingsError


def _rate(env: Env, name: str) -> float | None:
    raw = env.optional(name)
    if raw is None or raw == "0":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of sends per second, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive (or 0: from SES's quota), got {raw!r}")
    return value


def _share(env: Env, name: str, default: float) -> float:
    raw = env.optional(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a share such as 0.5, got {raw!r}") from None
    if not 0 < value <= 1:
        raise SettingsError(f"{name} must be above 0 and at most 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class CampaignSettings:
    table: str  # the Campaigns table
    profiles_table: str  # stage and orders, for audiences that ask for them
    send_queue_url: str  # pages of recipients, for the senders
    plan_queue_url: str  # the planner's own steps
    holdout_key: bytes  # keys the variant and holdout draws (HoldoutKey)
    # The share of the account's SES rate campaigns use (the rest is left for transactional
    # and service mail), or a fixed rate per second instead of the quota's share.
    rate_share: float
    send_rate: float | None
    planner_segments: int  # parallel planner segments (the Customers table read in parts)
    # Where the planner puts the schedule of each later instant (local-time sending): the
    # group, itself as target, the role Scheduler invokes it with, and the failure queue.
    schedule_group: str | None = None
    planner_arn: str | None = None
    scheduler_role_arn: str | None = None
    schedule_dlq_arn: str | None = None

    @classmethod
    def from_env(cls, env: Env) -> CampaignSettings:
        return cls(
            table=env.required("CAMPAIGNS_TABLE"),
            profiles_table=env.required("PROFILES_TABLE"),
            send_queue_url=env.required("CAMPAIGN_SEND_QUEUE_URL"),
            plan_queue_url=env.required("CAMPAIGN_PLAN_QUEUE_URL"),
            holdout_key=env.required("HOLDOUT_KEY").encode(),
            rate_share=_share(env, "CAMPAIGN_RATE_SHARE", 0.5),
            send_rate=_rate(env, "CAMPAIGN_SEND_RATE"),
            planner_segments=env.integer("CAMPAIGN_PLANNER_SEGMENTS", 4),
            schedule_group=env.optional("CAMPAIGN_SCHEDULE_GROUP"),
            planner_arn=env.optional("CAMPAIGN_PLANNER_ARN"),
            scheduler_role_arn=env.optional("CAMPAIGN_SCHEDULER_ROLE_ARN"),
            schedule_dlq_arn=env.optional("CAMPAIGN_SCHEDULE_DLQ_ARN"),
        )
