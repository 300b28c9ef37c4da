"""Escalation sweep Lambda (every 15 minutes): complaint cases nobody acknowledged within
their business hours get one escalation alert each.

It reads only the cases due (the cases table's sparse `due` index), publishes each one's
escalation once (the alert-once marker `escalation#<case_id>`), then marks the case escalated,
which takes it out of the index. A sweep that fails part way is retried by Scheduler: cases
already marked are not due any more, and one published but not marked is marked without a
second alert. An acknowledged case has left the index and never escalates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from lifecycle.messaging.plan import Alert, MarkEscalated, Plan, Step
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


class SweepPayload(BaseModel):
    """EventBridge Scheduler's event: nothing in it is needed (the clock says what is due)."""


def effects(ports: Ports, settings: EscalationSettings) -> Effects:
    return Effects(
        ports, alerts_topic=settings.complaints_topic_arn, cases_table=settings.cases.table
    )


def escalation_plan(
    due: list[Case], now: datetime, timezone: str, links: dict[str, CaseLinks]
) -> Plan:
    """Each due case's escalation alert (once per case), then its mark."""
    steps: list[Step] = []
    for case in due:
        subject, text, attributes = escalation_text(case, links.get(case.case_id), timezone)
        key = escalation_key(case.case_id)
        steps += [
            Alert(key, subject, text, attributes, metric="EscalationAlerts"),
            MarkEscalated(case.case_id, now),
        ]
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
