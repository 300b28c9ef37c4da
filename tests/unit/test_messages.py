"""Messages are made from their specs: what a journey cannot forget or mistype."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.message import Channel, Kind, Message, MessageSpec, SpecError
from lifecycle.models import Rating
from lifecycle.stages.feedback import journey as feedback
from lifecycle.stages.feedback.messages import REFERRAL_ASK
from lifecycle.stages.welcome.messages import WELCOME
from tests.fakes import customer


def test_a_marketing_message_without_a_topic_cannot_be_declared() -> None:
    with pytest.raises(SpecError, match="must belong to a topic"):
        MessageSpec(
            template="spring_offer",
            stage="announcement",
            kind=Kind.MARKETING,
            channels=(Channel.EMAIL,),
            variables=frozenset({"first_name"}),
        )


def test_a_message_takes_kind_topic_and_template_from_its_spec_only() -> None:
    # a Message has no topic, kind or template of its own to set (or forget)
    fields = {f.name for f in dataclasses.fields(Message)}
    assert {"topic", "kind", "template", "stage"}.isdisjoint(fields)
    with pytest.raises(TypeError):
        Message(key="k", topic=None)  # type: ignore[call-arg]


def test_the_referral_ask_always_carries_its_topic() -> None:
    # given the journey builds a referral ask (the message once sent without its topic)
    rating = Rating(
        order_id="o-1",
        customer_id="c-1",
        score=5,
        rated_at=datetime(2026, 11, 22, 9, tzinfo=UTC),
        updated_at=datetime(2026, 11, 22, 9, tzinfo=UTC),
    )
    ask = feedback.referral_message(rating, customer(), "https://freshfold.example/book", 90)

    assert ask.spec is REFERRAL_ASK
    assert ask.kind is Kind.MARKETING
    assert ask.topic == "offers"


def test_every_marketing_spec_in_the_catalog_has_a_topic() -> None:
    marketing = [spec for spec in CATALOG.values() if spec.kind is Kind.MARKETING]
    assert marketing  # the referral ask, at least
    assert all(spec.topic for spec in marketing)


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ({}, "missing first_name"),
        ({"first_name": "Ann", "firstname": "Ann"}, "not declared firstname"),
    ],
)
def test_a_context_must_hold_exactly_the_declared_variables(
    context: dict[str, str], problem: str
) -> None:
    with pytest.raises(SpecError, match=problem):
        WELCOME.message("welcome#c-1#email", customer(), Channel.EMAIL, context)


def test_a_message_goes_only_on_its_specs_channels() -> None:
    with pytest.raises(SpecError, match="not sent by sms"):
        REFERRAL_ASK.message(
            "referral#c-1#o-1",
            customer(),
            Channel.SMS,
            {"first_name": "Ann", "referral_url": "https://freshfold.example/book?ref=c-1"},
        )
