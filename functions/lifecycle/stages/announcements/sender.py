"""The campaign sender, on the send queue: one page of recipients per message.

For each page it reads the campaign's state first, so a pause or a cancel takes effect
within one page: a paused page is parked (`resume` sends it on), a cancelled one is counted
as cancelled and sent to nobody. Then it reads the page's customers, topics, suppressions and
cap markers in a few batch calls, and sends each recipient through the one message path
(consent, the `announcements` topic, suppression, the marketing cap, quiet hours; ledger key
`campaign#<id>#<customer>`), each at a send slot of the rate every sender shares (a
DynamoDB bucket, adapters/rate.py), a share of the account's SES rate that leaves the rest to
transactional and service mail.

A recipient the holdout keeps out gets nothing and is counted, where the contact policy would
have let the message through. What could not be sent now (SES throttling, a claim held by a
sender that died, too little time left) goes back on the queue as a smaller page, after a
pause; the rest of the page is done and counted. A redelivered page sends nobody twice: the
ledger holds every recipient's key.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, Field, ValidationError

from lifecycle.adapters.campaigns import DynamoCampaigns, Status, Tally
from lifecycle.adapters.rate import DynamoRateLimiter, Slots
from lifecycle.messaging.errors import TransientError
from lifecycle.messaging.message import Channel, Message
from lifecycle.messaging.message import Status as Outcome
from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.messaging.timing import DISPATCH_SECONDS, Budget
from lifecycle.observability import logger
from lifecycle.platform import composition, kit
from lifecycle.stages.announcements import journey
from lifecycle.stages.announcements.campaign import Campaign
from lifecycle.stages.announcements.messages import PREFIX, STAGE, spec
from lifecycle.stages.announcements.settings import CampaignSettings

UNIT = kit.Unit(
    stage=STAGE,
    service="campaign-sender",
    settings=CampaignSettings.from_env,
    # Every campaign's message is made like this (by email or SMS, its own template folder).
    made_like=(spec(f"{PREFIX}any", (Channel.EMAIL, Channel.SMS)),),
)
# Slots reserved per call to the rate bucket: one call for up to this many sends, and never
# more than a second of the rate's time (25 at 200 a second are 125 ms; at 10 a second, 10).
# A sender sends one at a time, at SES's latency, working through its slots at its own pace
# while the other senders work through theirs, so the campaign goes at the rate, or at what
# its senders manage if less; slots a page did not use go to this process's next page.
SLOTS_PER_CALL = 25
# A sender this far behind its next slot (stalled: a slow table, a long wait) gives the rest
# up and reserves anew, so a stall never ends in a catch-up burst.
LATE_MS = 1500.0
# How long a page of what could not be sent now waits on the queue (SQS allows 15 minutes).
BACK_AFTER_SECONDS = 30


class Page(BaseModel):
    """A page of recipients of one campaign (a message on the send queue)."""

    campaign_id: str = Field(min_length=1)
    page: str = Field(min_length=1)
    customers: list[str] = Field(min_length=1, max_length=500)


_DEFINITIONS: dict[str, Campaign] = {}  # campaigns never change once scheduled
composition.on_reset(_DEFINITIONS.clear)


def _campaign(campaigns: DynamoCampaigns, campaign_id: str) -> Campaign | None:
    found = _DEFINITIONS.get(campaign_id)
    if found is None:
        stored = campaigns.definition(campaign_id)
        if stored is None:
            return None
        found = _DEFINITIONS[campaign_id] = Campaign.model_validate(stored)
    return found


@dataclass
class _Pacer:
    """This sender's reserved send slots."""

    limiter: DynamoRateLimiter
    rate: float
    slots: Slots | None = None
    used: int = 0

    def wait_for_slot(self, wanted: int, budget: Budget) -> None:
        """Wait for this sender's next slot, reserving `wanted` more when it has none. A slot
        further off than the invocation can wait is transient: the rest comes back later."""
        while True:
            now = time.time() * 1000
            if self.slots is not None and self.used < self.slots.count:
                at = self.slots.at(self.used)
                if now - at <= LATE_MS:
                    self.used += 1
                    if at > now:
                        if not budget.allows((at - now) / 1000 + DISPATCH_SECONDS):
                            raise TransientError("the campaign's send rate is taken: later")
                        budget.wait((at - now) / 1000)
                    return
            most = max(1, min(SLOTS_PER_CALL, int(self.rate)))
            self.slots = self.limiter.reserve(min(max(wanted, 1), most), self.rate, now)
            self.used = 0


class _Pacers(threading.local):
    """Each campaign's slots in this process (one thread in Lambda; the benchmark runs an
    instance a thread), kept from one page to the next."""

    def __init__(self) -> None:
        self.by_campaign: dict[str, _Pacer] = {}


_PACERS = _Pacers()
composition.on_reset(lambda: _PACERS.by_campaign.clear())


def _pacer(stage: kit.Stage[CampaignSettings], campaign_id: str, rate: float) -> _Pacer:
    pacer = _PACERS.by_campaign.get(campaign_id)
    if pacer is None or pacer.rate != rate:
        limiter = DynamoRateLimiter(stage.ports.client("dynamodb"), stage.settings.table)
        pacer = _PACERS.by_campaign[campaign_id] = _Pacer(limiter, rate)
    return pacer


def on_page(page: Page, stage: kit.Stage[CampaignSettings]) -> Plan:
    settings = stage.settings
    campaigns = DynamoCampaigns(stage.ports.client("dynamodb"), settings.table)
    state = campaigns.state(page.campaign_id)
    campaign = _campaign(campaigns, page.campaign_id)
    if state is None or campaign is None:
        return Plan.reject(f"no campaign {page.campaign_id} has been scheduled")
    for _ in range(3):
        if state.status == Status.CANCELLED:
            campaigns.put_tally(page.campaign_id, page.page, Tally(cancelled=len(page.customers)))
            return Plan.nothing("campaign cancelled")
        if state.status != Status.PAUSED:
            break
        if campaigns.park(page.campaign_id, f"parked#{page.page}", page.model_dump()):
            logger.info("campaign page parked", extra={"campaign": page.campaign_id})
            return Plan.nothing("campaign paused")
        # Resumed or cancelled since it was read: as it is now.
        state = campaigns.state(page.campaign_id) or state
    else:
        raise TransientError("the campaign's state keeps changing: the page comes back")
    tally, left = _send(stage, campaign, page, state.rate or 1.0)
    if left:
        again = page.model_copy(update={"page": _again(page.page), "customers": left})
        stage.ports.client("sqs").send_message(
            QueueUrl=settings.send_queue_url,
            MessageBody=json.dumps(again.model_dump()),
            DelaySeconds=BACK_AFTER_SECONDS,
        )
        stage.count("CampaignRecipientsBack")
    campaigns.put_tally(page.campaign_id, page.page, tally)
    return EMPTY


def _again(page_id: str) -> str:
    """The id of the page of what a page could not send now (`p`, `p+1`, `p+2`...)."""
    base, _, n = page_id.partition("+")
    return f"{base}+{int(n or 0) + 1}"


@dataclass(frozen=True)
class _Recipient:
    customer_id: str
    options: tuple[Message, ...] = ()  # the message on each of the campaign's channels
    held_out: bool = False
    problem: str | None = None  # why nothing can be made for them (their row)


def _send(
    stage: kit.Stage[CampaignSettings], campaign: Campaign, page: Page, rate: float
) -> tuple[Tally, list[str]]:
    ports = stage.ports
    dispatcher = ports.dispatcher
    tally = Tally(skipped=Counter())
    recipients = _recipients(stage, campaign, page)
    pacer = _pacer(stage, campaign.id, rate)
    left: list[str] = []
    try:
        dispatcher.prepare([m for r in recipients for m in r.options])
        for index, recipient in enumerate(recipients):
            if recipient.problem is not None:
                tally.skipped[recipient.problem] += 1
                continue
            # The first of the campaign's channels the policy lets through, else the first
            # (whose refusal the dispatcher records).
            chosen = next((m for m in recipient.options if dispatcher.refusal(m) is None), None)
            if recipient.held_out:
                # Counted only where the message could have gone: the holdout is compared with
                # the recipients the contact policy let a message reach.
                if chosen is None:
                    tally.skipped[dispatcher.refusal(recipient.options[0]) or "refused"] += 1
                else:
                    tally.held_out += 1
                continue
            if not ports.budget.allows(DISPATCH_SECONDS + 1):
                left = [r.customer_id for r in recipients[index:]]
                break
            try:
                if chosen is not None:
                    pacer.wait_for_slot(len(recipients) - index, ports.budget)
                outcome = dispatcher.dispatch(chosen or recipient.options[0])
            except TransientError as error:
                logger.info("recipient comes back later", extra={"reason": error.reason})
                left = [r.customer_id for r in recipients[index:]]
                break
            _count(tally, outcome.status, outcome.reason)
    finally:
        dispatcher.forget_prepared()
    tally.last_at = datetime.now(UTC).isoformat()
    return tally, left


def _recipients(
    stage: kit.Stage[CampaignSettings], campaign: Campaign, page: Page
) -> list[_Recipient]:
    """The page's recipients as they are now: their rows (fresh consent, address, locale),
    their variant or holdout, and whether they have ordered yet."""
    from lifecycle.adapters.audience import customers, standings
    from lifecycle.models import Customer, describe
    from lifecycle.stages.announcements.messages import attributes_used

    client = stage.ports.client("dynamodb")
    templates_dir = stage.core.templates_dir
    used = frozenset().union(
        *(attributes_used(templates_dir, t) for t in campaign.templates().values())
    )
    ids = list(dict.fromkeys(page.customers))
    rows = customers(client, stage.core.customers_table, ids)
    ordered = standings(client, stage.settings.profiles_table, ids)
    made: list[_Recipient] = []
    for customer_id in ids:
        row = rows.get(customer_id)
        if row is None:
            made.append(_Recipient(customer_id, problem="customer no longer exists"))
            continue
        try:
            customer = Customer.model_validate(row)
        except ValidationError as error:
            problem = f"customer record not valid: {describe(error)}"
            made.append(_Recipient(customer_id, problem=problem))
            continue
        variant = journey.variant_of(campaign, stage.settings.holdout_key, customer_id)
        prospect = journey.Standing.of(ordered.get(customer_id)).stage == journey.PROSPECT
        own = journey.attributes_of(row, used)
        options = tuple(
            journey.message(campaign, variant or _first(campaign), customer, channel, prospect, own)
            for channel in campaign.channels
        )
        made.append(_Recipient(customer_id, options, held_out=variant is None))
    return made


def _first(campaign: Campaign) -> str:
    """The variant a held-out recipient's probe is made from (they are sent nothing)."""
    return campaign.variants[0].name if campaign.variants else ""


def _count(tally: Tally, status: Outcome, reason: str | None) -> None:
    if status in (Outcome.SENT, Outcome.DUPLICATE):
        tally.sent += 1
        if tally.first_at is None:
            tally.first_at = datetime.now(UTC).isoformat()
    elif status is Outcome.DEFERRED:
        tally.deferred += 1
    elif status is Outcome.FAILED:
        tally.failed += 1
    else:
        tally.skipped[reason or "skipped"] += 1


# Entry point named in infra/template.yaml; reports partial batch failures.
handler = kit.queue(UNIT, on_page, Page)
