"""SES feedback Lambda: bounce and complaint notifications from the configuration set's SNS
topic. A permanent bounce suppresses the address, a complaint unsubscribes the customer from
all marketing at once, a transient bounce is counted. Each notification counts once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle import runtime
from lifecycle.journeys.ses_feedback import Feedback, FeedbackKind, NotFeedback, parse
from lifecycle.messaging.message import Channel
from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Source
from lifecycle.observability import logger

metrics = Metrics(namespace="Lifecycle", service="ses-feedback")


def apply(feedback: Feedback, stores: runtime.Stores, now: datetime) -> str:
    """Act on one notification; returns what was done (for the log)."""
    if feedback.kind is FeedbackKind.PERMANENT_BOUNCE:
        for address in feedback.recipients:
            stores.suppressions.suppress(
                Channel.EMAIL,
                address,
                f"permanent bounce ({feedback.detail}) at {feedback.at}",
                now,
            )
        done = "suppressed"
    elif feedback.kind is FeedbackKind.TRANSIENT_BOUNCE:
        for address in feedback.recipients:
            stores.suppressions.count_soft_bounce(
                address, f"transient bounce ({feedback.detail}) at {feedback.at}", now
            )
        done = "counted"
    elif feedback.customer_id:
        changes = [
            Change(Channel.EMAIL, ALL_TOPICS, Action.UNSUBSCRIBE),
            Change(Channel.SMS, ALL_TOPICS, Action.UNSUBSCRIBE),
        ]
        stores.preferences.apply(
            feedback.customer_id, changes, Source.SES_COMPLAINT, now, f"ses-{feedback.feedback_id}"
        )
        done = "unsubscribed from all marketing"
    else:
        # Mail sent without our customer tag: stop mailing the address instead.
        for address in feedback.recipients:
            stores.suppressions.suppress(
                Channel.EMAIL, address, f"complaint ({feedback.detail}) at {feedback.at}", now
            )
        done = "suppressed (no customer tag)"
    return done


def _handle(notification: dict[str, Any], stores: runtime.Stores) -> None:
    try:
        feedback = parse(notification)
    except NotFeedback as other:
        logger.debug("ignored SES event", extra={"event_type": str(other)})
        return
    key = f"ses-feedback#{feedback.feedback_id}"
    now = datetime.now(UTC)
    if feedback.kind is FeedbackKind.TRANSIENT_BOUNCE:
        # A tally is not safe to repeat: mark first, so a replay never counts twice.
        if not stores.ledger.first_time(key, "ses-feedback", now):
            logger.info("SES feedback already handled", extra={"feedback_id": feedback.feedback_id})
            return
        done = apply(feedback, stores, now)
    else:
        if stores.ledger.get(key) is not None:
            logger.info("SES feedback already handled", extra={"feedback_id": feedback.feedback_id})
            return
        # Acting, then marking: a crash in between replays the notification, and suppressing
        # or unsubscribing again changes nothing.
        done = apply(feedback, stores, now)
        stores.ledger.first_time(key, "ses-feedback", now)
    metrics.add_metric(
        name=f"Ses{feedback.kind.title().replace('-', '')}", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "SES feedback handled",
        extra={
            "feedback_id": feedback.feedback_id,
            "kind": str(feedback.kind),
            "customer_id": feedback.customer_id,
            "recipients": len(feedback.recipients),
            "done": done,
        },
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    """Entry point named in infra/template.yaml (SNS subscription). Errors propagate, so Lambda
    retries the asynchronous invocation and then parks it in the dead-letter queue."""
    stores = runtime.stores()
    for record in event.get("Records", []):
        message = record["Sns"]["Message"]
        try:
            notification = json.loads(message)
        except json.JSONDecodeError:
            logger.error("SNS message is not JSON; ignored", extra={"length": len(message)})
            continue
        _handle(notification, stores)
