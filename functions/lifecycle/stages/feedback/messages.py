"""The feedback stage's messages."""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, MessageSpec

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
REFERRAL_ASK = MessageSpec(
    template="referral_ask",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "referral_url"}),
    topic="offers",
)

SPECS = (FEEDBACK_REQUEST, FEEDBACK_APOLOGY, REFERRAL_ASK)
