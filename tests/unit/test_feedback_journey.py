"""The feedback journey's pure decisions: what a rating change calls for, and the alert text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from lifecycle.models import Customer, Lifetime, Rating
from lifecycle.stages.feedback import journey as feedback

AT = datetime(2026, 11, 27, 19, 45, tzinfo=UTC)


def rating(score: int, comment: str | None = None) -> Rating:
    return Rating(
        order_id="o-1",
        customer_id="c-1",
        score=score,
        rated_at=AT,
        updated_at=AT,
        customer_comment=comment,
    )


def customer() -> Customer:
    return Customer.model_validate(
        {
            "customer_id": "c-1",
            "email": "ann@example.com",
            "first_name": "Ann",
            "locale": "en-GB",
            "created_at": "2026-11-01T09:00:00+00:00",
        }
    )


@pytest.mark.parametrize(
    ("score", "alerts", "referral"),
    [(1, 1, False), (2, 1, False), (3, 0, False), (4, 0, False), (5, 0, True)],
)
def test_a_first_rating(score: int, alerts: int, referral: bool) -> None:
    plan = feedback.follow_up(rating(score), None)

    assert len(plan.alerts) == alerts
    assert plan.apologise is bool(alerts)
    assert plan.ask_referral is referral


def test_the_low_rating_alert_has_one_key_per_order_however_often_it_is_tapped() -> None:
    first = feedback.follow_up(rating(1), None)
    again = feedback.follow_up(rating(2), rating(1))

    assert (
        [a.key for a in first.alerts] == [a.key for a in again.alerts] == ["complaint#o-1#rating"]
    )


def test_a_comment_is_a_complaint_on_a_three_but_not_on_a_four() -> None:
    on_three = feedback.follow_up(rating(3, "late"), rating(3))
    on_four = feedback.follow_up(rating(4, "lovely"), rating(4))
    same_again = feedback.follow_up(rating(3, "late"), rating(3, "late"))
    lowered = feedback.follow_up(rating(3, "zip broken"), rating(5, "zip broken"))

    assert [a.reason for a in on_three.alerts] == ["comment"]
    assert on_three.apologise
    assert on_four.alerts == ()
    assert not on_four.apologise
    # a replayed record has the same key (the ledger raises it once); a score lowered under
    # an earlier comment makes that comment a complaint
    assert same_again.alerts == on_three.alerts
    assert [a.reason for a in lowered.alerts] == ["comment"]


def test_a_five_again_is_no_new_referral_ask() -> None:
    assert not feedback.follow_up(rating(5, "thanks"), rating(5)).ask_referral
    assert feedback.follow_up(rating(5), rating(4)).ask_referral


def test_the_alert_names_order_customer_lifetime_and_comment_but_no_address() -> None:
    alert = feedback.follow_up(rating(1, "Shirt missing"), None).alerts[0]
    lifetime = Lifetime(orders=3, spend={"EUR": Decimal("104.30")})

    subject, text, attributes = feedback.alert_text(
        alert, rating(1, "Shirt missing"), customer(), lifetime
    )

    assert subject == "Complaint: order o-1 rated 1/5"
    assert "Ann (c-1)" in text
    assert "3 delivered order(s), €104.30" in text
    assert "Comment:   Shirt missing" in text
    assert "ann@example.com" not in text
    assert attributes == {
        "kind": "complaint",
        "reason": "rating",
        "rating": "1",
        "order_id": "o-1",
        "customer_id": "c-1",
        "lifetime_orders": "3",
        "lifetime_spend": "€104.30",
    }


def test_repeat_customers_have_two_delivered_orders() -> None:
    assert not feedback.is_repeat(Lifetime(orders=1))
    assert feedback.is_repeat(Lifetime(orders=2))


def test_the_referral_link_keeps_the_pages_own_query() -> None:
    assert (
        feedback.referral_link("https://x.example/book", "c 1") == "https://x.example/book?ref=c+1"
    )
    assert feedback.referral_link("https://x.example/?lang=nl", "c-1").endswith("&ref=c-1")
