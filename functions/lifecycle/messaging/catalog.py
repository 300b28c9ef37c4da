"""Every message the product can send: its template folder, kind, channels and the context it
passes to its templates. Journeys build messages from these specs; `lifecycle lint` checks every
template against them, and `lifecycle preview` renders each one."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.messaging.message import Channel, Kind
from lifecycle.messaging.preferences import TOPICS
from lifecycle.messaging.renderer import EMAIL_PARTS, SMS_PART

# Locales every message ships in. English lives at the message folder's root; the others
# are sub-folders with the same files.
SUPPORTED_LOCALES = ("en", "nl", "zh-TW", "tr")


@dataclass(frozen=True)
class MessageSpec:
    template: str  # folder under templates/
    stage: str
    kind: Kind
    channels: tuple[Channel, ...]
    variables: frozenset[str]  # what the journey puts in the context, beside the renderer's own
    topic: str | None = None  # marketing messages belong to a topic
    sms_segments: int = 1  # most SMS segments one message may take (each is billed)

    def __post_init__(self) -> None:
        if self.kind is Kind.MARKETING and self.topic is None:
            raise ValueError(f"{self.template}: a marketing message must belong to a topic")
        if self.topic is not None and self.topic not in TOPICS:
            raise ValueError(f"{self.template}: unknown topic {self.topic!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        """The template files this message needs in its folder (and each locale folder)."""
        parts: tuple[str, ...] = ()
        if Channel.EMAIL in self.channels:
            parts += EMAIL_PARTS
        if Channel.SMS in self.channels:
            parts += (SMS_PART,)
        return parts


WELCOME = MessageSpec(
    template="welcome",
    stage="welcome",
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL, Channel.SMS),
    variables=frozenset({"first_name"}),
    # Turkish and Chinese need UCS-2 (67 characters a segment once split): allow two.
    sms_segments=2,
)


def _order(template: str, *extra: str) -> MessageSpec:
    """Order messages go by SMS or email, whichever the status and the customer call for."""
    return MessageSpec(
        template=template,
        stage="order",
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
# The receipt: `items` is a list of {name, quantity, unit_price, line_total} (money already
# formatted for the customer's locale and currency), `total` a formatted amount.
ORDER_DELIVERED = _order("order_delivered", "items", "total")
ORDER_CANCELLED = _order("order_cancelled")
PICKUP_REMINDER = _order("pickup_reminder", "pickup_window")

# `ratings` is a list of {score: 1..5, url: signed https link}.
FEEDBACK_REQUEST = MessageSpec(
    template="feedback_request",
    stage="feedback",
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "order_id", "ratings"}),
    topic="feedback",
)
FEEDBACK_APOLOGY = MessageSpec(
    template="feedback_apology",
    stage="feedback",
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "order_id"}),
)
REFERRAL_ASK = MessageSpec(
    template="referral_ask",
    stage="feedback",
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "referral_url"}),
    topic="offers",
)

CATALOG: dict[str, MessageSpec] = {
    spec.template: spec
    for spec in (
        WELCOME,
        ORDER_SCHEDULED,
        ORDER_PICKED_UP,
        ORDER_IN_PROCESS,
        ORDER_READY,
        ORDER_OUT_FOR_DELIVERY,
        ORDER_DELIVERED,
        ORDER_CANCELLED,
        PICKUP_REMINDER,
        FEEDBACK_REQUEST,
        FEEDBACK_APOLOGY,
        REFERRAL_ASK,
    )
}
