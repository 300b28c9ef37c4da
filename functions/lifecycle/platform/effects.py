"""Runs a journey's plan: the one place each kind of step is carried out, for every stage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lifecycle.messaging.errors import TransientError
from lifecycle.messaging.message import Message, MessageSpec, Outcome
from lifecycle.messaging.plan import (
    Advance,
    Alert,
    Cancel,
    ChangePreferences,
    CountSoftBounce,
    Enqueue,
    Escalate,
    MarkEscalated,
    MoveStages,
    Once,
    OpenCase,
    Plan,
    RecordEngagement,
    RecordOrder,
    Reject,
    Schedule,
    Send,
    Skip,
    Step,
    Suppress,
    Unsuppress,
)
from lifecycle.messaging.timing import TABLE_CALL_SECONDS
from lifecycle.observability import logger
from lifecycle.platform.settings import SettingsError
from lifecycle.profiles.promo import GiveBack, Use

if TYPE_CHECKING:
    from lifecycle.adapters.cases import DynamoCases
    from lifecycle.adapters.profiles import DynamoProfiles
    from lifecycle.models import Order
    from lifecycle.platform.composition import Ports
    from lifecycle.profiles.settings import ProfileSettings
    from lifecycle.profiles.stages import Change


# The longest one profile's read and transactional write may take.
PROFILE_WRITE_SECONDS = 2 * TABLE_CALL_SECONDS


class UndeclaredMessage(SettingsError):
    """A stage sent a message its unit does not declare."""


@dataclass(frozen=True)
class ScheduleConfig:
    """Where a stage's one-time schedules live, and the role Scheduler invokes them with."""

    group: str
    role_arn: str
    dead_letter_arn: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Effects:
    def __init__(
        self,
        ports: Ports,
        *,
        schedules: ScheduleConfig | None = None,
        alerts_topic: str | None = None,
        profiles: ProfileSettings | None = None,
        engagement_table: str | None = None,
        cases_table: str | None = None,
    ) -> None:
        self._ports = ports
        self._cases_table = cases_table
        self._engagement_table = engagement_table
        self._schedules = schedules
        self._alerts_topic = alerts_topic
        self._profile_settings = profiles
        self._declared: frozenset[MessageSpec] | None = None

    def declare(self, specs: tuple[MessageSpec, ...]) -> None:
        """The messages this function may send: the ones its cold start checked."""
        self._declared = frozenset(specs)

    def declare_found(self, spec: MessageSpec) -> None:
        """One more message this function may send, found while it runs: a campaign's, whose
        spec is made from its template folder on disk by the caller (no catalog lists it)."""
        if self._declared is not None:
            self._declared |= {spec}

    def run(self, plan: Plan) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for step in plan.steps:
            if isinstance(step, Once):
                outcomes += self._once(step)
            else:
                outcomes += self._step(step)
        return outcomes

    def _once(self, once: Once) -> list[Outcome]:
        markers = self._ports.markers
        if once.mark_first:
            # Not safe to repeat (a tally): mark first, so a replay never counts twice.
            if not markers.first_time(once.key, once.what, _now()):
                logger.info("already handled", extra={"what": once.what})
                return []
            outcomes = [o for step in once.steps for o in self._step(step)]
        else:
            if markers.seen(once.key):
                logger.info("already handled", extra={"what": once.what})
                return []
            # Acting, then marking: a crash in between replays steps that change nothing the
            # second time.
            outcomes = [o for step in once.steps for o in self._step(step)]
            markers.first_time(once.key, once.what, _now())
        if once.metric:
            self._ports.count(once.metric)
        logger.info("handled", extra={"what": once.what, "steps": len(once.steps)})
        return outcomes

    def _step(self, step: Step) -> list[Outcome]:
        ports = self._ports
        if isinstance(step, Send):
            return [self._send(step.message)]
        if isinstance(step, Skip):
            return [ports.dispatcher.skip(step.message, step.reason)]
        if isinstance(step, Advance):
            return self._advance(step)
        if isinstance(step, Schedule):
            self._put_schedule(step)
        elif isinstance(step, Cancel):
            if self._schedules is not None:
                ports.schedules(self._schedules.group).delete(step.name)
        elif isinstance(step, Alert):
            self._alert(step)
        elif isinstance(step, OpenCase):
            self._open_case(step)
        elif isinstance(step, MarkEscalated):
            self._mark_escalated(step)
        elif isinstance(step, Escalate):
            self._escalate(step)
        elif isinstance(step, Enqueue):
            ports.client("sqs").send_message(
                QueueUrl=step.queue, MessageBody=json.dumps(dict(step.body), default=str)
            )
        elif isinstance(step, Reject):
            ports.ledger.record_rejected(
                step.key, step.stage, step.customer_id, step.reason, _now()
            )
            ports.count("RecordsRejected")
        elif isinstance(step, Suppress):
            ports.suppressions.suppress(step.channel, step.address, step.reason, _now())
        elif isinstance(step, Unsuppress):
            ports.suppressions.lift(
                step.channel, step.address, only_if_reason_starts=step.only_if_reason_starts
            )
        elif isinstance(step, CountSoftBounce):
            ports.suppressions.count_soft_bounce(step.address, step.reason, _now())
        elif isinstance(step, ChangePreferences):
            ports.preferences.apply(
                step.subject, list(step.changes), step.source, _now(), step.event_id
            )
        elif isinstance(step, RecordOrder):
            folded = self._profiles().record_order(step.order, self._promo)
            self._stage_changes(step.order.customer_id, folded.changes if folded else ())
        elif isinstance(step, MoveStages):
            self._move_stages(step)
        elif isinstance(step, RecordEngagement):
            self._record_engagement(step)
        return []

    def _record_engagement(self, step: RecordEngagement) -> None:
        if self._engagement_table is None:
            raise SettingsError("this function has no engagement table configured")
        event = step.event
        if self._ports.engagement(self._engagement_table).record(event, _now()):
            self._ports.count("EngagementEvents")
            logger.info(
                "engagement event recorded",
                extra={"event_type": str(event.type), "message_key": event.message_key},
            )
        else:
            logger.info("engagement event already recorded", extra={"event_id": event.event_id})

    def _move_stages(self, step: MoveStages) -> None:
        profiles = self._profiles()
        for done, customer_id in enumerate(step.customer_ids):
            if not self._ports.budget.allows(PROFILE_WRITE_SECONDS):
                # The batch comes back; those already moved are not moved again.
                left = len(step.customer_ids) - done
                raise TransientError(f"too little time left for the last {left} customers")
            self._stage_changes(customer_id, profiles.advance(customer_id, step.until) or ())

    def _profiles(self) -> DynamoProfiles:
        if self._profile_settings is None:
            raise SettingsError("this function has no profiles table configured")
        return self._ports.profiles(self._profile_settings)

    def _promo(self, step: Use | GiveBack, order: Order) -> None:
        """Redeem (or give back) an order's promo code. A refusal is recorded in the ledger
        with its reason and counted, once per order and code, and never holds the profile
        back: the order is the customer's, whatever the code."""
        assert self._profile_settings is not None
        codes = self._ports.promo_codes(self._profile_settings.table)
        if isinstance(step, GiveBack):
            if codes.give_back(step.code, order.order_id):
                self._ports.count("PromoGivenBack")
                logger.info("promo code given back", extra={"order_id": order.order_id})
            return
        outcome = codes.redeem(step.code, order.customer_id, order.order_id, order.updated_at)
        if outcome.ok:
            if not outcome.again:
                self._ports.count("PromoRedeemed")
                logger.info("promo code redeemed", extra={"order_id": order.order_id})
            return
        assert outcome.refused is not None
        # Recorded (the same item again on a redelivery), then counted once by a marker.
        key = f"promo#{order.order_id}#{step.code}#refused"
        reason = f"promo code {outcome.refused}"
        self._ports.ledger.record_rejected(key, "promo", order.customer_id, reason, _now())
        if self._ports.markers.first_time(f"{key}#counted", "promo refused", _now()):
            self._ports.count("PromoRefused")
        logger.info("promo code refused", extra={"order_id": order.order_id, "reason": reason})

    def _stage_changes(self, customer_id: str, changes: Sequence[Change]) -> None:
        for change in changes:
            self._ports.count("StageChanges")
            logger.info(
                "stage changed",
                extra={"customer_id": customer_id, "old": change.old, "new": change.new},
            )

    def _send(self, message: Message) -> Outcome:
        if self._declared is not None and message.spec not in self._declared:
            # A programming error: its templates and links were not checked at cold start.
            raise UndeclaredMessage(f"{message.template} is not among this function's messages")
        return self._ports.dispatcher.dispatch(message)

    def _advance(self, step: Advance) -> list[Outcome]:
        later = self._ports.progress.advance(
            step.order_id, step.customer_id, step.rank, step.status, _now()
        )
        message = step.message
        if message is None:
            return []
        if later is None:
            return [self._send(message)]
        return [self._ports.dispatcher.skip(message, f"stale: order already {later}")]

    def _put_schedule(self, step: Schedule) -> None:
        from lifecycle.adapters.scheduler import Target

        config = self._schedules
        if config is None:
            raise SettingsError("this function has no schedule group configured")
        target = Target(step.target, config.role_arn, config.dead_letter_arn)
        self._ports.schedules(config.group).put(
            step.name, step.at, step.timezone, target, dict(step.payload)
        )

    def _cases(self) -> DynamoCases:
        if self._cases_table is None:
            raise SettingsError("CASES_TABLE is required to keep complaint cases")
        return self._ports.cases(self._cases_table)

    def _open_case(self, step: OpenCase) -> None:
        """Before its alert: an alert whose publish fails comes back with its case already
        open, and a case is never missing for an alert that went out (unless it was raised
        before cases were kept)."""
        if self._cases().record_alert(step.case):
            self._ports.count("CasesOpened")
            logger.info("case opened", extra={"case_id": step.case.case_id})
        else:
            logger.info("case already open", extra={"case_id": step.case.case_id})

    def _escalate(self, step: Escalate) -> None:
        """Claim, publish, mark. The claim is a conditional write on the case, so of two
        sweeps overlapping only one publishes, and a case acknowledged since it was read is
        not escalated. A sweep retried after its mark failed finds the alert raised and only
        marks. A publish that fails releases the claim for the retry; a process that dies
        after claiming leaves the case to a sweep after the claim's lease."""
        cases = self._cases()
        if self._ports.markers.seen(step.alert.key):
            self._mark_escalated(MarkEscalated(step.case_id, step.at))
            return
        if not cases.claim_escalation(step.case_id, step.at, step.until):
            logger.info(
                "case not escalated: answered, escalated or claimed by another sweep",
                extra={"case_id": step.case_id},
            )
            return
        try:
            self._alert(step.alert)
        except Exception:
            cases.release_escalation(step.case_id, step.until)
            raise
        self._mark_escalated(MarkEscalated(step.case_id, step.at))

    def _mark_escalated(self, step: MarkEscalated) -> None:
        if self._cases().escalated(step.case_id, step.at):
            self._ports.count("ComplaintsEscalated")
            logger.info("case escalated", extra={"case_id": step.case_id})
        else:
            logger.info("case not escalated again", extra={"case_id": step.case_id})

    def _alert(self, alert: Alert) -> None:
        """Publish the alert unless it was raised before. Marked after publishing (the mark
        retried while the invocation's time lasts, like a message's "sent" mark): only a
        process that dies in between repeats the alert, and nothing loses it."""
        if self._alerts_topic is None:
            raise SettingsError("COMPLAINTS_TOPIC_ARN is required to raise alerts")
        markers = self._ports.markers
        if markers.seen(alert.key):
            return
        self._ports.alerts(self._alerts_topic).publish(
            alert.subject, alert.text, dict(alert.attributes)
        )
        self._ports.count(alert.metric)
        error = self._ports.budget.persist(
            lambda: markers.first_time(alert.key, "alert", _now(), alert.attributes)
        )
        if error is not None:
            # It went out: failing the record now would raise it again.
            self._ports.count("AlertsUnmarked")
            logger.error(
                "alert raised but not marked",
                extra={**alert.attributes, "error": type(error).__name__},
            )
            return
        logger.info("alert raised", extra=dict(alert.attributes))
