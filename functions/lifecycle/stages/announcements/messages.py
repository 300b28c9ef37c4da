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


@cache
def attributes_used(templates_dir: Path, template: str) -> frozenset[str]:
    """The recipient attributes a campaign template folder reads, in any part and locale:
    `attributes.city`, `attributes["city"]`, `attributes.get("city", ...)`. Only these are
    taken from a recipient's row into their message (and so into a deferred message's
    schedule), never the rest of the row. Read once per folder and cold start."""
    from jinja2 import Environment, nodes

    environment = Environment(autoescape=True)  # parsing only: nothing is rendered here
    names: set[str] = set()
    for path in sorted((templates_dir / template).rglob("*.j2")):
        try:
            tree = environment.parse(path.read_text(encoding="utf-8"))
        except Exception:  # noqa: S112 - a template that does not parse fails lint and its send
            continue
        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
            name = _attribute_read(node)
            if name is not None:
                names.add(name)
    return frozenset(names)


def _attribute_read(node: object) -> str | None:
    from jinja2 import nodes

    def on_attributes(target: object) -> bool:
        return isinstance(target, nodes.Name) and target.name == "attributes"

    if isinstance(node, nodes.Getattr) and on_attributes(node.node) and node.attr != "get":
        return node.attr
    if isinstance(node, nodes.Getitem) and on_attributes(node.node):
        key = node.arg
        return key.value if isinstance(key, nodes.Const) and isinstance(key.value, str) else None
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr == "get"
        and on_attributes(node.node.node)
        and node.args
        and isinstance(node.args[0], nodes.Const)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None
