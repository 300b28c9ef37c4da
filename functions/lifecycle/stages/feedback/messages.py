"""The feedback stage's messages."""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, MessageSpec, WhenCapped

STAGE = "feedback"

# `ratings` is a list of {score: 1..5, url: signed https link}.
FEEDBACK_REQUEST = MessageSpec(
    template="feedback_request",
    stage=STAGE,
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "order_id", "ratings"}),
    topic="feedback",
)
FEEDBACK_APOLOGY = MessageSpec(
    template="feedback_apology",
    stage=STAGE,
    kind=Kind.SERVICE,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "order_id"}),
)
# Marketing: it counts against the marketing cap. Asked right after a 5, it is still welcome a
# day or two later, so a capped ask waits for a slot (within MARKETING_CAP_MAX_DELAY_HOURS)
# instead of being dropped.
REFERRAL_ASK = MessageSpec(
    template="referral_ask",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "referral_url"}),
    topic="offers",
    capped=WhenCapped.DEFER,
)

SPECS = (FEEDBACK_REQUEST, FEEDBACK_APOLOGY, REFERRAL_ASK)
