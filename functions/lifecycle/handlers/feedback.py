"""Feedback request Lambda, invoked by the one-time schedule the order flow sets after
delivery. It re-reads the order, keeps to one request per customer per quiet period, and sends
the request with five signed one-tap rating links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from lifecycle import runtime
from lifecycle.handlers.orders import load_customer
from lifecycle.journeys import feedback as journey
from lifecycle.models import Order, describe
from lifecycle.observability import logger
from lifecycle.settings import SettingsError


class FeedbackPayload(BaseModel):
    order_id: str


metrics = Metrics(namespace="Lifecycle", service="feedback")


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Entry point named in infra/template.yaml. Errors propagate: the invocation is retried,
    then parked in the delayed messages' dead-letter queue."""
    current = runtime.current(_count)
    settings = current.settings.feedback
    if current.signer is None or settings.ratings_url is None:
        raise SettingsError("LINK_SIGNING_SECRET and RATINGS_URL are required for rating links")
    try:
        payload = FeedbackPayload.model_validate(event)
    except ValidationError:
        logger.error("feedback payload not understood; nothing sent")
        return {"status": "rejected"}
    raw = current.orders(payload.order_id)
    if raw is None:
        return {"status": "skipped", "reason": "order not found"}
    try:
        order = Order.model_validate(raw)
    except ValidationError as error:  # bad data: recorded, never retried
        reason = describe(error)
        key = f"{journey.STAGE}#{payload.order_id}#rejected"
        current.ledger.record_rejected(key, journey.STAGE, None, reason, datetime.now(UTC))
        _count("RecordsRejected")
        return {"status": "rejected", "reason": reason}
    why_not = journey.request_blocked(order)
    if why_not:
        logger.info("feedback not due", extra={"order_id": order.order_id, "reason": why_not})
        return {"status": "skipped", "reason": why_not}
    customer = load_customer(current, order.customer_id, journey.STAGE, gone_is_final=True)
    if customer is None:
        return {"status": "rejected", "reason": "customer record is malformed"}

    signer, base = current.signer, settings.ratings_url

    def rating_url(score: int) -> str:
        token = signer.rating_token(
            order.order_id, customer.customer_id, score, settings.rating_link_valid_days
        )
        return f"{base}?{urlencode({'t': token})}"

    message = journey.request_message(order, customer, rating_url, settings.quiet_days)
    outcome = current.dispatcher.dispatch(message)
    return {"status": str(outcome.status), "reason": outcome.reason or ""}
