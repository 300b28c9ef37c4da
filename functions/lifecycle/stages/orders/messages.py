"""The order flow's messages: one per status, and the pickup reminder.

In the recipient's quiet hours (21:00-08:00 by default) an SMS update waits for them to end,
unless it is about something happening now: `out_for_delivery` (the driver is on the way; at
08:00 the news would be moot) goes at once. The others wait: a booking confirmation, a
pickup or cleaning done, clothes ready, a receipt or a cancellation (usually the customer's own
doing) can all be read at breakfast. The pickup reminder waits too, but carries its pickup's
start as its deadline: one that could not arrive before the pickup begins is skipped.
"""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, MessageSpec, Quiet

STAGE = "order"


def _order(template: str, *extra: str, quiet: Quiet = Quiet.DEFER) -> MessageSpec:
    """Order messages go by SMS or email, whichever the status and the customer call for."""
    return MessageSpec(
        template=template,
        stage=STAGE,
        kind=Kind.TRANSACTIONAL,
        channels=(Channel.EMAIL, Channel.SMS),
        variables=frozenset({"first_name", "order_id", *extra}),
        sms_segments=2,
        quiet=quiet,
    )


ORDER_SCHEDULED = _order("order_scheduled", "pickup_window")
ORDER_PICKED_UP = _order("order_picked_up")
ORDER_IN_PROCESS = _order("order_in_process")
ORDER_READY = _order("order_ready")
ORDER_OUT_FOR_DELIVERY = _order("order_out_for_delivery", "delivery_window", quiet=Quiet.SEND)
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
