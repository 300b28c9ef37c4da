"""The preference centre shows what the contact policy would let through, for every customer."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.message import (
    TOPIC_KINDS,
    TOPICS,
    Channel,
    Kind,
    MessageSpec,
    SpecError,
)
from lifecycle.messaging.policy import ContactPolicy
from lifecycle.messaging.preferences import Preferences
from lifecycle.stages.subscribers import journey
from lifecycle.stages.subscribers.journey import SMS_TOPICS, State
from tests.fakes import FakePreferences, FakeSmsOptOuts, FakeSuppressions, customer

FLAGS = ("email_marketing", "sms_marketing", "sms_transactional")
ADDRESSES = [
    {"email": "ann@example.com", "phone": "+31612345678"},
    {"email": "ann@example.com", "phone": None},
    {"email": None, "phone": "+31612345678"},
]
OPT_OUTS = [
    frozenset(),
    frozenset({"email:*"}),
    frozenset({"email:offers", "email:feedback"}),
    frozenset({"sms:*"}),
    frozenset({"sms:offers"}),
]


def _policy_sends(who: Any, preferences: Preferences, channel: Channel, topic: str) -> bool:
    store = FakePreferences({who.customer_id: preferences})
    policy = ContactPolicy(FakeSuppressions(), store, FakeSmsOptOuts())
    spec = MessageSpec(
        template="probe",
        stage="probe",
        kind=TOPIC_KINDS[topic],
        channels=(channel,),
        variables=frozenset(),
        topic=topic,
    )
    return policy.refusal(spec.message("probe", who, channel, {})) is None


@pytest.mark.parametrize("addresses", ADDRESSES)
@pytest.mark.parametrize("opt_outs", OPT_OUTS)
def test_a_box_is_ticked_exactly_when_the_policy_would_send(
    addresses: dict[str, str | None], opt_outs: frozenset[str]
) -> None:
    for given in itertools.product((False, True), repeat=len(FLAGS)):
        who = customer(**addresses, consent=dict(zip(FLAGS, given, strict=True)))
        preferences = Preferences(opt_outs)

        shown = journey.view(preferences, who)

        for topic in TOPICS:
            sends = _policy_sends(who, preferences, Channel.EMAIL, topic)
            assert (shown.email.topics[topic] is State.SUBSCRIBED) == sends, (topic, given)
        sms_sends = all(_policy_sends(who, preferences, Channel.SMS, t) for t in SMS_TOPICS)
        assert (shown.sms.state is State.SUBSCRIBED) == sms_sends, given


def test_what_cannot_be_sent_says_why() -> None:
    who = customer(email=None, consent={"sms_transactional": True})

    shown = journey.view(Preferences(frozenset({"sms:*"})), who)

    assert set(shown.email.topics.values()) == {State.NO_ADDRESS}
    assert shown.sms.state is State.NO_CONSENT  # not "unsubscribed": consent comes first
    assert shown.service  # order updates by SMS still reach them


def test_without_a_customer_row_nothing_is_offered() -> None:
    shown = journey.view(Preferences(), None)

    assert not any(s.changeable for s in [*shown.email.topics.values(), shown.sms.state])
    assert not shown.service


def test_every_topic_has_one_kind_and_specs_agree() -> None:
    assert set(TOPIC_KINDS) == set(TOPICS)
    for spec in CATALOG.values():
        if spec.topic is not None:
            assert spec.kind is TOPIC_KINDS[spec.topic]
    with pytest.raises(SpecError, match="carries marketing messages"):
        MessageSpec("x", "x", Kind.SERVICE, (Channel.EMAIL,), frozenset(), topic="offers")
