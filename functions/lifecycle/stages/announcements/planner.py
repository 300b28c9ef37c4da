"""The campaign planner: from a campaign's schedule to pages of recipients on the send queue.

- **start** (the campaign's schedule): the campaign moves to sending at its rate (a share of
  the account's SES sending rate, or a fixed one), and one planning step per segment of the
  Customers table goes on the planner's own queue;
- **a step** (the plan queue): reads its segment of the Customers table from where the last
  step stopped, a page at a time and only the attributes the audience needs (and, where it
  asks for stage or orders, the profiles of the page in batches), keeps the customers in the
  audience, and queues them in pages of 100 for the senders. When the invocation's time runs
  low it records its place and queues the next step, so no single invocation reads the whole
  base and the segments read in parallel;
- **release** (an instant's schedule, for local-time sending): the pages planned for that
  instant go to the senders.

For local-time sending, each recipient goes at the campaign's local time in their own time
zone: the planner works out each recipient's UTC instant, queues the ones due now, and keeps
the others in pages under their instant, with one schedule per distinct instant (a few dozen
for a global base, never one per recipient).

A step redelivered after it was recorded does nothing; one that died before it was recorded
queues its pages again, under the same page ids: the ledger sends each recipient once, and a
page's tally is rewritten, not added to.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from lifecycle.adapters.campaigns import DynamoCampaigns, Status
from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.messaging.zones import phone_zone
from lifecycle.observability import logger
from lifecycle.platform import composition, kit
from lifecycle.stages.announcements import journey
from lifecycle.stages.announcements.campaign import Campaign, CampaignError
from lifecycle.stages.announcements.messages import STAGE
from lifecycle.stages.announcements.settings import CampaignSettings

UNIT = kit.Unit(stage=STAGE, service="campaign-planner", settings=CampaignSettings.from_env)
# Recipients per page on the send queue: one sender invocation's work.
PAGE = 100
# Time a step keeps for recording its place and queueing the next one; and the most customers
# a step reads, so its queueing always fits in that time (2,000 pages: 200 SQS calls).
STEP_RESERVE_SECONDS = 20.0
STEP_MOST_ROWS = 200_000
# Instants this close are sent now rather than scheduled.
NOW_ENOUGH = timedelta(minutes=1)
MAIN = "main"  # the planning run of a campaign's schedule


class Trigger(BaseModel):
    """What a campaign's schedules hand the planner."""

    campaign_id: str = Field(min_length=1)
    action: Literal["start", "release"] = "start"
    instant: datetime | None = None  # for release: the instant whose pages go now


class Step(BaseModel):
    """One planning step of one segment (a message on the plan queue)."""

    campaign_id: str = Field(min_length=1)
    run: str = MAIN
    segment: int = Field(ge=0)
    segments: int = Field(ge=1)
    step: int = Field(ge=0)


def _campaigns(stage: kit.Stage[CampaignSettings]) -> DynamoCampaigns:
    return DynamoCampaigns(stage.ports.client("dynamodb"), stage.settings.table)


def campaign_of(campaigns: DynamoCampaigns, campaign_id: str) -> Campaign | None:
    stored = campaigns.definition(campaign_id)
    if stored is None:
        return None
    try:
        return Campaign.model_validate(stored)
    except ValueError as error:
        raise CampaignError(f"campaign {campaign_id} as stored is not valid: {error}") from None


def send_rate(stage: kit.Stage[CampaignSettings]) -> float:
    """Campaign sends per second: the fixed rate, or the share of the account's SES rate."""
    settings = stage.settings
    if settings.send_rate is not None:
        return settings.send_rate
    quota = stage.ports.client("ses").get_send_quota()
    return max(float(quota["MaxSendRate"]) * settings.rate_share, 1.0)


# ---------------------------------------------------------------------- start and release
def on_trigger(trigger: Trigger, stage: kit.Stage[CampaignSettings]) -> Plan:
    campaigns = _campaigns(stage)
    if campaign_of(campaigns, trigger.campaign_id) is None:
        return Plan.reject(f"no campaign {trigger.campaign_id} has been scheduled")
    if trigger.action == "release":
        return _release(stage, campaigns, trigger)
    state = campaigns.start(trigger.campaign_id, send_rate(stage), datetime.now(UTC))
    if state is None or state.status == Status.CANCELLED:
        return Plan.nothing(f"campaign {trigger.campaign_id} is cancelled")
    # A paused campaign is planned all the same: its senders park the pages until resumed.
    segments = stage.settings.planner_segments
    _queue(
        stage,
        stage.settings.plan_queue_url,
        [
            Step(campaign_id=trigger.campaign_id, segment=s, segments=segments, step=0).model_dump()
            for s in range(segments)
        ],
    )
    logger.info("campaign planning", extra={"campaign": trigger.campaign_id, "segments": segments})
    return EMPTY


def _release(
    stage: kit.Stage[CampaignSettings], campaigns: DynamoCampaigns, trigger: Trigger
) -> Plan:
    if trigger.instant is None:
        return Plan.reject("a release names its instant")
    prefix = f"wait#{_instant(trigger.instant)}#"
    released = 0
    for sk, page in campaigns.pages(trigger.campaign_id, prefix):
        _queue(stage, stage.settings.send_queue_url, [page])
        campaigns.drop_page(trigger.campaign_id, sk)
        released += len(page["customers"])
    logger.info("campaign instant released", extra={"campaign": trigger.campaign_id, "n": released})
    return EMPTY


# ---------------------------------------------------------------------- steps
def on_step(step: Step, stage: kit.Stage[CampaignSettings]) -> Plan:
    campaigns = _campaigns(stage)
    campaign = campaign_of(campaigns, step.campaign_id)
    if campaign is None:
        return Plan.reject(f"no campaign {step.campaign_id} has been scheduled")
    state = campaigns.state(step.campaign_id)
    if state is not None and state.status == Status.CANCELLED:
        return Plan.nothing(f"campaign {step.campaign_id} is cancelled")
    at = campaigns.plan_step(step.campaign_id, step.run, step.segment)
    if at.done or at.step != step.step:
        return Plan.nothing("this planning step was done already")
    from lifecycle.adapters.audience import CustomerPages, standings

    core = stage.core
    client = stage.ports.client("dynamodb")
    reader = CustomerPages(client, core.customers_table)
    wanted = _attributes(campaign)
    cursor = at.cursor
    now = datetime.now(UTC)
    today = now.date()
    outside: Counter[str] = Counter()
    due_now: list[str] = []
    later: dict[datetime, list[str]] = defaultdict(list)
    read = 0
    while True:
        page = reader.page(step.segment, step.segments, cursor, wanted)
        read += len(page.rows)
        profiles = {}
        if campaign.audience.needs_profile and page.rows:
            ids = [str(row["customer_id"]) for row in page.rows]
            profiles = standings(client, stage.settings.profiles_table, ids)
        for row in page.rows:
            customer_id = str(row["customer_id"])
            standing = journey.Standing.of(profiles.get(customer_id))
            why = journey.outside(campaign.audience, row, standing, today, core.default_locale)
            if why is not None:
                outside[why] += 1
                continue
            instant = _instant_of(campaign, row, core.default_timezone)
            if instant - now <= NOW_ENOUGH:
                due_now.append(customer_id)
            else:
                later[instant].append(customer_id)
        cursor = page.cursor
        if cursor is None or read >= STEP_MOST_ROWS:
            break
        if not stage.ports.budget.allows(STEP_RESERVE_SECONDS):
            break
    # An instant that came close while the step read is sent now: its release may have run.
    for instant in [i for i in later if i - datetime.now(UTC) <= NOW_ENOUGH]:
        due_now += later.pop(instant)
    page_id = f"{step.run}:{step.segment}:{step.step}"
    pages = _pages(step.campaign_id, page_id, due_now)
    _queue(stage, stage.settings.send_queue_url, pages)
    waiting = 0
    for instant, ids in sorted(later.items()):
        stamp = _instant(instant)
        for body in _pages(step.campaign_id, f"{page_id}@{stamp}", ids):
            campaigns.store_page(step.campaign_id, f"wait#{stamp}#{body['page']}", body)
        _schedule_release(stage, campaign, instant)
        waiting += len(ids)
    recorded = campaigns.advance_plan(
        step.campaign_id,
        step.run,
        step.segment,
        step.step,
        cursor,
        queued=len(due_now),
        waiting=waiting,
        outside=outside,
    )
    if recorded and cursor is not None:
        _queue(
            stage,
            stage.settings.plan_queue_url,
            [step.model_copy(update={"step": step.step + 1}).model_dump()],
        )
    logger.info(
        "campaign planning step",
        extra={
            "campaign": step.campaign_id,
            "segment": step.segment,
            "step": step.step,
            "queued": len(due_now),
            "waiting": waiting,
            "outside": sum(outside.values()),
            "last": cursor is None,
        },
    )
    return EMPTY


def _attributes(campaign: Campaign) -> list[str]:
    wanted = ["locale", *campaign.audience.attributes]
    if campaign.send.local:
        wanted += ["timezone", "phone"]  # the recipient's zone (the data contract's fallback)
    return wanted


def _instant_of(campaign: Campaign, row: dict[str, Any], default_zone: str) -> datetime:
    if not campaign.send.local:
        return campaign.send.instant_in(UTC)
    return campaign.send.instant_in(ZoneInfo(zone_of(row, default_zone)))


def zone_of(row: dict[str, Any], default: str) -> str:
    """A Customers row's time zone, as the data contract falls back: its own, its phone's,
    then the stack's default."""
    from lifecycle.models import _timezone

    own = _timezone(row.get("timezone")) if isinstance(row.get("timezone"), str) else None
    if own:
        return own
    phone = row.get("phone")
    if isinstance(phone, str) and phone.startswith("+"):
        zone = phone_zone(phone, default)
        if zone:
            return zone
    return default


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pages(campaign_id: str, prefix: str, ids: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "campaign_id": campaign_id,
            "page": f"{prefix}:{n}",
            "customers": ids[start : start + PAGE],
        }
        for n, start in enumerate(range(0, len(ids), PAGE))
    ]


def _queue(stage: kit.Stage[CampaignSettings], url: str, bodies: list[dict[str, Any]]) -> None:
    """Send the bodies, ten a call; what the queue did not take is sent again, and still
    failing, raised (the trigger comes back; the ledger keeps a page sent twice from sending
    anyone twice)."""
    sqs = stage.ports.client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(body)}
            for i, body in enumerate(bodies[start : start + 10])
        ]
        for _ in range(3):
            failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
            if not failed:
                break
            ids = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in ids]
        else:
            raise RuntimeError(f"the queue refused {len(entries)} messages")


def _schedule_release(
    stage: kit.Stage[CampaignSettings], campaign: Campaign, instant: datetime
) -> None:
    """The instant's schedule (made once: every step that finds recipients for it asks)."""
    from lifecycle.adapters.scheduler import Target

    settings = stage.settings
    if not (settings.schedule_group and settings.planner_arn and settings.scheduler_role_arn):
        raise CampaignError(
            "local-time sending needs CAMPAIGN_SCHEDULE_GROUP, CAMPAIGN_PLANNER_ARN and "
            "CAMPAIGN_SCHEDULER_ROLE_ARN"
        )
    name = release_schedule_name(campaign.id, instant)
    if name in _SCHEDULED:
        return
    target = Target(settings.planner_arn, settings.scheduler_role_arn, settings.schedule_dlq_arn)
    payload = Trigger(campaign_id=campaign.id, action="release", instant=instant)
    stage.ports.schedules(settings.schedule_group).put(
        name, instant.astimezone(UTC), "UTC", target, json.loads(payload.model_dump_json())
    )
    _SCHEDULED.add(name)


# The release schedules this process has made (each step of a segment would ask again).
_SCHEDULED: set[str] = set()
composition.on_reset(_SCHEDULED.clear)


def release_schedule_name(campaign_id: str, instant: datetime) -> str:
    return f"{campaign_id}-{instant.astimezone(UTC):%Y%m%dT%H%M}"


def start_schedule_name(campaign_id: str) -> str:
    return f"{campaign_id}-start"


_step = kit.queue(UNIT, on_step, Step)
_trigger = kit.scheduled(UNIT, on_trigger, Trigger)


def handler(event: dict[str, Any], context: Any) -> Any:
    """Entry point named in infra/template.yaml: the plan queue's batches, or a schedule."""
    if "Records" in event:
        return _step(event, context)
    return _trigger(event, context)
