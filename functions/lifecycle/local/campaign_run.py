"""`lifecycle campaign dry-run|schedule --local`: a campaign over the local stack (moto, in this
process), with the sample customers (lifecycle/local/demo_customers.json) as its base.

The dry run reads them as the planner and senders would. Schedule stores the campaign, then
plays Scheduler and Lambda's event sources: each of the campaign's schedules fires at its time
(the start, then one per distinct instant for local-time sending), each queue message goes to
its function, until nothing is left; then it prints the campaign's status. The sends are
counted against a rate bucket as deployed, so the local run sets a high campaign rate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import boto3
import time_machine

from lifecycle.campaign_control import Campaigns, CampaignStatus, DryRun, StackNames
from lifecycle.local.demo import seed_sample_customers
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REGION,
    LocalContext,
    LocalStack,
    local_aws,
    logs_to,
)
from lifecycle.stages.announcements.campaign import Campaign

PLANNER = "CampaignPlannerFunction"
GROUP = "CampaignSchedulesGroup"
# Sends per second locally: the bucket paces against the real clock.
LOCAL_RATE = "1000"


def _stack(templates: Path) -> LocalStack:
    stack = LocalStack.deployed({**LOCAL_PARAMETERS, "CampaignSendRate": LOCAL_RATE})
    stack.overrides["*"] = {"TEMPLATES_DIR": str(templates.resolve())}
    seed_sample_customers(stack)
    return stack


def _control(stack: LocalStack) -> Campaigns:
    env = stack.function(PLANNER).environment
    return Campaigns(
        lambda service: boto3.client(service, region_name=REGION), StackNames.from_environment(env)
    )


def local_dry_run(campaign: Campaign, templates: Path) -> DryRun:
    with local_aws(), logs_to(Path("out/campaign-local.log")):
        stack = _stack(templates)
        return _control(stack).dry_run(campaign, _moment(campaign))


def _moment(campaign: Campaign) -> datetime:
    """The local run's clock: when the campaign's planning would start."""
    return campaign.latest_start()


def run_locally(campaign: Campaign, templates: Path, progress: TextIO) -> CampaignStatus:
    Path("out").mkdir(exist_ok=True)
    with local_aws(), logs_to(Path("out/campaign-local.log")):
        stack = _stack(templates)
        campaigns = _control(stack)
        start = _moment(campaign)
        with time_machine.travel(start, tick=False):
            campaigns.schedule(campaign, now=start)
        scheduler = stack.client("scheduler")
        while True:
            listed = scheduler.list_schedules(GroupName=GROUP)["Schedules"]
            if not listed:
                break
            due = []
            for entry in listed:
                detail = scheduler.get_schedule(Name=entry["Name"], GroupName=GROUP)
                at = datetime.fromisoformat(detail["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
                due.append((at, entry["Name"], json.loads(detail["Target"]["Input"])))
            at, name, payload = min(due)
            print(f"{at:%Y-%m-%d %H:%M} UTC  schedule {name}", file=progress)
            with time_machine.travel(at, tick=True):
                spec = stack.function(PLANNER)
                stack.invoke(spec, payload, LocalContext.for_function)
                stack.drain_queues(LocalContext.for_function)
            scheduler.delete_schedule(Name=name, GroupName=GROUP)
        return campaigns.status(campaign.id)
