"""`lifecycle campaign ...`: schedule, pause, resume, cancel, watch and dry-run campaigns, against
a deployed stack (its outputs name the tables, queue, planner and schedule group) or the local
stack (the same names, in moto). CLI only: never deployed.

- schedule: stores the reviewed campaign and creates its start schedule (for local-time
  sending, far enough ahead of the first time zone to reach the hour for the planner to have
  planned everyone); a campaign id is scheduled once;
- pause / resume / cancel: move the campaign's state, which every sender reads before each
  page (so they take effect within one page); resume sends on the pages parked meanwhile,
  cancel deletes the campaign's schedules and counts what was waiting as cancelled;
- status: the planner's progress and the senders' tallies: sent, deferred, skipped by
  reason, failed, held out, remaining, and the rate so far;
- dry run: the audience as the planner and senders would find it now (by locale, channel,
  variant and skip reason), and each variant rendered in each locale; sends nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle.adapters.campaigns import DynamoCampaigns, Plan, Status, Tally
from lifecycle.stages.announcements import journey
from lifecycle.stages.announcements.campaign import Campaign, CampaignError
from lifecycle.stages.announcements.planner import Trigger, start_schedule_name, zone_of

# How long before the first time zone reaches a local-time campaign's hour planning starts.
PLANNING_LEAD = timedelta(minutes=30)


@dataclass(frozen=True)
class StackNames:
    """Where a stack keeps what the campaign commands use."""

    campaigns_table: str
    customers_table: str
    profiles_table: str
    ledger_table: str
    preferences_table: str
    suppressions_table: str
    send_queue_url: str
    planner_arn: str
    schedule_group: str
    scheduler_role_arn: str
    schedules_dlq_arn: str | None
    holdout_key: str
    default_locale: str = "en"
    default_timezone: str = "UTC"

    @classmethod
    def from_outputs(cls, outputs: dict[str, str], parameters: dict[str, str]) -> StackNames:
        try:
            return cls(
                campaigns_table=outputs["CampaignsTableName"],
                customers_table=outputs["CustomersTableName"],
                profiles_table=outputs["ProfilesTableName"],
                ledger_table=outputs["LedgerTableName"],
                preferences_table=outputs["PreferencesTableName"],
                suppressions_table=outputs["SuppressionsTableName"],
                send_queue_url=outputs["CampaignSendQueueUrl"],
                planner_arn=outputs["CampaignPlannerArn"],
                schedule_group=outputs["CampaignSchedulesGroupName"],
                scheduler_role_arn=outputs["CampaignSchedulerRoleArn"],
                schedules_dlq_arn=outputs.get("CampaignSchedulesFailureQueueArn"),
                holdout_key=parameters.get("HoldoutKey", "lifecycle-holdout-1"),
                default_locale=parameters.get("DefaultLocale", "en"),
                default_timezone=outputs.get("BusinessTimezone")
                or parameters.get("DefaultTimezone", "UTC"),
            )
        except KeyError as missing:
            raise CampaignError(
                f"the stack has no output {missing}: deploy this version of the template"
            ) from None

    @classmethod
    def from_environment(cls, env: dict[str, str]) -> StackNames:
        """From a campaign function's environment (the local stack's planner has it all)."""
        return cls(
            campaigns_table=env["CAMPAIGNS_TABLE"],
            customers_table=env["CUSTOMERS_TABLE"],
            profiles_table=env["PROFILES_TABLE"],
            ledger_table=env["LEDGER_TABLE"],
            preferences_table=env["PREFERENCES_TABLE"],
            suppressions_table=env["SUPPRESSIONS_TABLE"],
            send_queue_url=env["CAMPAIGN_SEND_QUEUE_URL"],
            planner_arn=env["CAMPAIGN_PLANNER_ARN"],
            schedule_group=env["CAMPAIGN_SCHEDULE_GROUP"],
            scheduler_role_arn=env["CAMPAIGN_SCHEDULER_ROLE_ARN"],
            schedules_dlq_arn=env.get("CAMPAIGN_SCHEDULE_DLQ_ARN"),
            holdout_key=env["HOLDOUT_KEY"],
            default_locale=env.get("DEFAULT_LOCALE", "en"),
            default_timezone=env.get("DEFAULT_TIMEZONE", "UTC"),
        )


class Campaigns:
    """The campaign commands over one stack's AWS clients."""

    def __init__(self, clients: Any, names: StackNames) -> None:
        self._client = clients  # a callable: service name -> boto3 client
        self.names = names
        self.table = DynamoCampaigns(clients("dynamodb"), names.campaigns_table)

    # ------------------------------------------------------------------ schedule
    def schedule(self, campaign: Campaign, now: datetime | None = None) -> datetime:
        """Store the campaign and create its start schedule; when it starts."""
        now = now or datetime.now(UTC)
        send = campaign.send
        if send.at is not None:
            start = send.at.astimezone(UTC)
            if start < now - timedelta(minutes=5):
                raise CampaignError(f"{campaign.id}: send.at {send.at.isoformat()} is past")
        else:
            start = campaign.latest_start() - PLANNING_LEAD
            last = datetime.combine(send.date, send.local_time, UTC) + timedelta(hours=12)  # type: ignore[arg-type]
            if last < now:
                raise CampaignError(
                    f"{campaign.id}: {send.date} {send.local_time} is past everywhere"
                )
        start = max(start, now + timedelta(minutes=1))
        stored = json.loads(campaign.model_dump_json())
        if not self.table.put_definition(campaign.id, stored, [], now):
            raise CampaignError(
                f"campaign {campaign.id} is scheduled already: a changed campaign needs a new id "
                "(nobody gets an announcement twice)"
            )
        self._put_schedule(
            start_schedule_name(campaign.id), start, Trigger(campaign_id=campaign.id)
        )
        return start

    def _put_schedule(self, name: str, at: datetime, trigger: Trigger) -> None:
        from lifecycle.adapters.scheduler import OneTimeSchedules, Target

        names = self.names
        schedules = OneTimeSchedules(self._client("scheduler"), names.schedule_group)
        target = Target(names.planner_arn, names.scheduler_role_arn, names.schedules_dlq_arn)
        schedules.put(
            name, at.astimezone(UTC), "UTC", target, json.loads(trigger.model_dump_json())
        )

    # ------------------------------------------------------------------ pause, resume, cancel
    def pause(self, campaign_id: str, now: datetime | None = None) -> None:
        self._known(campaign_id)
        if not self.table.move(
            campaign_id, Status.PAUSED, (Status.SCHEDULED, Status.SENDING), now or datetime.now(UTC)
        ):
            raise CampaignError(
                f"{campaign_id} is {self._status(campaign_id)}: only a scheduled "
                "or sending campaign can be paused"
            )

    def resume(self, campaign_id: str, now: datetime | None = None) -> int:
        """Resume a paused campaign; how many parked recipients were sent on."""
        self._known(campaign_id)
        state = self.table.state(campaign_id)
        back_to = Status.SENDING if state and state.started_at else Status.SCHEDULED
        if not self.table.move(campaign_id, back_to, (Status.PAUSED,), now or datetime.now(UTC)):
            raise CampaignError(f"{campaign_id} is {self._status(campaign_id)}, not paused")
        sqs = self._client("sqs")
        sent_on = 0
        for sk, page in self.table.pages(campaign_id, "parked#"):
            sqs.send_message(QueueUrl=self.names.send_queue_url, MessageBody=json.dumps(page))
            self.table.drop_page(campaign_id, sk)
            sent_on += len(page["customers"])
        return sent_on

    def cancel(self, campaign_id: str, now: datetime | None = None) -> int:
        """Cancel the campaign (also while it sends); how many recipients it had not reached
        that are now counted as cancelled (pages still on the queue are, as senders take them)."""
        self._known(campaign_id)
        moment = now or datetime.now(UTC)
        if not self.table.move(
            campaign_id,
            Status.CANCELLED,
            (Status.SCHEDULED, Status.SENDING, Status.PAUSED),
            moment,
        ):
            raise CampaignError(f"{campaign_id} is {self._status(campaign_id)} already")
        self._delete_schedules(campaign_id)
        dropped = 0
        for prefix in ("parked#", "wait#"):
            for sk, page in self.table.pages(campaign_id, prefix):
                self.table.put_tally(
                    campaign_id, page["page"], Tally(cancelled=len(page["customers"]))
                )
                self.table.drop_page(campaign_id, sk)
                dropped += len(page["customers"])
        return dropped

    def _delete_schedules(self, campaign_id: str) -> None:
        scheduler = self._client("scheduler")
        group = self.names.schedule_group
        paginator = scheduler.get_paginator("list_schedules")
        own = re.compile(rf"^{re.escape(campaign_id)}-(start|\d{{8}}T\d{{4}})$")
        for listed in paginator.paginate(GroupName=group, NamePrefix=f"{campaign_id}-"):
            for schedule in listed.get("Schedules", []):
                if not own.match(schedule["Name"]):
                    continue  # another campaign's whose id begins with this one's
                try:
                    scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
                except scheduler.exceptions.ResourceNotFoundException:
                    continue

    def _known(self, campaign_id: str) -> None:
        if self.table.state(campaign_id) is None:
            raise CampaignError(f"no campaign {campaign_id} has been scheduled on this stack")

    def _status(self, campaign_id: str) -> str:
        state = self.table.state(campaign_id)
        return state.status if state else "unknown"

    # ------------------------------------------------------------------ status
    def status(self, campaign_id: str) -> CampaignStatus:
        state = self.table.state(campaign_id)
        if state is None:
            raise CampaignError(f"no campaign {campaign_id} has been scheduled on this stack")
        plan, tally = self.table.progress(campaign_id)
        return CampaignStatus(campaign_id, state.status, state.rate, plan, tally)

    # ------------------------------------------------------------------ dry run
    def dry_run(self, campaign: Campaign, now: datetime | None = None) -> DryRun:
        """Who the campaign would reach now, and why not the others: the planner's audience,
        then each recipient through the contact policy (consent, topic, suppression, the
        marketing cap as it stands). Reads only."""
        from pydantic import ValidationError

        from lifecycle.adapters.audience import CustomerPages, standings
        from lifecycle.adapters.ledger import DynamoCaps
        from lifecycle.adapters.preferences import DynamoPreferences
        from lifecycle.adapters.sns import SnsSmsSender
        from lifecycle.adapters.suppressions import DynamoSuppressions
        from lifecycle.messaging.policy import ContactPolicy
        from lifecycle.models import Customer, describe

        now = now or datetime.now(UTC)
        names = self.names
        client = self._client("dynamodb")
        policy = ContactPolicy(
            DynamoSuppressions(client, names.suppressions_table),
            DynamoPreferences(client, names.preferences_table),
            SnsSmsSender(self._client("sns"), None),
        )
        caps = DynamoCaps(client, names.ledger_table, 1)
        key = names.holdout_key.encode()
        result = DryRun(campaign.id)
        pages = CustomerPages(client, names.customers_table)
        cursor: dict[str, Any] | None = None
        while True:
            page = pages.whole_rows(cursor)
            cursor = page.cursor
            ids = [str(row["customer_id"]) for row in page.rows]
            profiles = standings(client, names.profiles_table, ids) if ids else {}
            for row in page.rows:
                standing = journey.Standing.of(profiles.get(str(row["customer_id"])))
                why = journey.outside(
                    campaign.audience, row, standing, now.date(), names.default_locale
                )
                if why is not None:
                    result.outside[why] += 1
                    continue
                result.audience += 1
                try:
                    customer = Customer.model_validate(row)
                except ValidationError as error:
                    result.skipped[f"customer record not valid: {describe(error)}"] += 1
                    continue
                result.locales[customer.locale or names.default_locale] += 1
                zone = zone_of(row, names.default_timezone)
                result.instants[campaign.send.instant_in(ZoneInfo(zone)).isoformat()] += 1
                variant = journey.variant_of(campaign, key, customer.customer_id)
                prospect = standing.stage == journey.PROSPECT
                messages = [
                    journey.message(
                        campaign,
                        variant or _first(campaign),
                        customer,
                        channel,
                        prospect,  # the dry run renders nothing: no attributes needed
                    )
                    for channel in campaign.channels
                ]
                chosen = next((m for m in messages if policy.refusal(m) is None), None)
                if chosen is None:
                    result.skipped[policy.refusal(messages[0]) or "refused"] += 1
                    continue
                if variant is None:
                    result.held_out += 1
                    continue
                cap = marketing_cap(chosen)
                if caps.would_hold(cap, now):
                    result.skipped[cap.reason] += 1
                    continue
                result.variants[variant or "-"] += 1
                result.channels[str(chosen.channel)] += 1
            if cursor is None:
                break
        return result


def marketing_cap(message: Any) -> Any:
    """The marketing cap as the template sets it for every function (MARKETING_CAP_EMAIL and
    _SMS, "2/7"); the dry run assumes it rather than reading a function's configuration."""
    from lifecycle.messaging.message import Cap

    return Cap(
        key=f"marketing-cap#{message.customer.customer_id}#{message.channel}",
        owner=message.key,
        window=timedelta(days=7),
        reason="marketing cap: 2 in 7 days",
        limit=2,
    )


def _first(campaign: Campaign) -> str:
    return campaign.variants[0].name if campaign.variants else ""


@dataclass
class DryRun:
    campaign_id: str
    audience: int = 0
    held_out: int = 0
    outside: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    locales: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    instants: Counter[str] = field(default_factory=Counter)
    samples: list[Path] = field(default_factory=list)

    @property
    def would_send(self) -> int:
        return sum(self.channels.values())

    def lines(self) -> list[str]:
        out = [
            f"campaign {self.campaign_id}: dry run (nothing sent)",
            f"  in the audience   {self.audience}",
            f"  would be sent     {self.would_send}",
            f"  held out          {self.held_out}",
            f"  skipped           {sum(self.skipped.values())}",
        ]
        for title, counts in (
            ("by channel", self.channels),
            ("by variant", self.variants),
            ("audience by locale", self.locales),
            ("skipped by reason", self.skipped),
            ("outside the audience", self.outside),
            ("send instants (UTC)", self.instants),
        ):
            if counts:
                out.append(f"  {title}:")
                out += [f"    {n:>7}  {what}" for what, n in sorted(counts.items())]
        if self.samples:
            out.append("  samples rendered:")
            out += [f"    {path}" for path in self.samples]
        return out


@dataclass
class CampaignStatus:
    campaign_id: str
    status: str
    rate: float | None
    plan: Plan
    tally: Tally

    @property
    def planned(self) -> int:
        return self.plan.queued + self.plan.later

    @property
    def planning_done(self) -> bool:
        return self.plan.segments > 0 and self.plan.done == self.plan.segments

    @property
    def remaining(self) -> int:
        return max(self.planned - self.tally.total, 0)

    @property
    def shown_status(self) -> str:
        """The stored status, and `done` for a sending campaign with nobody left."""
        finished = self.planning_done and self.remaining == 0 and not self.plan.waiting
        return "done" if self.status == Status.SENDING and finished else self.status

    @property
    def achieved_rate(self) -> float | None:
        tally = self.tally
        if not tally.first_at or not tally.last_at or tally.sent < 2:
            return None
        seconds = (
            datetime.fromisoformat(tally.last_at) - datetime.fromisoformat(tally.first_at)
        ).total_seconds()
        return tally.sent / seconds if seconds > 0 else None

    def as_dict(self) -> dict[str, Any]:
        tally = self.tally
        return {
            "campaign": self.campaign_id,
            "status": self.shown_status,
            "rate_limit_per_second": self.rate,
            "planned": self.planned,
            "planning_done": self.planning_done,
            "waiting_for_their_time": self.plan.waiting,
            "outside_audience": dict(self.plan.outside),
            "sent": tally.sent,
            "deferred": tally.deferred,
            "held_out": tally.held_out,
            "skipped": dict(tally.skipped),
            "failed": tally.failed,
            "cancelled": tally.cancelled,
            "remaining": self.remaining,
            "rate_so_far_per_second": self.achieved_rate,
        }

    def lines(self) -> list[str]:
        data = self.as_dict()
        rate = data["rate_so_far_per_second"]
        out = [
            f"campaign {self.campaign_id}: {self.shown_status}",
            f"  planned     {data['planned']}"
            + ("" if data["planning_done"] else "  (planning still under way)"),
            f"  sent        {data['sent']}",
            f"  deferred    {data['deferred']}  (quiet hours: they go when the window opens)",
            f"  held out    {data['held_out']}",
            f"  skipped     {sum(self.tally.skipped.values())}",
            f"  failed      {data['failed']}",
            f"  cancelled   {data['cancelled']}",
            f"  remaining   {data['remaining']}",
            "  rate        "
            + (f"{rate:.1f}/s so far" if rate else "-")
            + (f" (limit {self.rate:g}/s)" if self.rate else ""),
        ]
        if self.tally.skipped:
            out.append("  skipped by reason:")
            out += [f"    {n:>7}  {why}" for why, n in sorted(self.tally.skipped.items())]
        if self.plan.outside:
            out.append("  outside the audience:")
            out += [f"    {n:>7}  {why}" for why, n in sorted(self.plan.outside.items())]
        return out
