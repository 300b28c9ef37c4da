"""What a deferral's schedule carries: a message's raw context, encoded and given back exactly,
and the message made again from its spec for the customer as they are at send time."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.authoring.samples import Samples
from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.deferral import CodecError, decode, encode, payload, schedule_name
from lifecycle.messaging.formatting import Money, Span
from lifecycle.messaging.message import Cap, Channel
from lifecycle.platform.deferred_send import DeferredPayload
from lifecycle.stages.orders import journey
from tests.conftest import ROOT
from tests.fakes import customer, order

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def same(a: Any, b: Any) -> bool:
    """Equal, of the same type all the way down, with the same digits and the same zone."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, datetime):
        return (
            a == b and a.tzinfo == b.tzinfo and a.fold == b.fold and a.utcoffset() == b.utcoffset()
        )
    if isinstance(a, Money):
        return same(a.amount, b.amount) and a.currency == b.currency
    if isinstance(a, Span):
        return same(a.start, b.start) and same(a.end, b.end)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def round_trip(value: Any) -> Any:
    """Through JSON, as the schedule's Input holds it."""
    return decode(json.loads(json.dumps(encode(value))))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -12,
        1.5,
        float("inf"),
        "Ann",
        "$not a tag",
        Decimal("2.90"),
        Decimal("1E+3"),
        Decimal("4.500"),
        datetime(2026, 12, 1, 9, 0, tzinfo=AMSTERDAM),
        datetime(2026, 10, 25, 2, 30, tzinfo=AMSTERDAM, fold=1),  # the second 02:30
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
        datetime(2026, 12, 1, 9, 0, 0, 123456),
        date(2026, 12, 1),
        Money(Decimal("48.55"), "EUR"),
        Span(
            datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Asia/Kolkata")),
            datetime(2026, 12, 1, 11, tzinfo=ZoneInfo("Asia/Kolkata")),
        ),
        [{"name": "Shirt", "quantity": Decimal("2"), "unit_price": Money(Decimal("3.5"), "EUR")}],
        ("a", 1),
        {"$t": "a key that looks like a tag", 1: "a number key"},
        {"nested": {"list": [Decimal("0.1"), [date(2026, 1, 1)]]}},
    ],
)
def test_every_kind_of_raw_value_comes_back_exactly(value: Any) -> None:
    assert same(round_trip(value), value)


def test_a_value_it_cannot_carry_is_refused_by_name() -> None:
    with pytest.raises(CodecError, match="cannot carry a set"):
        encode({"tags": {"a", "b"}})


@pytest.mark.parametrize(
    "spec", sorted(CATALOG.values(), key=lambda s: s.template), ids=lambda s: s.template
)
def test_every_messages_sample_context_survives_a_deferral(spec: Any) -> None:
    # given the message's sample context, raw values as a journey passes them
    context = Samples.load(ROOT / "templates").context(spec, "en")

    assert same(round_trip(context), context)


def test_a_real_receipt_and_window_survive_a_deferral() -> None:
    # given the order flow's delivered update: a receipt of Money and Decimals, in her zone
    delivered = order(
        status="delivered",
        items=[{"name": "Wash & fold, per kg", "quantity": "4.5", "unit_price": "2.90"}],
        currency="EUR",
    )
    rules = journey.OrderRules(default_timezone="Europe/Amsterdam")
    ann = customer(timezone="Asia/Kolkata")
    update = journey._update(delivered, ann, rules)
    assert update is not None

    assert same(round_trip(dict(update.context)), dict(update.context))


def test_the_message_is_made_again_from_its_spec_for_the_customer_as_now() -> None:
    # given a pickup reminder with a deadline, deferred at 06:00 to 08:00
    spec = CATALOG["pickup_reminder"]
    start = datetime(2026, 12, 2, 9, tzinfo=AMSTERDAM)
    message = spec.message(
        "reminder#o-1#2026-12-02T08:00:00+00:00",
        customer(),
        Channel.SMS,
        {
            "first_name": "Ann",
            "order_id": "o-1",
            "pickup_window": Span(start, start + timedelta(hours=2)),
        },
        order_id="o-1",
        cap=Cap("k", "o-1", timedelta(days=14), "why", limit=2),
        deliver_by=start,
    )
    since = datetime(2026, 12, 2, 5, tzinfo=UTC)
    until = datetime(2026, 12, 2, 7, tzinfo=UTC)
    written = json.loads(json.dumps(payload(message, until, since)))

    # when the deferred send function reads it for the customer, who has since changed number
    moved = customer(phone="+31687654321")
    again = DeferredPayload.model_validate(written).read().message(spec, moved)

    # then it is the same message, for her as she is now, knowing when it was held back
    assert again.key == message.key
    assert again.spec is spec
    assert same(dict(again.context), dict(message.context))
    assert again.cap == message.cap
    assert again.deliver_by == start
    assert again.customer.phone == "+31687654321"
    assert (again.deferred_since, again.deferred_until) == (since, until)
    # and the schedule carries no address
    assert "+316" not in json.dumps(written)
    assert "ann@example.com" not in json.dumps(written)


def test_schedule_names_are_deterministic_short_and_per_moment() -> None:
    until = datetime(2026, 12, 2, 7, tzinfo=UTC)
    key = "order#" + "o" * 200 + "#out_for_delivery"

    name = schedule_name(key, until)

    assert name == schedule_name(key, until.astimezone(AMSTERDAM))
    assert len(name) <= 64
    assert re.fullmatch(r"[0-9A-Za-z_.-]+", name)
    assert name != schedule_name(key, until + timedelta(minutes=1))
    assert name != schedule_name(key + "x", until)
