"""SES feedback Lambda: the events the configuration set publishes to its SNS topic.

A permanent bounce suppresses the address, a complaint unsubscribes the customer from all
marketing at once, a transient bounce is counted (each notification once, as before). Every
event, those included, is also counted as engagement (`messaging/engagement.py`): on its
message's ledger item and in its day's aggregate, once per SNS MessageId."""

from __future__ import annotations

import json

from lifecycle.messaging import engagement
from lifecycle.messaging.plan import EMPTY, Plan, RecordEngagement
from lifecycle.observability import logger
from lifecycle.platform import composition, kit
from lifecycle.platform.effects import Effects
from lifecycle.stages.subscribers.notifications import NotFeedback, feedback_plan, parse
from lifecycle.stages.subscribers.settings import FeedbackSettings

UNIT: kit.Unit[FeedbackSettings] = kit.Unit(
    stage="subscribers", service="ses-feedback", settings=FeedbackSettings.from_env
)


def effects(ports: composition.Ports, settings: FeedbackSettings) -> Effects:
    return Effects(ports, engagement_table=settings.engagement_table)


def on_notification(notification: kit.Notification, stage: kit.Stage[FeedbackSettings]) -> Plan:
    try:
        record = json.loads(notification.message)
    except json.JSONDecodeError:
        logger.error(
            "SNS message is not JSON; ignored", extra={"length": len(notification.message)}
        )
        return EMPTY
    if not isinstance(record, dict):
        logger.error("SNS message is not an SES event; ignored")
        return EMPTY
    counted = _engagement(record, notification, stage.settings)
    try:
        feedback = parse(record)
    except NotFeedback as other:
        logger.debug("SES event", extra={"event_type": str(other)})
        return Plan(counted)
    logger.info(
        "SES feedback",
        extra={
            "feedback_id": feedback.feedback_id,
            "kind": str(feedback.kind),
            "customer_id": feedback.customer_id,
            "recipients": len(feedback.recipients),
        },
    )
    # Counted first: a suppression that fails and comes back is then counted once, not lost.
    return Plan(counted + feedback_plan(feedback).steps)


def _engagement(
    record: dict[str, object], notification: kit.Notification, settings: FeedbackSettings
) -> tuple[RecordEngagement, ...]:
    event_id = engagement.event_id_for(notification.message_id, notification.message)
    try:
        event = engagement.parse(record, event_id)
    except engagement.NotEngagement as other:
        logger.debug("not an engagement event", extra={"event_type": str(other)})
        return ()
    if event.link is not None and engagement.untracked(event.link, settings.untracked_links):
        # Its anchor lacks `ses:no-track` (lint would have said so): an unsubscribe or a
        # rating is not engagement, and its link is never recorded.
        logger.warning("click on an untracked link ignored", extra={"stage": event.stage})
        return ()
    return (RecordEngagement(event),)


# Entry point named in infra/template.yaml (SNS subscription). Errors propagate, so Lambda
# retries the asynchronous invocation and then parks it in the dead-letter queue.
handler = kit.notifications(UNIT, on_notification, effects=effects)
