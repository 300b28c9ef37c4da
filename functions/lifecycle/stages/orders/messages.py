"""The order flow's messages: one per status, and the pickup reminder."""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, MessageSpec

STAGE = "order"


def _order(template: str, *extra: str) -> MessageSpec:
    """Order messages go by SMS or email, whichever the status and the customer call for."""
    return MessageSpec(
        template=template,
        stage=STAGE,
        kind=Kind.TRANSACTIONAL,
        channels=(Channel.EMAIL, Channel.SMS),
        variables=frozenset({"first_name", "order_id", *extra}),
        sms_segments=2,
    )


ORDER_SCHEDULED = _order("order_scheduled", "pickup_window")
ORDER_PICKED_UP = _order("order_picked_up")
ORDER_IN_PROCESS = _order("order_in_process")
ORDER_READY = _order("order_ready")
ORDER_OUT_FOR_DELIVERY = _order("order_out_for_delivery", "delivery_window")
# Windows are `Span`s in the customer's time zone (None before one is set). The receipt:
# `items` is a list of {name, quantity (Decimal), unit_price, line_total (Money)}, `total` a
# Money. The renderer formats them all in the locale of the copy.
ORDER_DELIVERED = _order("order_delivered", "items", "total")
ORDER_CANCELLED = _order("order_cancelled")
PICKUP_REMINDER = _order("pickup_reminder", "pickup_window")

SPECS = (
    ORDER_SCHEDULED,
    ORDER_PICKED_UP,
    ORDER_IN_PROCESS,
    ORDER_READY,
    ORDER_OUT_FOR_DELIVERY,
    ORDER_DELIVERED,
    ORDER_CANCELLED,
    PICKUP_REMINDER,
)
