"""Order-flow Lambda: Orders table stream -> status updates, receipts, and the delayed
pickup reminder and feedback request as one-time EventBridge Scheduler schedules."""

from __future__ import annotations

from datetime import UTC, datetime

from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.models import Order
from lifecycle.platform import kit
from lifecycle.platform.composition import Ports
from lifecycle.platform.effects import Effects
from lifecycle.stages.orders import journey, messages
from lifecycle.stages.orders.settings import OrderSettings

UNIT = kit.Unit(
    stage=messages.STAGE, service="orders", specs=messages.SPECS, settings=OrderSettings.from_env
)


def effects(ports: Ports, settings: OrderSettings) -> Effects:
    return Effects(ports, schedules=settings.schedules)


def on_record(record: kit.StreamRecord, stage: kit.Stage[OrderSettings]) -> Plan:
    order = kit.parse_new_image(record, Order, stage=stage, id_attribute="order_id")
    if order is None:
        return EMPTY
    customer = stage.load_customer(order.customer_id)
    if customer is None:
        return EMPTY
    previous = kit.old_image(record, Order)
    return journey.decide(
        order, previous, customer, stage.settings.rules(stage.core), datetime.now(UTC)
    )


# Entry point named in infra/template.yaml; reports partial batch failures.
handler = kit.stream(
    UNIT,
    on_record,
    events=frozenset({kit.StreamEvent.INSERT, kit.StreamEvent.MODIFY}),
    effects=effects,
)
