"""Welcome: a new customer gets a welcome email, and an SMS if they gave a phone number.

Pure decisions only. Whether the SMS may go (consent) and whether an address is suppressed is
the contact policy's call, so a refused SMS is still recorded with its reason.
"""

from __future__ import annotations

from lifecycle.messaging.message import Channel
from lifecycle.messaging.plan import Plan, Send
from lifecycle.models import Customer
from lifecycle.stages.welcome.messages import STAGE, WELCOME


def plan(customer: Customer) -> Plan:
    """The welcome messages for a customer who was just created."""
    addresses = {Channel.EMAIL: customer.email, Channel.SMS: customer.phone}
    return Plan(
        tuple(
            Send(
                WELCOME.message(
                    f"{STAGE}#{customer.customer_id}#{channel}",
                    customer,
                    channel,
                    {"first_name": customer.first_name},
                )
            )
            for channel in WELCOME.channels
            if addresses[channel] is not None
        )
    )
