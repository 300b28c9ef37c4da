"""Feedback request Lambda, invoked by the one-time schedule the order flow sets after
delivery. It re-reads the order, keeps to one request per customer per quiet period, and sends
the request with five signed one-tap rating links."""

from __future__ import annotations

from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError

from lifecycle.messaging.plan import Plan, Reject, Send
from lifecycle.models import Order, describe
from lifecycle.platform import kit
from lifecycle.stages.feedback import journey, messages
from lifecycle.stages.feedback.settings import RequestSettings


class FeedbackPayload(BaseModel):
    order_id: str


UNIT = kit.Unit(
    stage=messages.STAGE,
    service="feedback",
    specs=(messages.FEEDBACK_REQUEST,),
    settings=RequestSettings.from_env,
)


def on_payload(payload: FeedbackPayload, stage: kit.Stage[RequestSettings]) -> Plan:
    raw = stage.ports.orders(payload.order_id)
    if raw is None:
        return Plan.nothing("order not found")
    try:
        order = Order.model_validate(raw)
    except ValidationError as error:  # bad data: recorded, never retried
        reason = describe(error)
        key = f"{messages.STAGE}#{payload.order_id}#rejected"
        return Plan.reject(reason, Reject(key, messages.STAGE, None, reason))
    why_not = journey.request_blocked(order)
    if why_not:
        return Plan.nothing(why_not)
    customer = stage.load_customer(order.customer_id, gone_is_final=True)
    if customer is None:
        return Plan.reject("customer record is malformed")
    signer, settings = stage.ports.signer, stage.settings
    assert signer is not None  # the kit refuses to start without the link key

    def rating_url(score: int) -> str:
        token = signer.rating_token(
            order.order_id, customer.customer_id, score, settings.rating_link_valid_days
        )
        return f"{settings.ratings_url}?{urlencode({'t': token})}"

    message = journey.request_message(order, customer, rating_url, settings.quiet_days)
    return Plan((Send(message),))


# Entry point named in infra/template.yaml. Errors propagate: the invocation is retried, then
# parked in the delayed messages' dead-letter queue.
handler = kit.scheduled(UNIT, on_payload, FeedbackPayload)
