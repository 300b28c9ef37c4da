"""Deferred send Lambda: the dispatcher's own function, invoked by the one-time schedule it made
for a message held back by quiet hours or the marketing cap.

It reloads the customer (fresh consent, address and time zone), makes the message again from
its spec in the catalog (a campaign's, which no catalog lists, from its template folder under
the stack's templates), and dispatches it through the same dispatcher, so consent,
preferences, suppressions, caps and quiet hours are all checked again at send time: a
customer who withdrew consent overnight gets nothing, one still capped waits again (never past
the maximum delay). An order message whose order has moved on meanwhile (a later status, a
pickup cancelled or moved) is skipped, as a late stream record would be. The ledger key is the
message's own, so a schedule that fires twice sends once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.deferral import CodecError, Deferred
from lifecycle.messaging.message import Channel, Message, MessageSpec, SpecError
from lifecycle.messaging.plan import Plan, Reject, Send, Skip
from lifecycle.models import Order
from lifecycle.platform import kit
from lifecycle.platform.composition import may_defer
from lifecycle.stages.announcements import messages as announcements
from lifecycle.stages.orders import journey as orders
from lifecycle.stages.orders import messages as order_messages

STAGE = "deferred"
# Every message the dispatcher may defer: the ones this function's cold start checks.
SPECS = tuple(spec for spec in CATALOG.values() if may_defer(spec))


class DeferredPayload(BaseModel):
    """What `messaging.deferral.payload` wrote into the schedule."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int
    message_key: str = Field(min_length=1)
    template: str = Field(min_length=1)
    channel: Channel
    customer_id: str = Field(min_length=1)
    context: dict[str, Any]
    cap: dict[str, Any] | None = None
    order_id: str | None = None
    campaign: str | None = None
    sequence: str | None = None
    fallback: str | None = None
    deliver_by: datetime | None = None
    deferred_since: datetime
    deferred_until: datetime

    def read(self) -> Deferred:
        return Deferred(
            message_key=self.message_key,
            channel=self.channel,
            context=self.context,
            cap=self.cap,
            order_id=self.order_id,
            campaign=self.campaign,
            sequence=self.sequence,
            fallback=self.fallback,
            deliver_by=self.deliver_by,
            deferred_since=self.deferred_since,
            deferred_until=self.deferred_until,
        )


UNIT: kit.Unit[None] = kit.Unit(stage=STAGE, service="deferred-send", specs=SPECS)


def on_payload(payload: DeferredPayload, stage: kit.Stage[None]) -> Plan:
    spec = _spec(payload.template, stage)
    if spec is None:
        return _rejected(payload, f"not a message that can be deferred: {payload.template}")
    customer = stage.load_customer(payload.customer_id, gone_is_final=True)
    if customer is None:
        return Plan.reject("customer no longer exists or is malformed")
    try:
        message = payload.read().message(spec, customer)
    except (SpecError, CodecError, KeyError, TypeError, ValueError) as error:
        # A payload written by an older release for a spec that has changed since: bad data.
        return _rejected(payload, f"deferred message cannot be made again: {error}")
    why_not = _no_longer_due(message, stage)
    if why_not:
        return Plan((Skip(message, why_not),))
    return Plan((Send(message),))


def _spec(template: str, stage: kit.Stage[None]) -> MessageSpec | None:
    """The spec of a deferred message's template: the catalog's, else a campaign's, made from
    its folder as deployed (every campaign message is marketing, so it may be deferred; the
    layout and link configuration were checked at the cold start for the catalog's marketing
    messages). None for any other template."""
    spec = CATALOG.get(template)
    if spec is not None:
        return spec if spec in SPECS else None
    found = announcements.spec_in(stage.core.templates_dir, template)
    if found is not None:
        stage.effects.declare_found(found)
    return found


def _no_longer_due(message: Message, stage: kit.Stage[None]) -> str | None:
    """Why the stage would not send this message now, or None."""
    if message.stage != order_messages.STAGE or message.order_id is None:
        return None
    raw = stage.ports.orders(message.order_id)
    if raw is None:
        return "order no longer exists"
    try:
        order = Order.model_validate(raw)
    except ValidationError:
        return "order record is malformed"
    return orders.still_due(order, message.template, message.deliver_by)


def _rejected(payload: DeferredPayload, reason: str) -> Plan:
    record = Reject(payload.message_key, STAGE, payload.customer_id, reason)
    return Plan.reject(reason, record)


# Entry point named in infra/template.yaml. Errors propagate: Scheduler retries, then parks the
# invocation in the deferred messages' dead-letter queue.
handler = kit.scheduled(UNIT, on_payload, DeferredPayload)
