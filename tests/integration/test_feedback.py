"""Feedback: the request after delivery, the rating endpoint, complaints and referral asks, with
the functions the template names and the sample events in events/."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import time_machine
from boto3.dynamodb.types import TypeDeserializer

from lifecycle.local.serve import function_url_event
from lifecycle.local.stack import LocalContext
from lifecycle.messaging.links import InvalidLink
from lifecycle.platform import composition
from lifecycle.stages.feedback.ratings import desk as rating_desk
from tests.conftest import Aws, load_event

ORDERS = "OrdersFunction"
FEEDBACK = "FeedbackFunction"
RATINGS = "RatingsFunction"
FOLLOW_UP = "RatingFollowUpFunction"
DELIVERED_AT = datetime(2026, 11, 26, 17, 25, tzinfo=UTC)  # events/orders-delivered.json
A_DAY_LATER = DELIVERED_AT + timedelta(hours=24)
TAP = {"sec-fetch-mode": "navigate", "sec-fetch-user": "?1", "sec-fetch-site": "none"}


def customer(index: int) -> dict[str, Any]:
    """0: Ann (en-GB, marketing email consent), 1: Sanne (nl-NL, no marketing consent)."""
    item: dict[str, Any] = load_event("customers-insert.json")["Records"][index]["dynamodb"][
        "NewImage"
    ]
    return item


def delivered_order(order_id: str = "o-5001", customer_id: str = "c-1002") -> dict[str, Any]:
    item: dict[str, Any] = load_event("orders-delivered.json")["Records"][0]["dynamodb"]["NewImage"]
    item["order_id"] = {"S": order_id}
    item["customer_id"] = {"S": customer_id}
    return item


@pytest.fixture
def shop(aws: Aws) -> Iterator[Aws]:
    """Ann and Sanne are customers; Sanne's order o-5001 was delivered a day ago."""
    dynamodb = boto3.client("dynamodb")
    for index in (0, 1):
        dynamodb.put_item(TableName="CustomersTable", Item=customer(index))
    dynamodb.put_item(TableName="OrdersTable", Item=delivered_order())
    aws.stack.read_stream("OrdersTable")  # the business's own writes are not the test's news
    aws.stack.read_stream("CustomersTable")
    with time_machine.travel(A_DAY_LATER, tick=False):
        yield aws


def rating_links(html_body: str) -> dict[int, str]:
    """The rating buttons, in the order the email shows them (1 to 5)."""
    hrefs = [h for h in re.findall(r'href="([^"]+)"', html_body) if "/rate?" in h]
    return {place: html.unescape(href) for place, href in enumerate(hrefs, start=1)}


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def request_feedback(shop: Aws) -> dict[str, Any]:
    result: dict[str, Any] = shop.invoke(FEEDBACK, load_event("schedule-feedback-request.json"))
    return result


def web(
    shop: Aws,
    method: str,
    token: str,
    headers: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
) -> dict[str, Any]:
    host = "ratingsfunction.lambda-url.eu-west-1.on.aws"
    sent = {"host": host, **(headers or {})}
    if body is not None:
        sent.setdefault("content-type", "application/x-www-form-urlencoded")
    event = function_url_event(
        method, f"/rate?{urlencode({'t': token})}", sent, urlencode(body).encode() if body else None
    )
    response: dict[str, Any] = shop.invoke(RATINGS, event)
    return response


def make_token(shop: Aws, score: int, order_id: str = "o-5001", customer_id: str = "c-1002") -> str:
    spec = shop.stack.function(RATINGS)
    with shop.stack.environment_of(spec):
        return rating_desk().signer.rating_token(order_id, customer_id, score, 30)


def stored_rating(order_id: str = "o-5001") -> dict[str, Any] | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName="RatingsTable", Key={"order_id": {"S": order_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def staff_inbox() -> str:
    """An SQS queue subscribed to the complaints topic, as the staff's email would be."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="staff")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    topic = next(
        t["TopicArn"]
        for t in boto3.client("sns").list_topics()["Topics"]
        if t["TopicArn"].endswith(":ComplaintsTopic")
    )
    boto3.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    return str(url)


def alerts(queue: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def pump(shop: Aws) -> None:
    """Deliver new stream records (the Ratings table's, here) to their functions."""
    shop.stack.pump(LocalContext.for_function)


# ------------------------------------------------------------------ the request
def test_delivery_schedules_the_feedback_request_a_day_later(shop: Aws) -> None:
    shop.invoke(ORDERS, load_event("orders-delivered.json"))

    made = boto3.client("scheduler").get_schedule(
        Name="feedback-o-5001", GroupName="DelayedMessagesGroup"
    )
    assert made["ScheduleExpression"] == "at(2026-11-27T17:25:00)"
    assert made["ActionAfterCompletion"] == "DELETE"
    assert made["Target"]["Arn"].endswith(":function:FeedbackFunction")
    assert json.loads(made["Target"]["Input"]) == load_event("schedule-feedback-request.json")


def test_the_request_carries_five_signed_rating_links_and_an_unsubscribe(shop: Aws) -> None:
    assert request_feedback(shop)["status"] == "sent"

    (sent,) = shop.emails()
    assert sent.to == "sanne.devries@example.nl"
    assert sent.mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = rating_links(sent.part("html"))
    assert sorted(links) == [1, 2, 3, 4, 5]
    spec = shop.stack.function(RATINGS)
    with shop.stack.environment_of(spec):
        signer = rating_desk().signer
        for score, url in links.items():
            assert url.startswith(spec.environment.get("RATINGS_URL", "https://ratingsfunction"))
            claims = signer.verify_rating(token_of(url))
            assert (claims.order_id, claims.customer_id, claims.score) == (
                "o-5001",
                "c-1002",
                score,
            )
            assert claims.expires == A_DAY_LATER + timedelta(days=30)
        with pytest.raises(InvalidLink):  # a rating link is no unsubscribe link, and back
            signer.verify(token_of(links[5]))
    assert shop.ledger("feedback#o-5001")["status"] == "sent"
    assert request_feedback(shop)["status"] == "duplicate"  # the schedule fired twice
    assert len(shop.emails()) == 1


def test_no_second_request_within_the_quiet_period(shop: Aws) -> None:
    boto3.client("dynamodb").put_item(TableName="OrdersTable", Item=delivered_order("o-5002"))
    request_feedback(shop)

    with time_machine.travel(A_DAY_LATER + timedelta(days=13), tick=False):
        skipped = shop.invoke(FEEDBACK, {"order_id": "o-5002"})
    with time_machine.travel(A_DAY_LATER + timedelta(days=15), tick=False):
        boto3.client("dynamodb").put_item(TableName="OrdersTable", Item=delivered_order("o-5003"))
        later = shop.invoke(FEEDBACK, {"order_id": "o-5003"})

    assert skipped == {
        "status": "skipped",
        "reason": "feedback requested within the last 14 days",
    }
    assert shop.ledger("feedback#o-5002")["status"] == "skipped"
    assert later["status"] == "sent"
    assert len(shop.emails()) == 2


def test_no_request_to_a_customer_who_left_the_feedback_topic(shop: Aws) -> None:
    from lifecycle.messaging.message import Channel
    from lifecycle.messaging.preferences import Action, Change, Source

    with shop.stack.environment_of(shop.stack.function(FEEDBACK)):
        composition.ports().preferences.apply(
            "c-1002",
            [Change(Channel.EMAIL, "feedback", Action.UNSUBSCRIBE)],
            Source.PREFERENCE_CENTRE,
            A_DAY_LATER,
            "e-1",
        )

    assert request_feedback(shop)["status"] == "skipped"
    assert shop.emails() == []


def test_no_request_for_an_order_that_is_no_longer_delivered(shop: Aws) -> None:
    order = delivered_order()
    order["status"] = {"S": "cancelled"}
    boto3.client("dynamodb").put_item(TableName="OrdersTable", Item=order)

    assert request_feedback(shop) == {"status": "skipped", "reason": "order is cancelled"}
    assert shop.emails() == []


# ------------------------------------------------------------------ the rating endpoint
def test_a_tap_records_the_rating_and_a_second_tap_updates_it(shop: Aws) -> None:
    first = web(shop, "GET", make_token(shop, 4), TAP)
    assert first["statusCode"] == 200
    assert "Bedankt voor je beoordeling" in first["body"]  # Sanne reads Dutch
    assert 'name="comment"' in first["body"]
    assert first["headers"]["Content-Security-Policy"].startswith("default-src 'none'")

    second = web(shop, "GET", make_token(shop, 2), TAP)

    assert second["statusCode"] == 200
    rating = stored_rating()
    assert rating is not None
    assert (rating["score"], rating["taps"], rating["customer_id"]) == (2, 2, "c-1002")


def test_a_link_scanner_fetching_every_link_records_nothing(shop: Aws) -> None:
    for score in range(1, 6):
        page = web(shop, "GET", make_token(shop, score))  # no Fetch Metadata: not a person
        assert page["statusCode"] == 200
        assert "Bevestig je beoordeling" in page["body"]
    assert stored_rating() is None

    token = make_token(shop, 3)
    form_token = re.search(r'name="form_token" value="([^"]+)"', web(shop, "GET", token)["body"])
    assert form_token is not None
    same_origin = {"origin": "https://ratingsfunction.lambda-url.eu-west-1.on.aws"}
    confirmed = web(shop, "POST", token, same_origin, {"form_token": form_token[1]})

    assert confirmed["statusCode"] == 200
    assert stored_rating()["score"] == 3  # type: ignore[index]


@pytest.mark.parametrize("position", ["payload", "signature", "each"])
def test_a_link_altered_by_one_character_is_refused_and_changes_nothing(
    shop: Aws, position: str
) -> None:
    web(shop, "GET", make_token(shop, 3), TAP)
    before = stored_rating()
    token = make_token(shop, 1)
    indexes = {
        "payload": [token.index(".") + 5],
        "signature": [len(token) - 1],
        "each": range(len(token)),
    }[position]

    for index in indexes:
        swapped = "B" if token[index] != "B" else "C"
        altered = token[:index] + swapped + token[index + 1 :]
        page = web(shop, "GET", altered, TAP)
        assert page["statusCode"] in (400, 403), index
        assert "This link does not work" in page["body"]

    assert stored_rating() == before


def test_an_expired_link_is_refused_with_410_and_changes_nothing(shop: Aws) -> None:
    token = make_token(shop, 1)

    with time_machine.travel(A_DAY_LATER + timedelta(days=31), tick=False):
        page = web(shop, "GET", token, TAP)

    assert page["statusCode"] == 410
    assert "expired" in page["body"]
    assert stored_rating() is None


def test_a_comment_needs_the_pages_form_token_and_origin(shop: Aws) -> None:
    token = make_token(shop, 2)
    page = web(shop, "GET", token, TAP)
    form_token = re.search(r'name="form_token" value="([^"]+)"', page["body"])
    assert form_token is not None
    elsewhere = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}

    forged = web(shop, "POST", token, elsewhere, {"form_token": form_token[1], "comment": "x"})
    no_token = web(shop, "POST", token, {}, {"comment": "x"})
    too_long = web(shop, "POST", token, {}, {"form_token": form_token[1], "comment": "x" * 1001})
    good = web(shop, "POST", token, {}, {"form_token": form_token[1], "comment": " Te laat. "})

    assert (forged["statusCode"], no_token["statusCode"], too_long["statusCode"]) == (403, 403, 400)
    assert good["statusCode"] == 200
    assert "we hebben je opmerking ontvangen" in good["body"]
    assert stored_rating()["customer_comment"] == "Te laat."  # type: ignore[index]


# ------------------------------------------------------------------ complaints and referrals
def test_a_one_star_rating_raises_exactly_one_alert_and_one_apology(shop: Aws) -> None:
    inbox = staff_inbox()
    web(shop, "GET", make_token(shop, 1), TAP)
    pump(shop)
    web(shop, "GET", make_token(shop, 1), TAP)  # tapped twice
    pump(shop)
    shop.invoke(FOLLOW_UP, load_event("ratings-one-star.json"))  # and the record replayed

    (alert,) = alerts(inbox)
    assert alert["Subject"] == "Complaint: order o-5001 rated 1/5"
    text = alert["Message"]
    assert "Order:     o-5001" in text
    assert "Sanne (c-1002)" in text
    assert "1 delivered order(s), €48.55" in text  # lifetime count and spend
    assert "sanne.devries" not in text  # no address in the alert
    apologies = [e for e in shop.emails() if "spijt" in e.subject]
    assert len(apologies) == 1
    assert shop.ledger("feedback#o-5001#apology")["status"] == "sent"


def test_a_comment_on_a_low_rating_raises_an_alert_with_the_comment(shop: Aws) -> None:
    inbox = staff_inbox()
    token = make_token(shop, 3)
    page = web(shop, "GET", token, TAP)
    pump(shop)
    assert alerts(inbox) == []  # a 3 alone is no complaint
    form_token = re.search(r'name="form_token" value="([^"]+)"', page["body"])
    assert form_token is not None

    web(shop, "POST", token, {}, {"form_token": form_token[1], "comment": "Knoop kwijt."})
    pump(shop)

    (alert,) = alerts(inbox)
    assert alert["Subject"] == "Complaint comment: order o-5001 (rated 3/5)"
    assert "Comment:   Knoop kwijt." in alert["Message"]
    assert len([e for e in shop.emails() if "spijt" in e.subject]) == 1


def test_a_five_from_a_repeat_customer_asks_for_a_referral_once_per_90_days(shop: Aws) -> None:
    dynamodb = boto3.client("dynamodb")
    for order_id in ("o-7001", "o-7002", "o-7003"):
        dynamodb.put_item(TableName="OrdersTable", Item=delivered_order(order_id, "c-1001"))
    shop.stack.read_stream("OrdersTable")  # only the ratings' stream is under test

    web(shop, "GET", make_token(shop, 5, "o-7001", "c-1001"), TAP)
    pump(shop)
    with time_machine.travel(A_DAY_LATER + timedelta(days=30), tick=False):
        web(shop, "GET", make_token(shop, 5, "o-7002", "c-1001"), TAP)
        pump(shop)
    with time_machine.travel(A_DAY_LATER + timedelta(days=91), tick=False):
        web(shop, "GET", make_token(shop, 5, "o-7003", "c-1001"), TAP)
        pump(shop)

    asks = [e for e in shop.emails() if e.to == "ann.fischer@example.com"]
    assert len(asks) == 2  # day 0 and day 91; not day 30
    assert "ref=c-1001" in asks[0].part("plain")
    assert asks[0].mime["List-Unsubscribe"]  # a marketing email: one-click unsubscribe


def test_a_five_from_a_first_time_customer_asks_for_nothing(shop: Aws) -> None:
    web(shop, "GET", make_token(shop, 5), TAP)
    pump(shop)

    assert shop.emails() == []


def test_a_comment_from_an_older_page_keeps_the_later_score(shop: Aws) -> None:
    two = make_token(shop, 2)
    page = web(shop, "GET", two, TAP)
    web(shop, "GET", make_token(shop, 5), TAP)  # then the customer tapped 5 after all
    form_token = re.search(r'name="form_token" value="([^"]+)"', page["body"])
    assert form_token is not None
    assert page["headers"]["Cache-Control"] == "private, max-age=600"  # Back re-casts nothing

    body = {"form_token": form_token[1], "action": "comment", "comment": "a\r\n" * 333 + "b"}
    sent = web(shop, "POST", two, {}, body)

    assert sent["statusCode"] == 200  # 1000 characters as the box counts them (LF, not CRLF)
    rating = stored_rating()
    assert rating is not None
    assert (rating["score"], rating["taps"]) == (5, 2)  # the comment is no tap
    assert rating["customer_comment"] == "a\n" * 333 + "b"


def test_a_refusal_page_speaks_the_browsers_language(shop: Aws) -> None:
    page = web(shop, "GET", "1.made.up", {**TAP, "accept-language": "nl-NL,nl;q=0.9,en;q=0.8"})

    assert page["statusCode"] == 403
    assert "Deze link werkt niet" in page["body"]


def test_a_request_that_did_not_go_out_does_not_start_the_quiet_period(shop: Aws) -> None:
    from lifecycle.messaging.message import Channel
    from lifecycle.messaging.preferences import Action, Change, Source

    def feedback_topic(action: Action, event_id: str) -> None:
        with shop.stack.environment_of(shop.stack.function(FEEDBACK)):
            composition.ports().preferences.apply(
                "c-1002",
                [Change(Channel.EMAIL, "feedback", action)],
                Source.PREFERENCE_CENTRE,
                A_DAY_LATER,
                event_id,
            )

    feedback_topic(Action.UNSUBSCRIBE, "e-1")
    assert request_feedback(shop)["status"] == "skipped"  # opted out: nothing sent
    feedback_topic(Action.RESUBSCRIBE, "e-2")
    boto3.client("dynamodb").put_item(TableName="OrdersTable", Item=delivered_order("o-5002"))

    with time_machine.travel(A_DAY_LATER + timedelta(days=5), tick=False):
        assert shop.invoke(FEEDBACK, {"order_id": "o-5002"})["status"] == "sent"


def test_a_tap_after_the_customer_was_erased_keeps_nothing(shop: Aws) -> None:
    boto3.client("dynamodb").delete_item(
        TableName="CustomersTable", Key={"customer_id": {"S": "c-1002"}}
    )

    page = web(shop, "GET", make_token(shop, 1), TAP)

    assert page["statusCode"] == 410
    assert stored_rating() is None


def test_a_malformed_order_is_recorded_not_retried(shop: Aws) -> None:
    order = delivered_order()
    order["status"] = {"S": "lost"}
    boto3.client("dynamodb").put_item(TableName="OrdersTable", Item=order)

    result = request_feedback(shop)

    assert result["status"] == "rejected"
    assert "status" in result["reason"]
    assert shop.ledger("feedback#o-5001#rejected")["status"] == "failed"
