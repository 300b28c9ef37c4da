"""Announcement decisions. Pure: whether a customer is in a campaign's audience, which variant
they get (or whether they are held out), when they get it, and the message itself.

A recipient is read from two places: their Customers row (locale, time zone, consent,
attributes such as city) and, where the audience asks for it, their profile (stage, delivered
orders, last order). A customer with no profile has not ordered yet: a prospect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.messaging import draw
from lifecycle.messaging.message import Channel, Message
from lifecycle.stages.announcements.campaign import Audience, Campaign
from lifecycle.stages.announcements.messages import spec

if TYPE_CHECKING:
    from lifecycle.models import Customer

HOLDOUT = "holdout"  # what a held-out recipient's "variant" is recorded as
PROSPECT = "prospect"


@dataclass(frozen=True)
class Standing:
    """What the audience may ask of a customer's history (from their profile)."""

    stage: str = PROSPECT
    delivered: int = 0
    last_order_at: datetime | None = None

    @classmethod
    def of(cls, profile: Mapping[str, Any] | None) -> Standing:
        """From a profile item's plain values (None: no profile, a prospect)."""
        if not profile:
            return cls()
        last = profile.get("last_order_at")
        return cls(
            stage=str(profile.get("stage") or PROSPECT),
            delivered=int(profile.get("delivered") or 0),
            last_order_at=datetime.fromisoformat(str(last)) if last else None,
        )


def _locale_matches(wanted: tuple[str, ...], locale: str | None, default: str) -> bool:
    tag = (locale or default).replace("_", "-").lower()
    for want in wanted:
        want = want.lower()
        if tag == want or tag.split("-")[0] == want:
            return True
    return False


def outside(
    audience: Audience,
    row: Mapping[str, Any],
    standing: Standing,
    today: date,
    default_locale: str,
) -> str | None:
    """Why a customer is not in the audience (the first condition that fails), or None when
    they are. `row`: their Customers item, plain values."""
    if audience.stages is not None and standing.stage not in audience.stages:
        return f"stage {standing.stage} not in the audience"
    if audience.locales is not None and not _locale_matches(
        audience.locales, row.get("locale"), default_locale
    ):
        return "locale not in the audience"
    for name, values in audience.attributes.items():
        if str(row.get(name, "")) not in values:
            return f"{name} not in the audience"
    orders = audience.orders
    if orders is not None:
        if orders.min is not None and standing.delivered < orders.min:
            return "fewer orders than the audience's minimum"
        if orders.max is not None and standing.delivered > orders.max:
            return "more orders than the audience's maximum"
    last = audience.last_order
    if last is not None:
        ordered_on = (
            standing.last_order_at.astimezone(UTC).date() if standing.last_order_at else None
        )
        if last.within_days is not None and (
            ordered_on is None or ordered_on < today - timedelta(days=last.within_days)
        ):
            return f"no order in the last {last.within_days} days"
        if (
            last.not_within_days is not None
            and ordered_on is not None
            and ordered_on >= today - timedelta(days=last.not_within_days)
        ):
            return f"ordered in the last {last.not_within_days} days"
    return None


def variant_of(campaign: Campaign, key: bytes, customer_id: str) -> str | None:
    """The variant the recipient gets ("" when the campaign has none), or None when the
    holdout keeps them out. Two stable keyed draws per campaign: one for the holdout, one
    for the split among the rest, so the split's shares hold within the treated group."""
    scope = f"campaign#{campaign.id}"
    if campaign.holdout and draw.below(key, f"{scope}#holdout", customer_id, campaign.holdout):
        return None
    if not campaign.variants:
        return ""
    index = draw.pick(key, f"{scope}#variant", customer_id, [v.share for v in campaign.variants])
    # Shares add up to 1 (within rounding): past the last edge is the last variant's.
    chosen = campaign.variants[index if index is not None else -1]
    return chosen.name


def key(campaign_id: str, customer_id: str) -> str:
    return f"campaign#{campaign_id}#{customer_id}"


def attributes_of(row: Mapping[str, Any], used: frozenset[str]) -> dict[str, str]:
    """The recipient's own attributes their message shows: the text attributes of their
    Customers row that the campaign's templates read (`used`), outside the data contract
    (never an address, a name field or consent)."""
    from lifecycle.models import Customer

    contract = set(Customer.model_fields)
    return {
        name: value
        for name, value in row.items()
        if name in used and isinstance(value, str) and name not in contract
    }


def message(
    campaign: Campaign,
    variant: str,
    customer: Customer,
    channel: Channel,
    prospect: bool,
    attributes: Mapping[str, str] | None = None,
) -> Message:
    """The campaign's message to one recipient on `channel`; `attributes` are the recipient's
    own (`attributes_of` their row)."""
    template = campaign.templates()[variant]
    made = spec(template, campaign.channels).message(
        key(campaign.id, customer.customer_id),
        customer,
        channel,
        {
            "first_name": customer.first_name,
            "prospect": prospect,
            "attributes": dict(attributes or {}),
            "link": campaign.message.link,
            "details": dict(campaign.message.details),
        },
        campaign=campaign.id,
        sequence=variant or None,
    )
    return made
