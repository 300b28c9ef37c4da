"""The sample world's announcement campaigns in `lifecycle simulate`: each a reviewed campaign
file, sent on a day of the simulated period, and what the report says about it.

A world entry names the file and the day it goes (the file's own date is replaced, its local
time kept), and when a marketer schedules it. The simulation schedules it then through the
campaign commands (`lifecycle campaign schedule`'s code, over the local stack), and the rest
is the stack's own doing: the start schedule fires the planner, the planner's release
schedules fire at each local-time instant, the senders take the pages off the queue.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from lifecycle.adapters.campaigns import Plan, Tally
from lifecycle.campaign_control import CampaignStatus
from lifecycle.stages.announcements.campaign import Campaign, CampaignError, parse
from lifecycle.stages.announcements.journey import HOLDOUT


@dataclass(frozen=True)
class WorldCampaign:
    """A campaign of the sample world: what it is, where it was read, when it is scheduled."""

    campaign: Campaign
    source: str  # the file, as the world names it
    scheduled_at: datetime  # when the marketer schedules it (UTC)

    def when(self) -> str:
        send = self.campaign.send
        if send.local:
            return f"{send.local_time:%H:%M} local time on {send.date}"
        return f"at {send.instant_in(UTC):%Y-%m-%d %H:%M} UTC"

    def describe(self) -> str:
        """The campaign's split, holdout and channels, as a marketer would sum them up."""
        campaign = self.campaign
        templates = campaign.templates()
        split = ", ".join(f"{v.name} {v.share:.0%} {templates[v.name]}" for v in campaign.variants)
        test = f"A/B test: {split}" if split else f"one message: {campaign.message.template}"
        channels = ", else ".join("SMS" if c == "sms" else str(c) for c in campaign.channels)
        return f"{test}; {campaign.holdout:.0%} held out; by {channels}"


def load(entries: list[dict[str, Any]], start: date, root: Path, zone: str) -> list[WorldCampaign]:
    """The world's campaign entries, each file read and its send moved to its day; a
    ValueError naming the entry when one cannot be used."""
    found = []
    for number, entry in enumerate(entries, start=1):
        where = f"campaigns[{number}]"
        try:
            source = str(entry["file"])
            day = int(entry["day"])
            scheduled_on = int(entry.get("scheduled_on_day", max(day - 7, 0)))
            at = time.fromisoformat(str(entry.get("scheduled_at", "09:00")))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{where}: needs file and day ({error})") from None
        path = root / source
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise ValueError(f"{where}: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("send"), dict):
            raise ValueError(f"{where}: {source} has no send section")
        send_on = start + timedelta(days=day)
        send = dict(data["send"])
        if "at" in send:
            moment = send["at"]
            if isinstance(moment, str):
                moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
            send["at"] = datetime.combine(send_on, moment.timetz()).isoformat()
        else:
            send["date"] = send_on.isoformat()
        try:
            campaign = parse({**data, "send": send}, source)
        except CampaignError as error:
            raise ValueError(f"{where}: {error}") from None
        scheduled = datetime.combine(start + timedelta(days=scheduled_on), at, ZoneInfo(zone))
        found.append(WorldCampaign(campaign, source, scheduled.astimezone(UTC)))
    return found


@dataclass
class Outcome:
    """What became of one campaign, as of the simulation's end."""

    planned: WorldCampaign
    status: CampaignStatus
    prospects_reached: set[str] = field(default_factory=set)


def progress(before: CampaignStatus | None, now: CampaignStatus) -> str | None:
    """What moved since `before`, in a timeline line's words (None: nothing did): the
    planner's audience when it has planned, then what each release of recipients came to."""
    plan, tally = now.plan, now.tally
    old_plan = before.plan if before else Plan()
    old = before.tally if before else Tally(skipped=Counter())
    parts = []
    if (plan.segments, plan.done, plan.queued) != (
        old_plan.segments,
        old_plan.done,
        old_plan.queued,
    ):
        outside = sum(plan.outside.values())
        parts.append(
            f"planned {plan.queued + plan.later} in the audience ({plan.queued} due now, "
            f"{plan.later} at their local time); {outside} outside it"
            + "".join(f", {why} x{n}" for why, n in sorted(plan.outside.items()))
        )
    moved = [
        (what, getattr(tally, what) - getattr(old, what))
        for what in ("sent", "deferred", "held_out", "failed", "cancelled")
    ]
    skipped = sum(tally.skipped.values()) - sum(old.skipped.values())
    done = [f"{n} {what.replace('_', ' ')}" for what, n in moved if n]
    if skipped:
        done.append(f"{skipped} skipped")
    if done:
        waiting = (
            f"{plan.waiting} still waiting for their local time"
            if plan.waiting
            else "none left waiting"
        )
        parts.append(f"{', '.join(done)}; {waiting}")
    return "; ".join(parts) or None


def summary(outcome: Outcome, ledger: dict[str, dict[str, str]]) -> list[str]:
    """The campaign's part of the KPI summary: `lifecycle campaign status`, then the sends
    per variant and channel from the ledger, the holdout and the prospects reached."""
    planned, status = outcome.planned, outcome.status
    campaign = planned.campaign
    tally = status.tally
    out = [
        f'Campaign {campaign.id} "{campaign.name}" ({planned.source}), {planned.when()}',
        f"  {planned.describe()}",
    ]
    out += [f"  {line}" for line in status.lines()]
    out.append(
        f"  {'in the audience':<22}{tally.total:>7}  ({tally.sent} sent, {tally.held_out} held "
        f"out, {sum(tally.skipped.values())} skipped, {tally.deferred} deferred, "
        f"{tally.failed} failed)"
    )
    rows = [r for r in ledger.values() if r.get("campaign") == campaign.id]
    sent = Counter(
        (r.get("sequence", ""), r.get("channel", "-")) for r in rows if r.get("status") == "sent"
    )
    templates = campaign.templates()
    out.append(f"  {'sent by variant':<22}{'email':>7}{'sms':>7}{'total':>7}  template")
    for name, template in templates.items():
        email, sms = sent[(name, "email")], sent[(name, "sms")]
        out.append(f"    {name or '-':<20}{email:>7}{sms:>7}{email + sms:>7}  {template}")
    out.append(
        f"    {HOLDOUT:<20}{'':>7}{'':>7}{tally.held_out:>7}  (sent nothing: "
        f"the {campaign.holdout:.0%} kept out to measure what the campaign changed)"
    )
    prospects = outcome.prospects_reached
    total = sum(sent.values())
    out.append(
        f"  {'prospects reached':<22}{len(prospects):>7}  of {total} sent (signed up, no order yet)"
    )
    return out
