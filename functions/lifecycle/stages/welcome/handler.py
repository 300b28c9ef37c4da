"""Welcome Lambda: Customers table stream (INSERT) -> welcome email and SMS."""

from __future__ import annotations

from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.models import Customer
from lifecycle.platform import kit
from lifecycle.stages.welcome import journey, messages

UNIT: kit.Unit[None] = kit.Unit(stage=messages.STAGE, service="welcome", specs=messages.SPECS)


def on_record(record: kit.StreamRecord, stage: kit.Stage[None]) -> Plan:
    """One stream record: a new customer gets their welcome messages."""
    customer = kit.parse_new_image(record, Customer, stage=stage, id_attribute="customer_id")
    return EMPTY if customer is None else journey.plan(customer)


# Entry point named in infra/template.yaml. The event source filters to INSERT; the kit's
# event filter keeps a widened filter harmless.
handler = kit.stream(UNIT, on_record, events=frozenset({kit.StreamEvent.INSERT}))
