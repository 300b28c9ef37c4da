"""Order flow: which update a status change sends, on which channel, and which delayed
messages (pickup reminder, feedback request) to schedule or cancel. Pure.

Timely updates go by SMS, what the customer keeps (the confirmation, the receipt) by email; a
customer's `channel_preference` overrides that where they have an address on that channel.
Contexts carry raw values: windows in the customer's time zone, amounts with the order's
currency, quantities as numbers. The renderer formats them in the locale of the copy it picks
(messaging/formatting.py), so a message's dates and money are in the language of its words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle.messaging.formatting import Money, in_zone
from lifecycle.messaging.message import Channel, Message, MessageSpec
from lifecycle.messaging.plan import Advance, Cancel, Plan, Schedule, Step
from lifecycle.messaging.zones import recipient_zone
from lifecycle.models import PROGRESS, Customer, Order, OrderStatus
from lifecycle.stages.orders import messages
from lifecycle.stages.orders.messages import STAGE

# How far along an order is: an update for an earlier status than one already sent is stale.
RANK = PROGRESS
SPECS: dict[OrderStatus, MessageSpec] = {
    OrderStatus.SCHEDULED: messages.ORDER_SCHEDULED,
    OrderStatus.PICKED_UP: messages.ORDER_PICKED_UP,
    OrderStatus.IN_PROCESS: messages.ORDER_IN_PROCESS,
    OrderStatus.READY: messages.ORDER_READY,
    OrderStatus.OUT_FOR_DELIVERY: messages.ORDER_OUT_FOR_DELIVERY,
    OrderStatus.DELIVERED: messages.ORDER_DELIVERED,
    OrderStatus.CANCELLED: messages.ORDER_CANCELLED,
}
STATUS_OF = {spec.template: status for status, spec in SPECS.items()}
DEFAULT_CHANNEL = {
    OrderStatus.SCHEDULED: Channel.EMAIL,
    OrderStatus.DELIVERED: Channel.EMAIL,
}


@dataclass(frozen=True)
class OrderRules:
    default_timezone: str
    send_in_process: bool = False
    reminder_lead: timedelta = timedelta(hours=2)
    feedback_delay: timedelta = timedelta(hours=24)
    reminder_target: str | None = None  # the reminder function's ARN, if reminders are on
    feedback_target: str | None = None  # the feedback request function's ARN


def zone_of(customer: Customer, rules: OrderRules) -> str:
    """The customer's time zone: theirs, their phone's, else the stack's (messaging/zones.py)."""
    return recipient_zone(customer, rules.default_timezone).name


def channel_for(status: OrderStatus, customer: Customer) -> Channel:
    """The status's default channel, unless the customer prefers another they can get."""
    preferred = customer.channel_preference
    if preferred == Channel.SMS and customer.phone:
        return Channel.SMS
    if preferred == Channel.EMAIL and customer.email:
        return Channel.EMAIL
    default = DEFAULT_CHANNEL.get(status, Channel.SMS)
    if default is Channel.SMS and not customer.phone:
        return Channel.EMAIL
    if default is Channel.EMAIL and not customer.email:
        return Channel.SMS
    return default


def receipt(order: Order) -> tuple[list[dict[str, Any]], Money]:
    """The receipt lines and total (raw amounts); the total is the order's own if it has one."""
    currency = order.currency or "EUR"
    lines = [
        {
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": Money(item.unit_price, currency),
            "line_total": Money(item.unit_price * item.quantity, currency),
        }
        for item in order.items
    ]
    total = order.total
    if total is None:
        total = sum((i.unit_price * i.quantity for i in order.items), Decimal(0))
    return lines, Money(total, currency)


def _update(order: Order, customer: Customer, rules: OrderRules) -> Message | None:
    """The update this status sends, if any."""
    status = order.status
    if status is OrderStatus.IN_PROCESS and not rules.send_in_process:
        return None
    zone = zone_of(customer, rules)
    spec = SPECS[status]
    context: dict[str, Any] = {"first_name": customer.first_name, "order_id": order.order_id}
    if "pickup_window" in spec.variables:
        context["pickup_window"] = (
            in_zone(order.pickup_window, zone) if order.pickup_window else None
        )
    if "delivery_window" in spec.variables:
        context["delivery_window"] = (
            in_zone(order.delivery_window, zone) if order.delivery_window else None
        )
    if "items" in spec.variables:
        context["items"], context["total"] = receipt(order)
    return spec.message(
        f"{STAGE}#{order.order_id}#{status}",
        customer,
        channel_for(status, customer),
        context,
        order_id=order.order_id,
    )


def reminder_name(order_id: str) -> str:
    return f"pickup-{order_id}"


def decide(
    order: Order, previous: Order | None, customer: Customer, rules: OrderRules, now: datetime
) -> Plan:
    """What this version of the order means for the customer: the update (sent only if no
    later status was reached before), and the reminder and feedback schedules."""
    zone = zone_of(customer, rules)
    changed = previous is None or previous.status != order.status
    status = order.status
    steps: list[Step] = []
    if changed:
        steps.append(
            Advance(
                order.order_id,
                customer.customer_id,
                RANK[status],
                str(status),
                _update(order, customer, rules),
            )
        )
    was_scheduled = previous is not None and previous.status is OrderStatus.SCHEDULED
    if changed and (
        status is OrderStatus.CANCELLED or (status is not OrderStatus.SCHEDULED and was_scheduled)
    ):
        steps.append(Cancel(reminder_name(order.order_id)))
    window_moved = previous is not None and previous.pickup_window != order.pickup_window
    window = order.pickup_window
    if (
        status is OrderStatus.SCHEDULED
        and window is not None
        and (changed or window_moved)
        and rules.reminder_target
    ):
        at = (window.start - rules.reminder_lead).astimezone(ZoneInfo(zone))
        if at > now:
            steps.append(
                Schedule(
                    reminder_name(order.order_id),
                    at,
                    zone,
                    rules.reminder_target,
                    {"order_id": order.order_id, "pickup_start": window.start.isoformat()},
                )
            )
    if changed and status is OrderStatus.DELIVERED and rules.feedback_target:
        steps.append(
            Schedule(
                f"feedback-{order.order_id}",
                (order.updated_at + rules.feedback_delay).astimezone(UTC),
                "UTC",
                rules.feedback_target,
                {"order_id": order.order_id},
            )
        )
    return Plan(tuple(steps))


def reminder_message(order: Order, customer: Customer, rules: OrderRules) -> Message:
    """The pickup reminder, keyed by the pickup time it is about (a moved pickup is new); it
    must arrive before the pickup begins (held back by quiet hours past then, it is skipped)."""
    assert order.pickup_window is not None
    zone = zone_of(customer, rules)
    return messages.PICKUP_REMINDER.message(
        f"reminder#{order.order_id}#{order.pickup_window.start.isoformat()}",
        customer,
        channel_for(OrderStatus.PICKED_UP, customer),
        {
            "first_name": customer.first_name,
            "order_id": order.order_id,
            "pickup_window": in_zone(order.pickup_window, zone),
        },
        order_id=order.order_id,
        deliver_by=order.pickup_window.start,
    )


def reminder_still_due(order: Order, pickup_start: datetime, now: datetime) -> str | None:
    """Why a reminder firing now should not be sent, or None if it should."""
    if order.status is not OrderStatus.SCHEDULED:
        return f"order is {order.status}"
    if order.pickup_window is None or order.pickup_window.start != pickup_start:
        return "pickup was moved"
    if now >= pickup_start:
        return "pickup window has started"
    return None


def still_due(order: Order, template: str, deliver_by: datetime | None) -> str | None:
    """Why an order message deferred earlier (quiet hours) should not go now that its time
    has come, or None: the order moved past its status meanwhile (the same rule as a late
    stream record), or its pickup reminder's pickup was cancelled or moved."""
    if template == messages.PICKUP_REMINDER.template:
        if order.status is not OrderStatus.SCHEDULED:
            return f"order is {order.status}"
        if order.pickup_window is None or order.pickup_window.start != deliver_by:
            return "pickup was moved"
        return None
    status = STATUS_OF.get(template)
    if status is not None and RANK[order.status] > RANK[status]:
        return f"stale: order already {order.status}"
    return None
