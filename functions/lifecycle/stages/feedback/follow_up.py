"""Rating follow-up Lambda: Ratings table stream -> complaint alerts to ops, the apology, and
the referral ask. Apart from the rating endpoint, so a slow or failing provider never costs a
customer their thank-you page, and every follow-up is retried and, at worst, parked."""

from __future__ import annotations

from datetime import UTC, datetime

from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.models import Rating
from lifecycle.platform import kit
from lifecycle.platform.composition import Ports
from lifecycle.platform.effects import Effects
from lifecycle.stages.feedback import journey, messages
from lifecycle.stages.feedback.cases import Opening, signed_links
from lifecycle.stages.feedback.settings import FollowUpSettings

UNIT = kit.Unit(
    stage=messages.STAGE,
    service="rating-follow-up",
    specs=(messages.FEEDBACK_APOLOGY, messages.REFERRAL_ASK),
    settings=FollowUpSettings.from_env,
)


def effects(ports: Ports, settings: FollowUpSettings) -> Effects:
    return Effects(
        ports, alerts_topic=settings.complaints_topic_arn, cases_table=settings.cases.table
    )


def opening(stage: kit.Stage[FollowUpSettings]) -> Opening:
    """How the alerts raised now open their cases, with signed staff links."""
    cases = stage.settings.cases
    signer = stage.ports.signer
    assert signer is not None  # CaseSettings requires LINK_SIGNING_SECRET
    return Opening(
        now=datetime.now(UTC),
        within=cases.escalate_after,
        hours=cases.business_hours,
        timezone=stage.core.default_timezone,
        links=lambda case_id: signed_links(signer, cases.url, cases.link_valid_days, case_id),
    )


def on_record(record: kit.StreamRecord, stage: kit.Stage[FollowUpSettings]) -> Plan:
    rating = kit.parse_new_image(record, Rating, stage=stage, id_attribute="order_id")
    if rating is None:
        return EMPTY
    follow = journey.follow_up(rating, kit.old_image(record, Rating))
    if not follow.alerts and not follow.ask_referral:
        return EMPTY
    customer = stage.load_customer(rating.customer_id, gone_is_final=True)
    if customer is None:
        return EMPTY
    lifetime = stage.ports.history.lifetime(customer.customer_id)
    settings = stage.settings
    return journey.follow_up_plan(
        follow,
        rating,
        customer,
        lifetime,
        settings.referral_url or stage.core.business.website,
        settings.referral_quiet_days,
        opening(stage),
    )


# Entry point named in infra/template.yaml; reports partial batch failures.
handler = kit.stream(
    UNIT,
    on_record,
    events=frozenset({kit.StreamEvent.INSERT, kit.StreamEvent.MODIFY}),
    effects=effects,
)
