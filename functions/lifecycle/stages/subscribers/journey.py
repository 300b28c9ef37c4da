"""Preference centre decisions: what the page shows, and what a form post or a one-click
unsubscribe changes. Pure.

The page shows what the customer actually gets: a box is ticked only where a message on that
topic and channel would pass the contact policy's consent rule, the customer's own opt-outs
and its suppressions (an address that bounced or complained, a number that replied STOP). A
channel the customer has no address on, a blocked one, or a topic the business has no consent
for, cannot be ticked: the product cannot grant consent or lift a suppression, so ticking
such a box would promise what the policy still refuses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lifecycle.messaging.message import TOPIC_KINDS, TOPICS, Channel, Kind
from lifecycle.messaging.policy import consent_gap
from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Preferences
from lifecycle.models import Consent, Customer

# The page's one SMS box stands for every marketing topic by SMS.
SMS_TOPICS = tuple(topic for topic in TOPICS if TOPIC_KINDS[topic] is Kind.MARKETING)


class State(StrEnum):
    """One box on the page."""

    SUBSCRIBED = "subscribed"  # messages on it would be sent
    UNSUBSCRIBED = "unsubscribed"  # the customer left it; they may come back
    NO_CONSENT = "no_consent"  # the business has not recorded the consent it needs
    NO_ADDRESS = "no_address"  # no email address / phone number to send to
    BLOCKED = "blocked"  # the address bounced or complained, or the number replied STOP

    @property
    def changeable(self) -> bool:
        return self in (State.SUBSCRIBED, State.UNSUBSCRIBED)


@dataclass(frozen=True)
class EmailView:
    reachable: bool  # the customer has an email address
    topics: dict[str, State]
    blocked: bool = False  # it bounced or complained: nothing is sent to it


@dataclass(frozen=True)
class SmsView:
    reachable: bool  # the customer has a phone number
    state: State  # offers and news by SMS (every marketing topic)
    service: bool  # order updates by SMS would be sent (sms_transactional)


@dataclass(frozen=True)
class View:
    email: EmailView
    sms: SmsView

    @property
    def service(self) -> bool:
        """Whether order updates and receipts reach the customer on some channel."""
        return (self.email.reachable and not self.email.blocked) or self.sms.service


def _state(
    address: bool, blocked: bool, consent: Consent, channel: Channel, kind: Kind, left: bool
) -> State:
    if not address:
        return State.NO_ADDRESS
    if blocked:
        return State.BLOCKED
    if consent_gap(consent, channel, kind):
        return State.NO_CONSENT
    return State.UNSUBSCRIBED if left else State.SUBSCRIBED


def view(
    preferences: Preferences,
    customer: Customer | None,
    blocked: frozenset[Channel] = frozenset(),
) -> View:
    """What the page shows. `customer` is None when the Customers row is gone or unusable:
    then nothing is sent, and the page says so. `blocked`: the channels whose address the
    contact policy refuses outright (a suppressed address, a number that replied STOP)."""
    consent = customer.consent if customer else Consent()
    email = bool(customer and customer.email)
    phone = bool(customer and customer.phone)
    topics = {
        topic: _state(
            email,
            Channel.EMAIL in blocked,
            consent,
            Channel.EMAIL,
            TOPIC_KINDS[topic],
            preferences.refusal(Channel.EMAIL, topic) is not None,
        )
        for topic in TOPICS
    }
    sms_left = any(preferences.refusal(Channel.SMS, topic) for topic in SMS_TOPICS)
    return View(
        email=EmailView(reachable=email, topics=topics, blocked=Channel.EMAIL in blocked),
        sms=SmsView(
            reachable=phone,
            state=_state(
                phone, Channel.SMS in blocked, consent, Channel.SMS, Kind.MARKETING, sms_left
            ),
            service=phone
            and Channel.SMS not in blocked
            and consent_gap(consent, Channel.SMS, Kind.TRANSACTIONAL) is None,
        ),
    )


def one_click(topic: str) -> list[Change]:
    """RFC 8058: the link's topic (or all marketing email, for a `*` link), by email."""
    return [Change(Channel.EMAIL, topic if topic in TOPICS else ALL_TOPICS, Action.UNSUBSCRIBE)]


def _wanted_by_boxes(
    current: Preferences, shown: View, form: Mapping[str, Sequence[str]]
) -> dict[str, bool]:
    """`save`: the boxes the page offered say subscribed or not; what it did not offer (no
    address, no consent) keeps its current opt-out, spelled out per topic where a channel-wide
    one goes, so a later consent does not resume what the customer had left."""
    wanted: dict[str, bool] = {}
    ticked = set(form.get("email", []))
    offered = [t for t, state in shown.email.topics.items() if state.changeable]
    if offered:
        wanted["email:*"] = True
        for topic in TOPICS:
            if topic in offered:
                wanted[f"email:{topic}"] = topic in ticked
            else:
                wanted[f"email:{topic}"] = current.refusal(Channel.EMAIL, topic) is None
    if shown.sms.state.changeable:
        sms = "marketing" in form.get("sms", [])
        wanted["sms:*"] = sms
        if sms:  # one box for every topic: ticking it clears any single-topic opt-out too
            wanted.update({f"sms:{topic}": True for topic in SMS_TOPICS})
    return wanted


def form_changes(
    current: Preferences,
    shown: View,
    action: str,
    link_topic: str,
    form: Mapping[str, Sequence[str]],
) -> list[Change]:
    """The changes a submitted form asks for, leaving out what is already so.

    `leave_topic` leaves the link's topic, `leave_all` leaves every topic on every channel,
    `save` makes the state match the boxes the page offered (`shown`): ticked ones on, the
    rest off; a box it did not offer cannot be ticked by a crafted post.
    """
    wanted: dict[str, bool]
    if action == "leave_topic" and link_topic in TOPICS:
        wanted = {f"email:{link_topic}": False}
    elif action == "leave_all":
        wanted = {"email:*": False, "sms:*": False}
    elif action == "save":
        wanted = _wanted_by_boxes(current, shown, form)
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
