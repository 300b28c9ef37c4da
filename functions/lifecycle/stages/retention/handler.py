"""The daily run's worker, on the daily stages queue: for each customer of a batch, the stage
changes time made up to the batch's day (each on its own day), then what the retention stage
owes them that day: a win-back step while they are lapsed, a tier-up for a tier they have not
heard of, the quarter's appreciation reward for the heaviest users.

Every message goes through the one message path (consent, the customer's topics, the marketing
cap, quiet hours; at most once per ledger key). A customer a programme holds out gets nothing
from it and is recorded as a held-out exposure, if the contact policy would have let the
message through. Each thing owed is marked on the profile once handled, whatever came of it,
so a redelivered batch moves and sends nothing twice; one that fails comes back, and after the
queue's receive count lands in its dead-letter queue (with an alarm)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from lifecycle.messaging.errors import TransientError
from lifecycle.messaging.message import Status
from lifecycle.messaging.plan import EMPTY, MoveStages, Plan, Send
from lifecycle.messaging.timing import DISPATCH_SECONDS
from lifecycle.models import Customer
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.composition import Ports
from lifecycle.platform.effects import PROFILE_WRITE_SECONDS, Effects
from lifecycle.profiles.daily import DueBatch
from lifecycle.profiles.model import Exposure, Profile
from lifecycle.stages.retention import journey
from lifecycle.stages.retention.messages import SPECS, STAGE
from lifecycle.stages.retention.settings import RetentionSettings

UNIT = kit.Unit(
    stage=STAGE,
    service="daily-stages-worker",
    specs=SPECS,
    settings=RetentionSettings.from_env,
)
# Outcomes by which the message reaches the customer: now, later (deferred), or before (a
# redelivered batch finds it sent).
_WENT = frozenset({Status.SENT, Status.DEFERRED, Status.DUPLICATE})


def effects(ports: Ports, settings: RetentionSettings) -> Effects:
    return Effects(ports, profiles=settings.profiles)


def on_message(batch: DueBatch, stage: kit.Stage[RetentionSettings]) -> Plan:
    profiles = stage.ports.profiles(stage.settings.profiles)
    for done, customer_id in enumerate(batch.customers):
        _time_for(stage, PROFILE_WRITE_SECONDS, len(batch.customers) - done)
        stage.run(Plan((MoveStages((customer_id,), batch.day),)))
        profile = profiles.get(customer_id)
        if profile is None:
            continue
        owed = journey.due(profile, batch.day, stage.settings.profiles.stages)
        if owed:
            _retain(stage, profile, batch.day, owed)
    return EMPTY


def _time_for(stage: kit.Stage[RetentionSettings], seconds: float, left: int) -> None:
    """Stop before the invocation runs out: the batch comes back, and the customers already
    handled are not handled again (a step not yet marked keeps its customer due today)."""
    if not stage.ports.budget.allows(seconds):
        raise TransientError(f"too little time left for the last {left} customers")


def _retain(
    stage: kit.Stage[RetentionSettings], profile: Profile, day: date, owed: list[journey.Due]
) -> None:
    settings = stage.settings
    profiles = stage.ports.profiles(settings.profiles)
    rules = settings.profiles.stages
    customer = stage.load_customer(profile.customer_id, gone_is_final=True)
    for item in owed:
        needs = PROFILE_WRITE_SECONDS + (DISPATCH_SECONDS if customer is not None else 0)
        _time_for(stage, needs, 1)
        if customer is None:
            # Erased, or a row that is not a customer (recorded as rejected): nothing to send
            # it to, and nothing to come back for each morning.
            profiles.mark(profile.customer_id, journey.marks(item, rules, sent_at=None), None)
            continue
        _one(stage, profile, customer, day, item)


def _one(
    stage: kit.Stage[RetentionSettings],
    profile: Profile,
    customer: Customer,
    day: date,
    item: journey.Due,
) -> None:
    settings = stage.settings
    profiles = stage.ports.profiles(settings.profiles)
    rules = settings.profiles.stages
    now = datetime.now(UTC)

    def exposure(treated: bool, outcome: str, at: datetime = now) -> Exposure:
        return Exposure(item.programme, item.family, item.key, treated, at, outcome)

    share = settings.holdout_share
    if journey.held_out(settings.holdout_key, item.family, customer.customer_id, share):
        # Measured only where the message could have gone: the holdout is compared with the
        # customers the contact policy let a message reach.
        probe = journey.message(item, customer, profile, day, settings, None)
        refused = stage.ports.dispatcher.refusal(probe)
        held = None if refused else exposure(False, "held_out")
        if profiles.mark(customer.customer_id, journey.marks(item, rules, sent_at=None), held):
            stage.count("RetentionHeldOut" if held else "RetentionHeldOutIneligible")
            logger.info("held out", extra={"programme": item.programme, "eligible": not refused})
        return
    code = None
    if item.promo is not None:
        codes = stage.ports.promo_codes(settings.profiles.table)
        # The same code again for a redelivered batch (one per customer and programme).
        code = codes.issue(customer.customer_id, item.promo, settings.code_valid_days, now)
    message = journey.message(item, customer, profile, day, settings, code)
    (outcome,) = stage.run(Plan((Send(message),)))
    went = outcome.status in _WENT
    # Measured by intent to treat, like the holdout: every customer the contact policy let
    # the message reach is exposed, whether it went, or the cap or a deadline held it back,
    # or it failed (the outcome says which). One it refused is not.
    eligible = went or stage.ports.dispatcher.refusal(message) is None
    # A deferred message counts from when it is to go, not from this morning's decision.
    at = outcome.deliver_at if outcome.status is Status.DEFERRED and outcome.deliver_at else now
    marks = journey.marks(item, rules, sent_at=at if went else None)
    treated = exposure(True, str(outcome.status), at) if eligible else None
    profiles.mark(customer.customer_id, marks, treated)


# Entry point named in infra/template.yaml; reports partial batch failures.
handler = kit.queue(UNIT, on_message, DueBatch, effects=effects)
