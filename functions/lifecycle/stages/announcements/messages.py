"""The announcement stage's messages. Marketing on the `announcements` topic: they need the
channel's marketing consent and the customer's topic, count against the marketing cap (a
capped one is skipped: an announcement a few days late is noise), and wait out quiet hours.

Each campaign names its template folder (`templates/campaign_<name>/`, a name lint knows as a
campaign's by its prefix), so the spec is made from the folder: email when the folder has the
email parts, SMS when it has `sms.txt.j2`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lifecycle.messaging.message import EMAIL_PARTS, SMS_PART, Channel, Kind, MessageSpec

STAGE = "announcement"
PREFIX = "campaign_"
# What a campaign's templates are given: the recipient's first name, whether they have not
# ordered yet (a prospect: the copy may greet them differently), their own attributes (the
# Customers row's other text attributes, such as city: `attributes.city`, which a template
# gives a default for, since not every row has every one), the campaign's link and its
# details (strings from the campaign file).
VARIABLES = frozenset({"first_name", "prospect", "attributes", "link", "details"})


def is_campaign_template(folder: str) -> bool:
    return folder.startswith(PREFIX)


@cache
def spec(template: str, channels: tuple[Channel, ...]) -> MessageSpec:
    """The spec of a campaign message sent from `template` by `channels`."""
    return MessageSpec(
        template=template,
        stage=STAGE,
        kind=Kind.MARKETING,
        channels=channels,
        variables=VARIABLES,
        topic="announcements",
        # Two segments at most: an announcement by SMS is short, and each segment is billed.
        sms_segments=2,
    )


def channels_of(folder: Path) -> tuple[Channel, ...]:
    """The channels a campaign template folder can send by, from the parts it holds."""
    found: tuple[Channel, ...] = ()
    if all((folder / part).is_file() for part in EMAIL_PARTS):
        found += (Channel.EMAIL,)
    if (folder / SMS_PART).is_file():
        found += (Channel.SMS,)
    return found


def spec_in(templates_dir: Path, template: str) -> MessageSpec | None:
    """The spec of a campaign template folder as it is on disk (lint, preview and the
    deferred send read it so); None if it is not one, or holds no channel's parts."""
    if not is_campaign_template(template):
        return None
    channels = channels_of(templates_dir / template)
    return spec(template, channels) if channels else None
