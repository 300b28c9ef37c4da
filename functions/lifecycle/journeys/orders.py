"""Order flow: which update a status change sends, on which channel, and which delayed
messages (pickup reminder, feedback request) to schedule or cancel. Pure.

Timely updates go by SMS, what the customer keeps (the confirmation, the receipt) by email; a
customer's `channel_preference` overrides that where they have an address on that channel.
Dates, times and money are formatted with Babel in the customer's locale, time zone and the
order's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from babel.numbers import format_currency

from lifecycle.messaging import catalog
from lifecycle.messaging.catalog import MessageSpec
from lifecycle.messaging.message import Channel, Message
from lifecycle.models import Customer, Order, OrderStatus, Window

STAGE = "order"
EN_DASH = "\u2013"

# How far along an order is: an update for an earlier status than one already sent is stale.
RANK = {
    OrderStatus.SCHEDULED: 1,
    OrderStatus.PICKED_UP: 2,
    OrderStatus.IN_PROCESS: 3,
    OrderStatus.READY: 4,
    OrderStatus.OUT_FOR_DELIVERY: 5,
    OrderStatus.DELIVERED: 6,
    OrderStatus.CANCELLED: 7,
}
SPECS: dict[OrderStatus, MessageSpec] = {
    OrderStatus.SCHEDULED: catalog.ORDER_SCHEDULED,
    OrderStatus.PICKED_UP: catalog.ORDER_PICKED_UP,
    OrderStatus.IN_PROCESS: catalog.ORDER_IN_PROCESS,
    OrderStatus.READY: catalog.ORDER_READY,
    OrderStatus.OUT_FOR_DELIVERY: catalog.ORDER_OUT_FOR_DELIVERY,
    OrderStatus.DELIVERED: catalog.ORDER_DELIVERED,
    OrderStatus.CANCELLED: catalog.ORDER_CANCELLED,
}
DEFAULT_CHANNEL = {
    OrderStatus.SCHEDULED: Channel.EMAIL,
    OrderStatus.DELIVERED: Channel.EMAIL,
}


@dataclass(frozen=True)
class OrderRules:
    default_locale: str
    default_timezone: str
    send_in_process: bool = False
    reminder_lead: timedelta = timedelta(hours=2)
    feedback_delay: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Reminder:
    """Remind at `at` (customer's local time in `timezone`) about the pickup at `pickup_start`."""

    at: datetime
    timezone: str
    pickup_start: datetime


@dataclass(frozen=True)
class Decision:
    message: Message | None
    rank: int | None  # how far the order has come, if its status changed
    reminder: Reminder | None  # create or move the pickup reminder
    cancel_reminder: bool
    feedback_at: datetime | None  # schedule the feedback request


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


def babel_locale(customer: Customer, rules: OrderRules) -> Locale:
    for tag in (customer.locale, rules.default_locale, "en"):
        if not tag:
            continue
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def window_text(window: Window, zone: str, locale: Locale) -> str:
    """`Tue 24 Nov 09:00-11:00` (with an en dash) in the customer's language and time zone."""
    start = window.start.astimezone(ZoneInfo(zone))
    end = window.end.astimezone(ZoneInfo(zone))
    day = format_skeleton("MMMEd", start, locale=locale)
    return f"{day} {format_time(start, 'short', locale=locale)}{EN_DASH}" + format_time(
        end, "short", locale=locale
    )


def money(amount: Decimal, currency: str, locale: Locale) -> str:
    return format_currency(amount, currency, locale=locale)


def receipt(order: Order, locale: Locale) -> tuple[list[dict[str, Any]], str]:
    """The receipt lines and total, formatted; the total is the order's own if it has one."""
    currency = order.currency or "EUR"
    lines = [
        {
            "name": item.name,
            "quantity": format_quantity(item.quantity),
            "unit_price": money(item.unit_price, currency, locale),
            "line_total": money(item.unit_price * item.quantity, currency, locale),
        }
        for item in order.items
    ]
    total = order.total
    if total is None:
        total = sum((i.unit_price * i.quantity for i in order.items), Decimal(0))
    return lines, money(total, currency, locale)


def format_quantity(quantity: Decimal) -> str:
    return str(quantity.normalize()) if quantity % 1 else str(int(quantity))


def decide(order: Order, previous: Order | None, customer: Customer, rules: OrderRules) -> Decision:
    """What this version of the order means for the customer."""
    zone = customer.timezone or rules.default_timezone
    locale = babel_locale(customer, rules)
    changed = previous is None or previous.status != order.status
    status = order.status

    message = None
    if changed and (status is not OrderStatus.IN_PROCESS or rules.send_in_process):
        spec = SPECS[status]
        context: dict[str, Any] = {"first_name": customer.first_name, "order_id": order.order_id}
        if "pickup_window" in spec.variables:
            context["pickup_window"] = (
                window_text(order.pickup_window, zone, locale) if order.pickup_window else "-"
            )
        if "delivery_window" in spec.variables:
            context["delivery_window"] = (
                window_text(order.delivery_window, zone, locale) if order.delivery_window else "-"
            )
        if "items" in spec.variables:
            context["items"], context["total"] = receipt(order, locale)
        message = Message(
            key=f"{STAGE}#{order.order_id}#{status}",
            stage=STAGE,
            template=spec.template,
            channel=channel_for(status, customer),
            kind=spec.kind,
            customer=customer,
            context=context,
        )

    reminder = None
    window_moved = previous is not None and previous.pickup_window != order.pickup_window
    if status is OrderStatus.SCHEDULED and order.pickup_window and (changed or window_moved):
        reminder = Reminder(
            at=(order.pickup_window.start - rules.reminder_lead).astimezone(ZoneInfo(zone)),
            timezone=zone,
            pickup_start=order.pickup_window.start,
        )
    cancel = (
        changed
        and status is not OrderStatus.SCHEDULED
        and previous is not None
        and (previous.status is OrderStatus.SCHEDULED)
    )
    cancel = cancel or (changed and status is OrderStatus.CANCELLED)
    feedback_at = (
        order.updated_at + rules.feedback_delay
        if changed and status is OrderStatus.DELIVERED
        else None
    )
    return Decision(
        message=message,
        rank=RANK[status] if changed else None,
        reminder=reminder,
        cancel_reminder=cancel,
        feedback_at=feedback_at,
    )


def reminder_message(order: Order, customer: Customer, rules: OrderRules) -> Message:
    """The pickup reminder, keyed by the pickup time it is about (a moved pickup is new)."""
    assert order.pickup_window is not None
    locale = babel_locale(customer, rules)
    zone = customer.timezone or rules.default_timezone
    spec = catalog.PICKUP_REMINDER
    return Message(
        key=f"reminder#{order.order_id}#{order.pickup_window.start.isoformat()}",
        stage=STAGE,
        template=spec.template,
        channel=channel_for(OrderStatus.PICKED_UP, customer),
        kind=spec.kind,
        customer=customer,
        context={
            "first_name": customer.first_name,
            "order_id": order.order_id,
            "pickup_window": window_text(order.pickup_window, zone, locale),
        },
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
