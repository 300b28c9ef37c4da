"""Complaint cases over moto, with the functions the template names and the sample events in
events/: a case per complaint alert, the staff links and the case page, the escalation sweep,
and the weekly response-time KPI read through the week index."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import time_machine
from boto3.dynamodb.types import TypeDeserializer

from lifecycle.adapters.cases import DynamoCases
from lifecycle.local.serve import function_url_event
from lifecycle.local.stack import LocalContext
from lifecycle.messaging.links import LinkSigner
from lifecycle.stages.feedback.case_desk import desk as case_desk
from lifecycle.stages.feedback.cases import Case, weekly
from lifecycle.stages.feedback.ratings import desk as rating_desk
from tests.conftest import Aws, load_event
from tests.integration.test_feedback import (
    A_DAY_LATER,
    customer,
    delivered_order,
    make_token,
    staff_inbox,
)

CASES = "CaseDeskFunction"
SWEEP = "CaseEscalationFunction"
FOLLOW_UP = "RatingFollowUpFunction"
RATINGS = "RatingsFunction"
HOST = "casedeskfunction.lambda-url.eu-west-1.on.aws"
TAP = {"sec-fetch-mode": "navigate", "sec-fetch-user": "?1", "sec-fetch-site": "none"}
SAME_ORIGIN = {"origin": f"https://{HOST}", "sec-fetch-site": "same-origin"}
CASE_ID = "complaint#o-5001#rating"
# The one-star tap comes on Friday 2026-11-27 at 18:25 in Amsterdam, after hours: 4 business
# hours later is Monday 13:00 there, 12:00 UTC.
DUE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(aws: Aws) -> Iterator[Aws]:
    """Sanne's order o-5001 was delivered a day ago (test_feedback's shop); staff read the
    complaints topic through a queue."""
    dynamodb = boto3.client("dynamodb")
    for index in (0, 1):
        dynamodb.put_item(TableName="CustomersTable", Item=customer(index))
    dynamodb.put_item(TableName="OrdersTable", Item=delivered_order())
    aws.stack.read_stream("OrdersTable")
    aws.stack.read_stream("CustomersTable")
    with time_machine.travel(A_DAY_LATER, tick=False):
        yield aws


def read_inbox(queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in got:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in got]


def complain(shop: Aws) -> dict[str, Any]:
    """Sanne taps one star; the Ratings stream reaches the follow-up function."""
    page = shop.invoke(
        RATINGS,
        function_url_event(
            "GET",
            f"/rate?{urlencode({'t': make_token(shop, 1)})}",
            {"host": "ratingsfunction.lambda-url.eu-west-1.on.aws", **TAP},
            None,
        ),
    )
    assert page["statusCode"] == 200
    shop.stack.pump(LocalContext.for_function)
    return page


def stored_case(case_id: str = CASE_ID) -> dict[str, Any] | None:
    item = (
        boto3.client("dynamodb")
        .get_item(TableName="CasesTable", Key={"case_id": {"S": case_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {k: TypeDeserializer().deserialize(v) for k, v in item.items()}


def links_in(text: str) -> dict[str, str]:
    """The alert's staff links: "acknowledge" and "resolve"."""
    found = re.findall(r"(https://casedeskfunction\S+/case\?t=\S+)", text)
    assert len(found) == 2, text
    return {"acknowledge": found[0], "resolve": found[1]}


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def case_page(
    shop: Aws,
    method: str,
    token: str,
    headers: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """A request to the case page, made from the sample events (GET, or the name form's POST)."""
    event = load_event("case-page-post-name.json" if method == "POST" else "case-page-get.json")
    event["rawQueryString"] = urlencode({"t": token})
    event["queryStringParameters"] = {"t": token}
    event["headers"] = {"host": HOST, **(headers or {})}
    event.pop("cookies", None)
    if cookies:
        event["cookies"] = cookies
    if method == "POST":
        event["headers"]["content-type"] = "application/x-www-form-urlencoded"
        posted = function_url_event("POST", "/case", {}, urlencode(body or {}).encode())
        event["body"] = posted.get("body", "")
        event["isBase64Encoded"] = bool(event["body"])
    response: dict[str, Any] = shop.invoke(CASES, event)
    return response


def form_token(page: dict[str, Any]) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page["body"])
    assert found is not None
    return html.unescape(found[1])


def name_form(page: dict[str, Any]) -> dict[str, str]:
    """The name form's hidden fields (the form token and the first tap it is bound to)."""
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page["body"]))
    assert {"form_token", "tap", "tap_signature"} <= fields.keys(), page["body"]
    return {key: html.unescape(value) for key, value in fields.items()}


def has_name_form(page: dict[str, Any]) -> bool:
    return 'value="name"' in page["body"]


def sweep(shop: Aws) -> Any:
    return shop.invoke(SWEEP, load_event("schedule-case-escalation.json"))


def signed(shop: Aws, function: str, make: Any) -> str:
    spec = shop.stack.function(function)
    with shop.stack.environment_of(spec):
        token: str = make()
        return token


# ------------------------------------------------------------------ a case per alert
def test_a_complaint_alert_opens_one_case_with_signed_staff_links(shop: Aws) -> None:
    # given staff reading the complaints topic
    inbox = staff_inbox()

    # when Sanne taps one star, and the record is replayed two hours later
    complain(shop)
    first = stored_case()
    with time_machine.travel(A_DAY_LATER + timedelta(hours=2), tick=False):
        shop.invoke(FOLLOW_UP, load_event("ratings-one-star.json"))

    # then one case, whose times the replay did not move, and one alert carrying its links
    assert first is not None
    assert stored_case() == first
    assert first["alerted_at"] == "2026-11-27T17:25:00+00:00"
    assert first["escalate_at"] == "2026-11-30T12:00:00+00:00"  # after the weekend
    assert (first["order_id"], first["customer_id"], first["reason"]) == (
        "o-5001",
        "c-1002",
        "rating",
    )
    assert (first["rating"], first["week"], first["awaiting"]) == (1, "2026-W48", "ack")
    assert not any("@" in str(v) or str(v).startswith("+") for v in first.values())
    (alert,) = read_inbox(inbox)
    links = links_in(alert["Message"])
    assert "I'm on it" in alert["Message"]
    with shop.stack.environment_of(shop.stack.function(CASES)):
        signer = case_desk().signer
        assert signer.verify_case(token_of(links["acknowledge"])).action == "acknowledge"
        assert signer.verify_case(token_of(links["resolve"])).case_id == CASE_ID


# ------------------------------------------------------------------ the case page
def test_a_link_scanner_records_nothing_and_a_person_records_once(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    links = links_in(read_inbox(inbox)[0]["Message"])
    token = token_of(links["acknowledge"])

    # when a mail scanner fetches both links
    for url in links.values():
        scanned = case_page(shop, "GET", token_of(url))
        assert scanned["statusCode"] == 200
        assert 'value="confirm"' in scanned["body"]
    # then nothing is recorded
    assert "acknowledged_at" not in stored_case()  # type: ignore[operator]

    # when a person taps "I'm on it", and taps again an hour later
    first = case_page(shop, "GET", token, TAP)
    with time_machine.travel(A_DAY_LATER + timedelta(hours=1), tick=False):
        again = case_page(shop, "GET", token, TAP)

    # then the first tap's time stays, and the case left the sweep's index
    assert first["statusCode"] == 200
    assert "Recorded" in first["body"]
    assert "recorded before" in again["body"]
    case = stored_case()
    assert case is not None
    assert case["acknowledged_at"] == "2026-11-27T17:25:00+00:00"
    assert "awaiting" not in case
    assert first["headers"]["Content-Security-Policy"].startswith("default-src 'none'")


def test_the_confirmation_button_records_the_tap(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["resolve"])
    scanned = case_page(shop, "GET", token)

    confirmed = case_page(shop, "POST", token, SAME_ORIGIN, {"form_token": form_token(scanned)})

    assert confirmed["statusCode"] == 200
    case = stored_case()
    assert case is not None
    # resolving acknowledges a case nobody acknowledged
    assert case["resolved_at"] == case["acknowledged_at"] == "2026-11-27T17:25:00+00:00"


def test_the_name_form_needs_the_form_token_and_the_same_origin(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    links = links_in(read_inbox(inbox)[0]["Message"])
    token = token_of(links["acknowledge"])
    page = case_page(shop, "GET", token, TAP)
    good = name_form(page)
    elsewhere = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    no_form_token = {k: v for k, v in good.items() if k != "form_token"}

    forged = case_page(shop, "POST", token, elsewhere, {**good, "action": "name", "name": "Eve"})
    no_token = case_page(
        shop, "POST", token, SAME_ORIGIN, {**no_form_token, "action": "name", "name": "Eve"}
    )
    too_long = case_page(
        shop, "POST", token, SAME_ORIGIN, {**good, "action": "name", "name": "x" * 81}
    )
    assert (forged["statusCode"], no_token["statusCode"], too_long["statusCode"]) == (403, 403, 400)
    assert "acknowledged_by" not in stored_case()  # type: ignore[operator]

    named = case_page(
        shop, "POST", token, SAME_ORIGIN, {**good, "action": "name", "name": " Priya "}
    )
    renamed = case_page(shop, "POST", token, SAME_ORIGIN, {**good, "action": "name", "name": "Eve"})

    assert named["statusCode"] == renamed["statusCode"] == 200
    assert stored_case()["acknowledged_by"] == "Priya"  # type: ignore[index]  # first name stays
    assert not has_name_form(named)
    assert not has_name_form(renamed)
    cookie = named["cookies"][0]
    assert cookie.startswith("case_name=Priya")
    # Lax: the links open from webmail, a cross-site navigation
    assert {"HttpOnly", "Secure", "SameSite=Lax"} <= {p.strip() for p in cookie.split(";")}

    # a later first tap on "resolved" from the same browser is signed with the remembered name
    resolved = case_page(shop, "GET", token_of(links["resolve"]), TAP, cookies=["case_name=Priya"])
    case = stored_case()
    assert case is not None
    assert case["resolved_by"] == "Priya"
    assert not has_name_form(resolved)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sec-fetch-site": "none"},
        {"sec-fetch-site": "cross-site"},
        {"origin": "null"},
    ],
)
def test_a_post_that_does_not_say_it_comes_from_the_page_records_nothing(
    shop: Aws, headers: dict[str, str]
) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["acknowledge"])
    scanned = case_page(shop, "GET", token)

    posted = case_page(shop, "POST", token, headers, {"form_token": form_token(scanned)})

    assert posted["statusCode"] == 403
    assert "acknowledged_at" not in stored_case()  # type: ignore[operator]


@pytest.mark.parametrize(
    "headers", [{"origin": f"https://{HOST}"}, {"sec-fetch-site": "same-origin"}]
)
def test_a_post_with_its_origin_or_fetch_site_records_the_tap(
    shop: Aws, headers: dict[str, str]
) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["acknowledge"])
    scanned = case_page(shop, "GET", token)

    posted = case_page(shop, "POST", token, headers, {"form_token": form_token(scanned)})

    assert posted["statusCode"] == 200
    assert stored_case()["acknowledged_at"]  # type: ignore[index]


def test_only_the_first_tap_names_who_acknowledged(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    links = links_in(read_inbox(inbox)[0]["Message"])
    token = token_of(links["acknowledge"])

    # given Priya taps "I'm on it" first, without a remembered name
    first = case_page(shop, "GET", token, TAP)
    # when Eve taps later with her name remembered, and then posts a name form of her own
    with time_machine.travel(A_DAY_LATER + timedelta(hours=1), tick=False):
        later = case_page(shop, "GET", token, TAP, cookies=["case_name=Eve"])
        stored = stored_case()
        assert stored is not None
        guessed = {
            "form_token": name_form(first)["form_token"],  # the link's, seen on any form
            "tap": stored["acknowledged_at"],
            "tap_signature": "x" * 32,
            "action": "name",
            "name": "Eve",
        }
        posted = case_page(shop, "POST", token, SAME_ORIGIN, guessed)

    # then Eve is not named, and only Priya's page offers the name form
    assert has_name_form(first)
    assert not has_name_form(later)
    assert posted["statusCode"] == 403
    assert "acknowledged_by" not in stored_case()  # type: ignore[operator]

    # and Priya's page names her, bound to her tap
    case_page(
        shop, "POST", token, SAME_ORIGIN, {**name_form(first), "action": "name", "name": "Priya"}
    )
    assert stored_case()["acknowledged_by"] == "Priya"  # type: ignore[index]


def test_a_name_form_from_another_tap_names_nobody(shop: Aws) -> None:
    # given a name form bound to a tap of the other link (resolve), replayed on acknowledge
    inbox = staff_inbox()
    complain(shop)
    links = links_in(read_inbox(inbox)[0]["Message"])
    resolved = case_page(shop, "GET", token_of(links["resolve"]), TAP)
    fields = {**name_form(resolved), "action": "name", "name": "Eve"}

    posted = case_page(shop, "POST", token_of(links["acknowledge"]), SAME_ORIGIN, fields)

    assert posted["statusCode"] == 403
    assert "acknowledged_by" not in stored_case()  # type: ignore[operator]


def test_naming_on_the_resolve_link_never_names_the_acknowledger(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    links = links_in(read_inbox(inbox)[0]["Message"])

    # given nobody acknowledged; when Priya resolves it, with her name remembered
    case_page(shop, "GET", token_of(links["resolve"]), TAP, cookies=["case_name=Priya"])

    # then she is named as the resolver, and the acknowledgement (its time set) names nobody
    case = stored_case()
    assert case is not None
    assert case["resolved_by"] == "Priya"
    assert case["acknowledged_at"] == case["resolved_at"]
    assert "acknowledged_by" not in case


def test_naming_on_the_resolve_page_names_only_the_resolver(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    links = links_in(read_inbox(inbox)[0]["Message"])
    page = case_page(shop, "GET", token_of(links["resolve"]), TAP)

    named = case_page(
        shop,
        "POST",
        token_of(links["resolve"]),
        SAME_ORIGIN,
        {**name_form(page), "action": "name", "name": "Priya"},
    )

    assert named["statusCode"] == 200
    case = stored_case()
    assert case is not None
    assert case["resolved_by"] == "Priya"
    assert "acknowledged_by" not in case


@pytest.mark.parametrize("position", ["payload", "signature", "each"])
def test_an_altered_case_link_is_refused_and_changes_nothing(shop: Aws, position: str) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["acknowledge"])
    before = stored_case()
    indexes = {
        "payload": [token.index(".") + 5],
        "signature": [len(token) - 1],
        "each": range(len(token)),
    }[position]

    for index in indexes:
        swapped = "B" if token[index] != "B" else "C"
        altered = token[:index] + swapped + token[index + 1 :]
        page = case_page(shop, "GET", altered, TAP)
        assert page["statusCode"] in (400, 403), index

    assert stored_case() == before


def test_made_up_expired_and_other_purpose_links_are_refused_and_change_nothing(
    shop: Aws,
) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["acknowledge"])
    before = stored_case()

    rating = make_token(shop, 1)
    unsubscribe = signed(shop, RATINGS, lambda: rating_desk().signer.token("c-1002", None))
    # made with another key: what someone who does not hold the link key could make
    forged_key = LinkSigner(lambda: b"x" * 32, "").case_token(CASE_ID, "acknowledge", 30)
    statuses = {
        "malformed": case_page(shop, "GET", "not-a-token", TAP)["statusCode"],
        "empty": case_page(shop, "GET", "", TAP)["statusCode"],
        "rating": case_page(shop, "GET", rating, TAP)["statusCode"],
        "unsubscribe": case_page(shop, "GET", unsubscribe, TAP)["statusCode"],
        "forged": case_page(shop, "GET", forged_key, TAP)["statusCode"],
    }
    with time_machine.travel(A_DAY_LATER + timedelta(days=31), tick=False):
        statuses["expired"] = case_page(shop, "GET", token, TAP)["statusCode"]

    assert statuses == {
        "malformed": 400,
        "empty": 400,
        "rating": 403,
        "unsubscribe": 403,
        "forged": 403,
        "expired": 410,
    }
    assert stored_case() == before


# ------------------------------------------------------------------ escalation
def test_an_unacknowledged_case_escalates_exactly_once(shop: Aws) -> None:
    # given a complaint nobody acknowledged
    inbox = staff_inbox()
    complain(shop)
    read_inbox(inbox)

    # when the sweep runs before it is due, then twice after, and the alert is replayed
    with time_machine.travel(DUE - timedelta(minutes=15), tick=False):
        sweep(shop)
        early = read_inbox(inbox)
    with time_machine.travel(DUE + timedelta(minutes=5), tick=False):
        sweep(shop)
        sweep(shop)
        shop.invoke(FOLLOW_UP, load_event("ratings-one-star.json"))
        sweep(shop)

    # then nothing early, one escalation after, and the case says when
    assert early == []
    (escalation,) = read_inbox(inbox)
    assert escalation["Subject"].startswith("Escalation:")
    assert "o-5001" in escalation["Subject"]
    assert len(links_in(escalation["Message"])) == 2  # staff can still take it from here
    case = stored_case()
    assert case is not None
    assert case["escalated_at"] == "2026-11-30T12:05:00+00:00"
    assert "awaiting" not in case
    assert shop.ledger(f"escalation#{CASE_ID}") is not None


def test_a_sweep_retried_after_its_mark_failed_escalates_nothing_twice(shop: Aws) -> None:
    from botocore.exceptions import ClientError

    inbox = staff_inbox()
    complain(shop)
    read_inbox(inbox)
    with time_machine.travel(DUE + timedelta(minutes=5), tick=False):
        # given the escalation went out but marking the case failed
        shop.fail_calls(
            "dynamodb",
            "UpdateItem",
            lambda: ClientError({"Error": {"Code": "ThrottlingException"}}, "UpdateItem"),
            lambda params: "escalated_at" in params.get("UpdateExpression", ""),
        )
        with pytest.raises(ClientError):
            sweep(shop)
        # when Scheduler retries the sweep
        sweep(shop)

    # then one escalation, and the case is marked
    assert len(read_inbox(inbox)) == 1
    assert stored_case()["escalated_at"]  # type: ignore[index]


def test_two_overlapping_sweeps_escalate_once(shop: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from lifecycle.adapters.sns import SnsTopicAlerts

    inbox = staff_inbox()
    complain(shop)
    read_inbox(inbox)
    publish = SnsTopicAlerts.publish
    publishes: list[int] = []

    def publish_while_another_sweep_runs(self: SnsTopicAlerts, *args: Any) -> Any:
        publishes.append(1)
        if len(publishes) == 1:  # the second sweep starts while the first is publishing
            sweep(shop)
        return publish(self, *args)

    monkeypatch.setattr(SnsTopicAlerts, "publish", publish_while_another_sweep_runs)

    # when two sweeps overlap after the case fell due
    with time_machine.travel(DUE + timedelta(minutes=5), tick=False):
        sweep(shop)

    # then one escalation went out, and the case is marked
    assert len(publishes) == 1
    assert len(read_inbox(inbox)) == 1
    assert stored_case()["escalated_at"] == "2026-11-30T12:05:00+00:00"  # type: ignore[index]


def test_an_acknowledgement_after_the_sweep_read_the_case_stops_its_escalation(
    shop: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["acknowledge"])
    due = DynamoCases.due

    def due_then_acknowledged(self: DynamoCases, *args: Any) -> list[Case]:
        found = due(self, *args)
        case_page(shop, "GET", token, TAP)  # someone taps "I'm on it" right after the read
        return found

    monkeypatch.setattr(DynamoCases, "due", due_then_acknowledged)

    with time_machine.travel(DUE + timedelta(minutes=5), tick=False):
        sweep(shop)

    assert read_inbox(inbox) == []
    case = stored_case()
    assert case is not None
    assert "escalated_at" not in case
    assert case["acknowledged_at"] == "2026-11-30T12:05:00+00:00"


def test_an_acknowledged_case_never_escalates(shop: Aws) -> None:
    inbox = staff_inbox()
    complain(shop)
    token = token_of(links_in(read_inbox(inbox)[0]["Message"])["acknowledge"])
    case_page(shop, "GET", token, TAP)

    with time_machine.travel(DUE + timedelta(days=7), tick=False):
        sweep(shop)

    assert read_inbox(inbox) == []
    assert "escalated_at" not in stored_case()  # type: ignore[operator]


# ------------------------------------------------------------------ the weekly KPI
def test_the_weekly_figures_read_through_the_week_index_are_what_was_put_in(aws: Aws) -> None:
    # given cases alerted in weeks 48 and 49, answered after known times
    cases = DynamoCases(boto3.client("dynamodb"), "CasesTable")
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    answers = [(0, 1.0, 4.0), (1, 3.0, 8.0), (2, 5.0, None), (8, 2.0, 2.0)]  # day, ack h, done h
    for number, (day, ack, done) in enumerate(answers):
        at = monday + timedelta(days=day)
        case = Case(
            case_id=f"complaint#o-{number}#rating",
            order_id=f"o-{number}",
            customer_id=f"c-{number}",
            reason="rating",
            rating=2,
            alerted_at=at,
            escalate_at=at + timedelta(hours=4),
            week="2026-W48" if day < 7 else "2026-W49",
        )
        assert cases.record_alert(case)
        assert not cases.record_alert(case)  # a second publish opens nothing
        cases.acknowledge(case.case_id, at + timedelta(hours=ack), "Priya")
        if done is not None:
            cases.resolve(case.case_id, at + timedelta(hours=done))

    # when the KPI reads weeks 48 to 50
    rows = weekly(
        cases.in_weeks(date(2026, 11, 23), date(2026, 12, 9)), ["2026-W48", "2026-W49", "2026-W50"]
    )

    # then
    w48, w49, w50 = rows
    assert (w48.alerts, w48.acknowledged, w48.resolved, w48.still_open) == (3, 3, 2, 1)
    assert (w48.ack_median_hours, w48.ack_p90_hours) == (3.0, 5.0)
    # one of week 48's three is not resolved: the 90th percentile is not reached
    assert (w48.resolve_median_hours, w48.resolve_p90_hours) == (8.0, None)
    assert (w49.alerts, w49.ack_median_hours, w49.resolve_median_hours) == (1, 2.0, 2.0)
    assert w50.alerts == 0


def test_the_cases_command_prints_the_weeks_table_and_json(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifecycle.cli import main

    # given one case alerted in week 48 and acknowledged 90 minutes later
    cases = DynamoCases(boto3.client("dynamodb"), "CasesTable")
    at = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    case = Case(CASE_ID, "o-5001", "c-1002", "rating", 1, at, at, "2026-W48")
    cases.record_alert(case)
    cases.acknowledge(CASE_ID, at + timedelta(minutes=90))
    monkeypatch.setenv("CASES_TABLE", "CasesTable")

    # when the command reads weeks 48 and 49
    with time_machine.travel(datetime(2026, 12, 2, 12, 0, tzinfo=UTC), tick=False):
        assert main(["cases", "--since", "2026-11-23"]) == 0
        table = capsys.readouterr().out
        assert main(["cases", "--since", "2026-11-23", "--json"]) == 0
        figures = json.loads(capsys.readouterr().out)

    # then both weeks, with the acknowledgement's hours
    assert "2026-W48       1      1         0          0     1        1.5        1.5" in table
    assert [w["week"] for w in figures["weeks"]] == ["2026-W48", "2026-W49"]
    assert figures["weeks"][0]["ack_median_hours"] == 1.5
    assert figures["weeks"][1]["alerts"] == 0


def test_the_local_story_runs_through_the_template_s_functions(tmp_path: Any) -> None:
    from lifecycle.local.cases_run import play

    # given the local stack built from the template; when four complaints are played through
    # the follow-up function, the case page and the sweep
    rows, since, until = play(tmp_path / "lambda.log")

    # then the weeks hold what the story did (case 3 escalated on Monday, then answered)
    w47, w48 = rows
    assert (since, until) == (date(2026, 11, 16), date(2026, 11, 29))
    assert (w47.week, w47.alerts, w47.acknowledged, w47.resolved, w47.escalated) == (
        "2026-W47",
        3,
        3,
        2,
        1,
    )
    assert (w47.ack_median_hours, w47.ack_p90_hours) == (3.0, 69.5)
    # one of week 47's three is still open: its 90th percentile is not reached
    assert (w47.resolve_median_hours, w47.resolve_p90_hours) == (90.0, None)
    assert (w48.alerts, w48.still_open, w48.ack_median_hours) == (1, 0, 0.5)
    assert "@" not in (tmp_path / "lambda.log").read_text(encoding="utf-8")  # no address logged


def test_the_cases_command_says_where_it_needs_a_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lifecycle.cli import main

    assert main(["cases"]) == 2
    assert "give --stack, or set CASES_TABLE, or --local" in capsys.readouterr().err
