"""The retention stage's messages: the win-back sequence, loyalty tier-ups and the heavy-user
appreciation reward. All marketing email: they need `email_marketing` consent, the customer's
topic (`offers` or `loyalty`), and count against the marketing cap."""

from __future__ import annotations

from lifecycle.messaging.message import Channel, Kind, MessageSpec, WhenCapped

STAGE = "retention"

# A codeless nudge: a customer the cap is holding back has heard from us this week already, and
# the offer follows a fortnight later, so a capped reminder is skipped.
WINBACK_REMINDER = MessageSpec(
    template="winback_reminder",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "days_since_order", "book_url"}),
    topic="offers",
)
# The step that wins customers back, with the code issued for it: dropped, the customer never
# sees the code, while a day or two late (within MARKETING_CAP_MAX_DELAY_HOURS) it still has
# most of its validity, so a capped offer waits for a slot.
WINBACK_OFFER = MessageSpec(
    template="winback_offer",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "promo_code", "discount_percent", "expires_at", "book_url"}),
    topic="offers",
    capped=WhenCapped.DEFER,
)
# "Your code expires soon" repeats a code the customer already has, and deferred by up to the
# maximum delay it could arrive as the code runs out: a capped last chance is skipped.
WINBACK_LAST_CHANCE = MessageSpec(
    template="winback_last_chance",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "promo_code", "discount_percent", "expires_at", "book_url"}),
    topic="offers",
)
# Sent once per tier: skipped, the customer would never hear of the tier they reached, and the
# news keeps for a day or two, so a capped tier-up waits for a slot. `next_tier` and
# `points_to_next` are None at the top tier.
LOYALTY_TIER_UP = MessageSpec(
    template="loyalty_tier_up",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset({"first_name", "tier", "points", "next_tier", "points_to_next"}),
    topic="loyalty",
    capped=WhenCapped.DEFER,
)
# At most once a quarter to the heaviest users (`orders_lately`: their orders in the last 90
# days): skipped, the quarter's reward would be lost, so a capped one waits for a slot.
APPRECIATION_REWARD = MessageSpec(
    template="appreciation_reward",
    stage=STAGE,
    kind=Kind.MARKETING,
    channels=(Channel.EMAIL,),
    variables=frozenset(
        {"first_name", "orders_lately", "promo_code", "discount_percent", "expires_at", "book_url"}
    ),
    topic="loyalty",
    capped=WhenCapped.DEFER,
)

SPECS = (
    WINBACK_REMINDER,
    WINBACK_OFFER,
    WINBACK_LAST_CHANCE,
    LOYALTY_TIER_UP,
    APPRECIATION_REWARD,
)
