"""One message, one language: values are formatted at render time in the locale of the copy."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from lifecycle.messaging.formatting import Formatter, Money, Span
from lifecycle.messaging.message import Channel
from lifecycle.messaging.plan import Advance
from lifecycle.messaging.renderer import Renderer
from lifecycle.messaging.sms import measure, non_gsm
from lifecycle.models import Order
from lifecycle.stages.orders import journey as orders
from tests.conftest import ROOT
from tests.fakes import BUSINESS, customer

PARIS = ZoneInfo("Europe/Paris")
TAIPEI = ZoneInfo("Asia/Taipei")


def window(zone: ZoneInfo, start: int = 9, end: int = 11) -> Span:
    return Span(
        start=datetime(2026, 12, 12, start, tzinfo=zone),
        end=datetime(2026, 12, 12, end, tzinfo=zone),
    )


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(ROOT / "templates", "en", BUSINESS)


def scheduled_email(locale: str, zone: str) -> tuple[str, str]:
    """The pickup confirmation the order journey and the renderer make for a customer."""
    order = Order.model_validate(
        {
            "order_id": "o-1",
            "customer_id": "c-1",
            "status": "scheduled",
            "updated_at": "2026-12-01T10:00:00+00:00",
            "pickup_window": {"start": "2026-12-12T08:00:00Z", "end": "2026-12-12T10:00:00Z"},
        }
    )
    who = customer(locale=locale, timezone=zone)
    plan = orders.decide(
        order, None, who, orders.OrderRules(default_timezone="UTC"), order.updated_at
    )
    step = plan.steps[0]
    assert isinstance(step, Advance)
    assert step.message is not None
    message = step.message
    rendered = Renderer(ROOT / "templates", "en", BUSINESS).email(
        message.template, who.locale, message.context
    )
    return rendered.locale, rendered.subject


def test_a_french_customer_with_english_copy_gets_english_dates() -> None:
    # given no French templates, a customer in Paris with locale fr-FR books a pickup
    locale, subject = scheduled_email("fr-FR", "Europe/Paris")

    # then the copy and its date are both English (the time is still Paris time)
    assert locale == "en"
    assert subject.replace("\u202f", " ").replace("\u2009", " ") == (
        "Ann, your pickup is booked for Sat, Dec 12, 9:00 – 11:00 AM"
    )
    assert "sam." not in subject
    assert "déc" not in subject


def test_a_belgian_customer_gets_dutch_copy_with_dutch_dates() -> None:
    locale, subject = scheduled_email("nl-BE", "Europe/Brussels")

    assert locale == "nl"
    assert subject == "Ann, je ophaalmoment staat gepland: za 12 dec, 09:00–11:00"


def test_a_british_customer_reading_the_english_copy_gets_british_dates() -> None:
    # the same language as the copy: the customer's own variant formats the values (London
    # time, an hour behind Paris)
    locale, subject = scheduled_email("en-GB", "Europe/London")

    assert locale == "en"
    assert subject.replace("\u202f", " ").replace("\u2009", " ") == (
        "Ann, your pickup is booked for Sat 12 Dec, 08:00–10:00"
    )


def test_money_and_quantities_follow_the_copy_locale(renderer: Renderer) -> None:
    items = [
        {
            "name": "Wash & fold (per kg)",
            "quantity": Decimal("4.5"),
            "unit_price": Money(Decimal("2.90"), "EUR"),
            "line_total": Money(Decimal("13.05"), "EUR"),
        }
    ]
    context = {"first_name": "Ann", "order_id": "o-1", "items": items}
    total = Money(Decimal("13.05"), "EUR")

    dutch = renderer.email("order_delivered", "nl-NL", {**context, "total": total}).text
    french = renderer.email("order_delivered", "fr-FR", {**context, "total": total}).text

    assert "4,5 x €\u00a02,90 = €\u00a013,05" in dutch
    assert "Totaal: €\u00a013,05" in dutch
    assert "4.5 x €2.90 = €13.05" in french  # English copy, English numbers
    assert "Total: €13.05" in french


@pytest.mark.parametrize(
    ("locale", "value", "text"),
    [("nl", "4.5", "4,5"), ("en", "4.5", "4.5"), ("tr", "4.5", "4,5"), ("nl", "2.00", "2")],
)
def test_quantities_are_formatted_by_locale(locale: str, value: str, text: str) -> None:
    assert Formatter(locale).quantity(Decimal(value)) == text


def test_traditional_chinese_window_names_the_day_period_once() -> None:
    chinese = Formatter("zh-TW")

    assert chinese.window(window(TAIPEI)) == "12月12日週六 上午9:00至11:00"
    # across the day periods both are named, as CLDR's interval pattern says
    assert chinese.window(window(TAIPEI, 9, 14)) == "12月12日週六 上午9:00至下午2:00"


def test_windows_use_the_locale_interval_pattern() -> None:
    assert Formatter("nl").window(window(PARIS)) == "za 12 dec, 09:00–11:00"
    assert Formatter("en").window(window(PARIS)) == "Sat, Dec 12, 9:00\u2009–\u200911:00\u202fAM"
    spans_days = Span(
        start=datetime(2026, 12, 12, 22, tzinfo=PARIS), end=datetime(2026, 12, 13, 1, tzinfo=PARIS)
    )
    assert Formatter("nl").window(spans_days) == "za 12 dec, 22:00\u2009–\u2009zo 13 dec, 01:00"
    assert Formatter("nl").window(None) == "-"


def test_what_the_product_inserts_into_an_sms_is_gsm7() -> None:
    english = Formatter("en", sms=True)
    dutch = Formatter("nl", sms=True)

    assert english.window(window(PARIS)) == "Sat, Dec 12, 9:00 - 11:00 AM"
    assert dutch.window(window(PARIS)) == "za 12 dec, 09:00-11:00"
    assert dutch.money(Money(Decimal("3.5"), "EUR")) == "€ 3,50"  # no no-break space
    # letters of a non-GSM script stay as they are
    assert Formatter("zh-TW", sms=True).window(window(TAIPEI)) == "12月12日週六 上午9:00至11:00"


@pytest.mark.parametrize("locale", ["en", "nl-NL"])
def test_an_sms_with_a_window_stays_one_gsm7_segment(renderer: Renderer, locale: str) -> None:
    context = {"first_name": "Ann", "order_id": "FF-10482", "pickup_window": window(PARIS)}

    sms = renderer.sms("order_scheduled", locale, context)

    assert non_gsm(sms.text) == []
    assert (measure(sms.text).encoding, measure(sms.text).segments) == ("GSM-7", 1)
    # the email keeps Babel's typography
    assert "–" in renderer.email("order_scheduled", locale, context).subject


def test_a_raw_value_printed_without_a_filter_is_formatted_in_the_copy_locale(
    renderer: Renderer,
) -> None:
    formatter = Formatter("nl")

    assert formatter.value(Money(Decimal("61.55"), "EUR")) == "€\u00a061,55"
    assert formatter.value(window(PARIS)) == "za 12 dec, 09:00–11:00"
    assert formatter.value("FF-10482") == "FF-10482"


def test_message_contexts_carry_raw_values_not_text() -> None:
    order = Order.model_validate(
        {
            "order_id": "o-1",
            "customer_id": "c-1",
            "status": "delivered",
            "updated_at": "2026-12-01T10:00:00+00:00",
            "items": [{"name": "Shirt", "quantity": "4.5", "unit_price": "2.90"}],
            "currency": "EUR",
        }
    )
    step = orders.decide(
        order, None, customer(), orders.OrderRules(default_timezone="UTC"), order.updated_at
    ).steps[0]
    assert isinstance(step, Advance)
    assert step.message is not None

    assert step.message.channel is Channel.EMAIL
    assert step.message.context["total"] == Money(Decimal("13.050"), "EUR")
    assert step.message.context["items"][0]["quantity"] == Decimal("4.5")


def test_money_is_rounded_half_up_to_the_currencys_minor_unit() -> None:
    # 2.99 x 1.5 = 4.485: a till says 4.49 (Babel alone rounds half to even: 4.48)
    assert Formatter("en").money(Money(Decimal("4.485"), "EUR")) == "€4.49"
    assert Formatter("en").money(Money(Decimal("1234.5"), "JPY")) == "¥1,235"


def test_a_quantity_keeps_the_decimals_it_has() -> None:
    assert Formatter("en").quantity(Decimal("1.2345")) == "1.2345"
    assert Formatter("nl").quantity(Decimal("4.5")) == "4,5"
    assert Formatter("en").quantity(Decimal("3.0")) == "3"
