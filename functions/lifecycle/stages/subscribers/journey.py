"""Preference centre decisions: what a form post or a one-click unsubscribe changes. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lifecycle.messaging.message import TOPICS, Channel
from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Preferences


@dataclass(frozen=True)
class View:
    """What the page shows: per email topic and for SMS marketing, subscribed or not."""

    email: dict[str, bool]
    sms: bool


def view(preferences: Preferences) -> View:
    return View(
        email={topic: preferences.allows(Channel.EMAIL, topic) for topic in TOPICS},
        sms=preferences.allows(Channel.SMS, ALL_TOPICS),
    )


def one_click(topic: str) -> list[Change]:
    """RFC 8058: the link's topic (or all marketing email, for a `*` link), by email."""
    return [Change(Channel.EMAIL, topic if topic in TOPICS else ALL_TOPICS, Action.UNSUBSCRIBE)]


def form_changes(
    current: Preferences, action: str, link_topic: str, form: Mapping[str, Sequence[str]]
) -> list[Change]:
    """The changes a submitted form asks for, leaving out what is already so.

    `leave_topic` leaves the link's topic, `leave_all` leaves every topic on every channel,
    `save` makes the state match the boxes: ticked topics and SMS on, the rest off.
    """
    wanted: dict[str, bool]
    if action == "leave_topic" and link_topic in TOPICS:
        wanted = {f"email:{link_topic}": False}
    elif action == "leave_all":
        wanted = {"email:*": False, "sms:*": False}
    elif action == "save":
        ticked = set(form.get("email", []))
        wanted = {"email:*": True, "sms:*": "marketing" in form.get("sms", [])}
        wanted.update({f"email:{topic}": topic in ticked for topic in TOPICS})
    else:
        raise ValueError(f"unknown action {action!r}")
    changes = []
    for entry, subscribed in wanted.items():
        channel, topic = entry.split(":", 1)
        is_out = entry in current.opt_outs
        if subscribed and is_out:
            changes.append(Change(Channel(channel), topic, Action.RESUBSCRIBE))
        elif not subscribed and not is_out:
            changes.append(Change(Channel(channel), topic, Action.UNSUBSCRIBE))
    return changes
