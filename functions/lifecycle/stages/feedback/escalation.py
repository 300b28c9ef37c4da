"""Escalation sweep Lambda (every 15 minutes): complaint cases nobody acknowledged within
their business hours get one escalation alert each.

It reads only the cases due (the cases table's sparse `due` index), claims each one with a
conditional write on the case (not escalated, not acknowledged, no other sweep's unexpired
claim), publishes its escalation once (the alert-once marker `escalation#<case_id>`), then
marks the case escalated, which takes it out of the index. Two overlapping sweeps publish one
escalation; a case acknowledged after it was read is not escalated. A sweep that fails part
way is retried by Scheduler: cases already marked are not due any more, and one published but
not marked is marked without a second alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from lifecycle.messaging.plan import Alert, Escalate, Plan, Step
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.composition import Ports
from lifecycle.platform.effects import Effects
from lifecycle.stages.feedback import messages
from lifecycle.stages.feedback.cases import (
    Case,
    CaseLinks,
    escalation_key,
    escalation_text,
    signed_links,
)
from lifecycle.stages.feedback.settings import EscalationSettings

UNIT = kit.Unit(
    stage=messages.STAGE, service="case-escalation", settings=EscalationSettings.from_env
)
# Cases escalated per sweep: a few calls each, well inside the timeout; more wait 15 minutes.
PER_SWEEP = 100
# How long a sweep's claim on one case holds: far past one publish and mark (the function's
# timeout is 60 s), well inside the 15 minutes to the next sweep.
CLAIM = timedelta(minutes=5)


class SweepPayload(BaseModel):
    """EventBridge Scheduler's event: nothing in it is needed (the clock says what is due)."""


def effects(ports: Ports, settings: EscalationSettings) -> Effects:
    return Effects(
        ports, alerts_topic=settings.complaints_topic_arn, cases_table=settings.cases.table
    )


def escalation_plan(
    due: list[Case], now: datetime, timezone: str, links: dict[str, CaseLinks]
) -> Plan:
    """Each due case's escalation: claimed, its alert raised (once per case), then marked."""
    steps: list[Step] = []
    for case in due:
        subject, text, attributes = escalation_text(case, links.get(case.case_id), timezone)
        key = escalation_key(case.case_id)
        alert = Alert(key, subject, text, attributes, metric="EscalationAlerts")
        steps.append(Escalate(case.case_id, alert, now, now + CLAIM))
    return Plan(tuple(steps))


def on_payload(_: SweepPayload, stage: kit.Stage[EscalationSettings]) -> Plan:
    settings = stage.settings.cases
    now = datetime.now(UTC)
    due = stage.ports.cases(settings.table).due(now, PER_SWEEP)
    logger.info("cases due for escalation", extra={"due": len(due)})
    if not due:
        return Plan.nothing("no case due for escalation")
    signer = stage.ports.signer
    assert signer is not None  # CaseSettings requires LINK_SIGNING_SECRET
    links = {
        case.case_id: signed_links(signer, settings.url, settings.link_valid_days, case.case_id)
        for case in due
    }
    return escalation_plan(due, now, stage.core.default_timezone, links)


# Entry point named in infra/template.yaml.
handler = kit.scheduled(UNIT, on_payload, SweepPayload, effects=effects)
