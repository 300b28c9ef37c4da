"""SES feedback Lambda: bounce and complaint notifications from the configuration set's SNS
topic. A permanent bounce suppresses the address, a complaint unsubscribes the customer from
all marketing at once, a transient bounce is counted. Each notification counts once."""

from __future__ import annotations

import json

from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.stages.subscribers.notifications import NotFeedback, feedback_plan, parse

UNIT: kit.Unit[None] = kit.Unit(stage="subscribers", service="ses-feedback")


def on_notification(message: str, stage: kit.Stage[None]) -> Plan:
    try:
        notification = json.loads(message)
    except json.JSONDecodeError:
        logger.error("SNS message is not JSON; ignored", extra={"length": len(message)})
        return EMPTY
    try:
        feedback = parse(notification)
    except NotFeedback as other:
        logger.debug("ignored SES event", extra={"event_type": str(other)})
        return EMPTY
    logger.info(
        "SES feedback",
        extra={
            "feedback_id": feedback.feedback_id,
            "kind": str(feedback.kind),
            "customer_id": feedback.customer_id,
            "recipients": len(feedback.recipients),
        },
    )
    return feedback_plan(feedback)


# Entry point named in infra/template.yaml (SNS subscription). Errors propagate, so Lambda
# retries the asynchronous invocation and then parks it in the dead-letter queue.
handler = kit.notifications(UNIT, on_notification)
