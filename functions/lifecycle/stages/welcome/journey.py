"""Welcome: a new customer gets a welcome email, and an SMS if they gave a phone number.

Pure decisions only. Whether the SMS may go (consent) and whether an address is suppressed is
the contact policy's call, so a refused SMS is still recorded with its reason.
"""

from __future__ import annotations

from lifecycle.messaging.message import Channel
from lifecycle.messaging.plan import Plan, Send, Skip
from lifecycle.models import Customer
from lifecycle.stages.welcome.messages import STAGE, WELCOME

# Why a customer an earlier system welcomed (an imported one: `welcomed_at`) gets none.
WELCOMED_BEFORE = "welcomed before: welcomed_at is set"


def plan(customer: Customer) -> Plan:
    """The welcome messages for a customer who was just created (recorded as skipped for one
    an earlier system already welcomed)."""
    addresses = {Channel.EMAIL: customer.email, Channel.SMS: customer.phone}
    messages = [
        WELCOME.message(
            f"{STAGE}#{customer.customer_id}#{channel}",
            customer,
            channel,
            {"first_name": customer.first_name},
        )
        for channel in WELCOME.channels
        if addresses[channel] is not None
    ]
    if customer.welcomed_at is not None:
        return Plan(tuple(Skip(message, WELCOMED_BEFORE) for message in messages))
    return Plan(tuple(Send(message) for message in messages))
