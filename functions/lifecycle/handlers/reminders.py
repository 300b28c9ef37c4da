"""Pickup reminder Lambda, invoked by its one-time EventBridge Scheduler schedule. It re-reads
the order and sends nothing if the pickup was moved, cancelled or has begun."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from lifecycle import runtime
from lifecycle.handlers.orders import load_customer, rules
from lifecycle.journeys import orders as journey
from lifecycle.models import Order
from lifecycle.observability import logger


class ReminderPayload(BaseModel):
    order_id: str
    pickup_start: datetime


metrics = Metrics(namespace="Lifecycle", service="pickup-reminder")


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Entry point named in infra/template.yaml. Errors propagate: Scheduler retries, then
    parks the invocation in the schedules' dead-letter queue."""
    current = runtime.current(_count)
    try:
        payload = ReminderPayload.model_validate(event)
    except ValidationError:
        logger.error("reminder payload not understood; nothing sent")
        return {"status": "rejected"}
    raw = current.orders(payload.order_id)
    order = Order.model_validate(raw) if raw else None
    if order is None:
        return {"status": "skipped", "reason": "order not found"}
    why_not = journey.reminder_still_due(order, payload.pickup_start, datetime.now(UTC))
    if why_not:
        logger.info("reminder not due", extra={"order_id": order.order_id, "reason": why_not})
        return {"status": "skipped", "reason": why_not}
    customer = load_customer(current, order.customer_id, journey.STAGE)
    if customer is None:
        return {"status": "rejected", "reason": "customer record is malformed"}
    outcome = current.dispatcher.dispatch(journey.reminder_message(order, customer, rules(current)))
    return {"status": str(outcome.status), "reason": outcome.reason or ""}
