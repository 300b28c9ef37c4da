"""Pickup reminder Lambda, invoked by its one-time EventBridge Scheduler schedule. It re-reads
the order and sends nothing if the pickup was moved, cancelled or has begun."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from lifecycle.messaging.plan import Plan, Send
from lifecycle.models import Order
from lifecycle.platform import kit
from lifecycle.stages.orders import journey, messages
from lifecycle.stages.orders.settings import OrderSettings


class ReminderPayload(BaseModel):
    order_id: str
    pickup_start: datetime


UNIT = kit.Unit(
    stage=messages.STAGE,
    service="pickup-reminder",
    specs=(messages.PICKUP_REMINDER,),
    settings=OrderSettings.from_env,
)


def on_payload(payload: ReminderPayload, stage: kit.Stage[OrderSettings]) -> Plan:
    raw = stage.ports.orders(payload.order_id)
    if raw is None:
        return Plan.nothing("order not found")
    order = Order.model_validate(raw)
    why_not = journey.reminder_still_due(order, payload.pickup_start, datetime.now(UTC))
    if why_not:
        return Plan.nothing(why_not)
    customer = stage.load_customer(order.customer_id)
    if customer is None:
        return Plan.reject("customer record is malformed")
    return Plan(
        (Send(journey.reminder_message(order, customer, stage.settings.rules(stage.core))),)
    )


# Entry point named in infra/template.yaml. Errors propagate: Scheduler retries, then parks
# the invocation in the schedules' dead-letter queue.
handler = kit.scheduled(UNIT, on_payload, ReminderPayload)
