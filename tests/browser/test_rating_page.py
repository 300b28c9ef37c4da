"""The one-tap rating in a real browser: tap a score in the feedback email, comment, change it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from lifecycle.local.serve import PreferenceServer, running, seed
from lifecycle.stages.feedback.ratings import desk as rating_desk
from tests.conftest import ROOT, Aws

FUNCTION = "RatingsFunction"
ORDER = "o-4711"
CUSTOMER = {
    "customer_id": "c-9",
    "first_name": "<b>Sanne</b><script>document.title='pwned'</script>",
    "email": "sanne@example.nl",
    "locale": "nl-NL",
    "created_at": "2026-11-22T09:00:00+00:00",
    "consent": {"email_marketing": True},
}
SCREENSHOT = ROOT / "out" / "browser" / "rating.png"
PAGE_STRINGS = json.loads((ROOT / "templates" / "_pages" / "strings.json").read_text("utf-8"))


def _link(server: PreferenceServer, score: int) -> str:
    """The link behind one star in the feedback email, as the feedback sender makes it."""
    with server.stack.environment_of(server.spec):
        token = rating_desk().signer.rating_token(ORDER, "c-9", score, 30)
    return f"{server.base}?t={token}"


def _altered(link: str) -> str:
    """The link with one character of its signature changed."""
    at = len(link) - 10
    return link[:at] + ("A" if link[at] != "A" else "B") + link[at + 1 :]


def _status(response: Any) -> int | None:
    return None if response is None else int(response.status)


def _ratings(server: PreferenceServer) -> list[dict[str, Any]]:
    table = server.stack.table_name("RatingsTable")
    items = boto3.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def _rating(server: PreferenceServer) -> dict[str, Any]:
    """The one stored rating (its order, score, taps and comment)."""
    items = _ratings(server)
    assert len(items) == 1
    with server.stack.environment_of(server.spec):
        stored = rating_desk().ratings.get(ORDER)
    assert stored is not None
    return {
        "order_id": stored.order_id,
        "customer_id": stored.customer_id,
        "score": stored.score,
        "comment": stored.comment,
        "taps": int(items[0]["taps"]),
    }


@pytest.mark.parametrize("viewport", [{"width": 390, "height": 844}])
def test_customer_rates_comments_and_changes_the_score(
    aws: Aws, browser: Any, viewport: dict[str, int]
) -> None:
    seed(aws.stack, [CUSTOMER])
    with running(aws.stack, function=FUNCTION, path="/rate") as server:
        page = browser.new_page(viewport=viewport)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        two, five = _link(server, 2), _link(server, 5)

        # when the customer taps the second star in the feedback email, on a phone
        assert _status(page.goto(two)) == 200
        assert page.locator("html").get_attribute("lang") == "nl"
        assert page.locator("h1").inner_text() == "Bedankt voor je beoordeling"
        assert f"Je gaf bestelling {ORDER} een 2 uit 5." in page.inner_text("main")
        assert page.locator(".stars").inner_text() == "★★☆☆☆"
        assert page.title() != "pwned"

        # then the score is stored, once
        assert _rating(server) == {
            "order_id": ORDER,
            "customer_id": "c-9",
            "score": 2,
            "comment": None,
            "taps": 1,
        }

        # and the page asks what went wrong; the customer writes it and sends it
        box = page.get_by_label("Het spijt ons dat het niet goed was. Wat ging er mis?")
        assert box.is_visible()
        box.fill("De soep was koud.")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        page.get_by_role("button", name="Versturen").click()

        # then the page thanks them and the comment is stored with the score
        assert page.locator("h1").inner_text() == "Bedankt voor je beoordeling"
        assert "Bedankt, we hebben je opmerking ontvangen." in page.inner_text("main")
        assert page.locator("textarea").count() == 0
        stored = _rating(server)
        assert (stored["score"], stored["comment"]) == (2, "De soep was koud.")

        # when they tap the fifth star after all, the one rating says 5 (comment kept)
        assert _status(page.goto(five)) == 200
        assert f"Je gaf bestelling {ORDER} een 5 uit 5." in page.inner_text("main")
        assert page.locator(".stars").inner_text() == "★★★★★"
        assert page.get_by_label("Wil je ons nog iets vertellen? (niet verplicht)").is_visible()
        after_five = _rating(server)
        assert (after_five["score"], after_five["comment"]) == (5, "De soep was koud.")

        # and a link with one character changed is refused and changes nothing
        assert _status(page.goto(_altered(five))) == 403
        assert page.locator("textarea, form").count() == 0
        # (in the page's own language: a forged link cannot be trusted to name the customer)
        texts = PAGE_STRINGS[page.locator("html").get_attribute("lang") or "en"]
        assert page.locator("h1").inner_text() == texts["invalid_title"]
        assert texts["invalid_forged"] in page.inner_text("main")
        assert _rating(server) == after_five

        # and no script ran anywhere on the way (the page does not show the first name today;
        # the check is there for the day it does)
        assert page.title() != "pwned"
        assert dialogs == []
        page.close()
