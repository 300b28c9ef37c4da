"""The preference centre in a real browser: open the link, change a topic, submit, check."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from lifecycle.local.serve import running, seed
from tests.conftest import Aws

CUSTOMER = {
    "customer_id": "c-7",
    "first_name": "<b>Sanne</b><script>document.title='pwned'</script>",
    "email": "sanne@example.nl",
    "locale": "nl-NL",
    "created_at": "2026-11-22T09:00:00+00:00",
    "consent": {"email_marketing": True},
}


def _opt_outs() -> set[str]:
    item = (
        boto3.client("dynamodb")
        .get_item(
            TableName="PreferencesTable",
            Key={"customer_id": {"S": "c-7"}, "entry": {"S": "state"}},
        )
        .get("Item", {})
    )
    return set(item.get("opt_outs", {}).get("SS", []))


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}])
def test_customer_leaves_one_topic_in_the_browser(
    aws: Aws, browser: Any, viewport: dict[str, int], tmp_path: Any
) -> None:
    seed(aws.stack, [CUSTOMER])
    with running(aws.stack) as server:
        page = browser.new_page(viewport=viewport)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        # when the customer opens the link from an offers email, on a phone
        page.goto(server.url_for("c-7", "offers"))
        assert page.locator("h1").inner_text() == "Je berichtvoorkeuren"
        assert "<b>Sanne</b>" in page.inner_text("main")  # shown as text, not markup
        assert page.title() != "pwned"

        # and unticks loyalty rewards and saves
        page.get_by_label("Spaarbeloningen").uncheck()
        page.get_by_role("button", name="Keuzes opslaan").click()

        # then the page confirms it, and the stored preferences say so
        assert page.locator("h1").inner_text() == "Je keuzes zijn opgeslagen"
        assert "Spaarbeloningen: afgemeld" in page.inner_text("main")
        assert _opt_outs() == {"email:loyalty"}

        # and the one-topic button on the page leaves offers too
        page.get_by_role("link", name="Opnieuw wijzigen").click()
        page.get_by_role("button", name="Afmelden voor Aanbiedingen en kortingen").click()
        assert _opt_outs() == {"email:loyalty", "email:offers"}
        page.screenshot(path=str(tmp_path / "preferences.png"), full_page=True)
        assert dialogs == []
        page.close()


def test_page_offers_only_what_the_customer_can_get(aws: Aws, browser: Any, tmp_path: Any) -> None:
    # given a customer who consented to order updates by SMS only
    seed(aws.stack, [{**CUSTOMER, "locale": "en", "phone": "+31612345678", "consent": {}}])
    with running(aws.stack) as server:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(server.url_for("c-7", "offers"))

        # then marketing boxes are unticked and cannot be ticked; feedback requests are on
        assert page.get_by_label("Offers and discounts").is_disabled()
        assert not page.get_by_label("Offers and discounts").is_checked()
        assert page.get_by_label("Offers and news by SMS").is_disabled()
        assert page.get_by_label("Requests for feedback").is_checked()
        page.screenshot(path=str(tmp_path / "consent.png"), full_page=True)

        # and after leaving offers the saved page tells the true state
        page.get_by_role("button", name="Unsubscribe from Offers and discounts").click()
        text = page.inner_text("main")
        assert "Offers and discounts: not subscribed (no permission given)" in text
        assert "Offers and news by SMS: not subscribed (no permission given)" in text
        assert "Requests for feedback: subscribed" in text
        assert _opt_outs() == {"email:offers"}
        page.close()
