"""The retention stage's messages: the loyalty tier-up's copy below and at the top tier."""

from __future__ import annotations

import pytest

from lifecycle.messaging.catalog import CATALOG, SUPPORTED_LOCALES
from lifecycle.messaging.message import Channel, Kind
from lifecycle.messaging.renderer import Renderer
from lifecycle.stages.retention.messages import LOYALTY_TIER_UP, SPECS
from tests.conftest import ROOT
from tests.fakes import BUSINESS, customer

UNSUBSCRIBE = "https://freshfold.example/preferences?t=T"

# Per locale: what the copy says with a next tier (440 points to gold), and at the top tier.
NEXT_TIER = {
    "en": "You are 440 points away from Gold.",
    "nl": "Nog 440 punten en je bereikt Goud.",
    "zh-TW": "再累積 440 點，就能升級為金卡會員",
    "tr": "Altın seviyesine yalnızca 440 puan kaldı.",
}
TOP_TIER = {
    "en": "Gold is our highest tier",
    "nl": "Goud is ons hoogste niveau",
    "zh-TW": "金卡會員是我們的最高等級",
    "tr": "Altın, en üst seviyemiz",
}


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(ROOT / "templates", "en", BUSINESS)


def tier_up(
    tier: str, points: int, next_tier: str | None, points_to_next: int | None
) -> dict[str, object]:
    # the context goes through the spec, so it holds exactly what a journey may pass
    message = LOYALTY_TIER_UP.message(
        "loyalty#c-1#" + tier,
        customer(),
        Channel.EMAIL,
        {
            "first_name": "Ann",
            "tier": tier,
            "points": points,
            "next_tier": next_tier,
            "points_to_next": points_to_next,
        },
    )
    return {**message.context, "unsubscribe_url": UNSUBSCRIBE}


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_tier_up_says_how_far_the_next_tier_is(renderer: Renderer, locale: str) -> None:
    email = renderer.email("loyalty_tier_up", locale, tier_up("silver", 1310, "gold", 440))

    assert email.locale == locale
    for part in (email.html, email.text):
        assert NEXT_TIER[locale] in part
        assert TOP_TIER[locale] not in part
        assert "1,310" in part or "1.310" in part  # the balance, grouped as the locale does


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_tier_up_at_the_top_tier_names_no_next_tier(renderer: Renderer, locale: str) -> None:
    email = renderer.email("loyalty_tier_up", locale, tier_up("gold", 768, None, None))

    for part in (email.subject, email.html, email.text):
        assert "None" not in part
    for part in (email.html, email.text):
        assert TOP_TIER[locale] in part
        assert NEXT_TIER[locale] not in part


def test_a_tier_the_templates_do_not_name_shows_as_configured(renderer: Renderer) -> None:
    # LOYALTY_TIERS may name tiers the copy does not translate: shown capitalised, not lost
    email = renderer.email("loyalty_tier_up", "en", tier_up("platinum", 2400, None, None))

    assert "Platinum" in email.subject
    assert "Platinum is our highest tier" in email.text


def test_every_retention_message_is_marketing_email_in_the_catalog() -> None:
    for spec in SPECS:
        assert CATALOG[spec.template] is spec
        assert spec.kind is Kind.MARKETING
        assert spec.channels == (Channel.EMAIL,)
        assert spec.topic in ("offers", "loyalty")
