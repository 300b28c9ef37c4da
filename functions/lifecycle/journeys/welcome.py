"""Welcome: a new customer gets a welcome email, and an SMS if they gave a phone number.

Pure decisions only. Whether the SMS may go (consent) and whether an address is suppressed is
the contact policy's call, so a refused SMS is still recorded with its reason.
"""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, Message
from lifecycle.models import Customer

STAGE = "welcome"


def messages(customer: Customer) -> list[Message]:
    """The welcome messages for a customer who was just created."""
    context = {"first_name": customer.first_name}
    wanted = []
    if customer.email is not None:
        wanted.append(Channel.EMAIL)
    if customer.phone is not None:
        wanted.append(Channel.SMS)
    return [
        Message(
            key=f"{STAGE}#{customer.customer_id}#{channel}",
            stage=STAGE,
            template=STAGE,
            channel=channel,
            kind=Kind.SERVICE,
            customer=customer,
            context=context,
        )
        for channel in wanted
    ]
