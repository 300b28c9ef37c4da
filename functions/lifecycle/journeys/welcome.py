"""Welcome: a new customer gets a welcome email, and an SMS if they gave a phone number.

Pure decisions only. Whether the SMS may go (consent) and whether an address is suppressed is
the contact policy's call, so a refused SMS is still recorded with its reason.
"""

from __future__ import annotations

from lifecycle.messaging.catalog import WELCOME
from lifecycle.messaging.message import Channel, Message
from lifecycle.models import Customer

STAGE = WELCOME.stage


def messages(customer: Customer) -> list[Message]:
    """The welcome messages for a customer who was just created."""
    context = {"first_name": customer.first_name}
    addresses = {Channel.EMAIL: customer.email, Channel.SMS: customer.phone}
    return [
        Message(
            key=f"{STAGE}#{customer.customer_id}#{channel}",
            stage=STAGE,
            template=WELCOME.template,
            channel=channel,
            kind=WELCOME.kind,
            customer=customer,
            context=context,
        )
        for channel in WELCOME.channels
        if addresses[channel] is not None
    ]
