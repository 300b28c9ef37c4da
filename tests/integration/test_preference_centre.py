"""The preference centre handler, fed Function URL events: one-click, the page, and attacks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine

from lifecycle.local.serve import function_url_event, seed
from lifecycle.local.stack import LocalContext
from lifecycle.messaging.message import Channel, Kind, MessageSpec, Status
from lifecycle.models import Customer
from lifecycle.platform import composition
from lifecycle.platform.settings import CoreSettings
from lifecycle.stages.subscribers.preference_centre import centre as preference_centre
from lifecycle.stages.welcome.messages import WELCOME
from tests.conftest import Aws

FUNCTION = "PreferencesFunction"
HOST = "abc123.lambda-url.eu-west-1.on.aws"
NASTY = '<script>alert("x")</script><img src=x onerror=alert(1)>'

CUSTOMERS = [
    {
        "customer_id": "c-1",
        "first_name": NASTY,
        "email": "ann@example.com",
        "locale": "nl-NL",
        "created_at": "2026-11-22T09:00:00+00:00",
        "consent": {"email_marketing": True},
    },
    {
        "customer_id": "c-2",
        "first_name": "Bo",
        "email": "bo@example.com",
        "locale": "en",
        "created_at": "2026-11-22T09:00:00+00:00",
        "consent": {"email_marketing": True},
    },
]


@pytest.fixture
def centre(aws: Aws) -> Aws:
    seed(aws.stack, CUSTOMERS)
    return aws


def call(aws: Aws, method: str, token: str, body: str | None = None, **headers: str) -> Any:
    spec = aws.stack.function(FUNCTION)
    target = f"/preferences?t={token}"
    sent = {"host": HOST, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if body is not None:
        sent.setdefault("content-type", "application/x-www-form-urlencoded")
    event = function_url_event(method, target, sent, body.encode() if body else None)
    with aws.stack.environment_of(spec):
        response = spec.load()(event, LocalContext.for_function(spec))
    text = response["body"]
    if response.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    return response["statusCode"], text, response.get("headers", {})


def token(aws: Aws, customer_id: str = "c-1", topic: str | None = "offers") -> str:
    with aws.stack.environment_of(aws.stack.function(FUNCTION)):
        return preference_centre().signer.token(customer_id, topic)


def form_token(aws: Aws, link: str) -> str:
    with aws.stack.environment_of(aws.stack.function(FUNCTION)):
        return preference_centre().signer.form_token(link)


def dispatch_offer(aws: Aws, record: dict[str, Any]) -> Any:
    """An offers email through the real runtime of a sender that has the link key."""
    spec = aws.stack.function("WelcomeFunction")
    env = {
        **spec.environment,
        "LINK_SIGNING_SECRET": "LinkSigningSecret",
        "PREFERENCES_URL": f"https://{HOST}/preferences",
    }
    customer = Customer.model_validate(record)
    offers = MessageSpec(
        template=WELCOME.template,
        stage="retention",
        kind=Kind.MARKETING,
        channels=(Channel.EMAIL,),
        variables=WELCOME.variables,
        topic="offers",
    )
    offer = offers.message(
        f"offer#{customer.customer_id}#email", customer, Channel.EMAIL, {"first_name": "Ann"}
    )
    return composition.Ports(CoreSettings.from_env(env)).dispatcher.dispatch(offer)


def opt_outs(customer_id: str = "c-1") -> set[str]:
    item = (
        boto3.client("dynamodb")
        .get_item(
            TableName="PreferencesTable",
            Key={"customer_id": {"S": customer_id}, "entry": {"S": "state"}},
        )
        .get("Item", {})
    )
    return set(item.get("opt_outs", {}).get("SS", []))


def audit_events(customer_id: str = "c-1") -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName="PreferencesTable")["Items"]
    return [
        i
        for i in items
        if i["customer_id"]["S"] == customer_id and i["entry"]["S"].startswith("event#")
    ]


def test_one_click_post_unsubscribes_at_once_and_later_sends_are_skipped(centre: Aws) -> None:
    link = token(centre)

    status, body, _ = call(centre, "POST", link, "List-Unsubscribe=One-Click")

    assert status == 200
    assert body.strip() == "Je bent afgemeld."
    assert opt_outs() == {"email:offers"}

    # when a marketing email on that topic is dispatched later, through the real runtime
    outcome = dispatch_offer(centre, CUSTOMERS[0])

    # then nothing is sent and the reason is recorded
    assert outcome.status is Status.SKIPPED
    assert centre.emails() == []
    assert centre.ledger("offer#c-1#email")["reason"] == "unsubscribed: offers by email"


def test_replayed_one_click_records_one_event(centre: Aws) -> None:
    link = token(centre)

    call(centre, "POST", link, "List-Unsubscribe=One-Click")
    call(centre, "POST", link, "List-Unsubscribe=One-Click")

    assert len(audit_events()) == 1
    event = audit_events()[0]
    assert event["source"]["S"] == "one-click"
    assert event["at"]["S"]


def test_opening_the_link_changes_nothing_and_shows_the_localised_page(centre: Aws) -> None:
    status, page, headers = call(centre, "GET", token(centre))

    assert status == 200
    assert '<html lang="nl">' in page
    assert "Afmelden voor Aanbiedingen en kortingen" in page
    assert opt_outs() == set()
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_customer_fields_are_escaped_on_every_page(centre: Aws) -> None:
    link = token(centre)
    _, page, _ = call(centre, "GET", link)
    _, saved, _ = call(
        centre,
        "POST",
        link,
        f"form_token={form_token(centre, link)}&action=leave_all",
        sec_fetch_site="same-origin",
        origin=f"https://{HOST}",
    )

    for html in (page, saved):
        assert "<script>" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;" in html or "Je keuzes zijn opgeslagen" in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_form_saves_exactly_the_boxes(centre: Aws) -> None:
    link = token(centre, topic=None)
    body = f"form_token={form_token(centre, link)}&action=save&email=offers&email=loyalty"

    status, page, _ = call(centre, "POST", link, body, sec_fetch_site="same-origin")

    assert status == 200
    assert opt_outs() == {"email:announcements", "email:feedback", "sms:*"}
    assert "Je keuzes zijn opgeslagen" in page
    (event,) = audit_events()
    assert event["source"]["S"] == "preference-centre"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="altered"),
        pytest.param(lambda t: t[: len(t) // 2], id="truncated"),
        pytest.param(lambda t: "", id="missing"),
        pytest.param(lambda t: "1.e30.AAAA", id="made-up"),
    ],
)
def test_bad_tokens_are_refused_and_change_nothing(centre: Aws, mangle: Any) -> None:
    bad = mangle(token(centre))

    for method, body in (("GET", None), ("POST", "List-Unsubscribe=One-Click")):
        status, page, _ = call(centre, method, bad, body)
        assert status in (400, 403)
        assert "This link does not work" in page
    assert opt_outs() == set()
    assert audit_events() == []


def test_expired_link_no_longer_opens_the_page_or_changes_settings(centre: Aws) -> None:
    link = token(centre)
    body = f"form_token={form_token(centre, link)}&action=leave_all"

    with time_machine.travel(datetime.now(UTC) + timedelta(days=400), tick=False):
        shown = call(centre, "GET", link)
        saved = call(centre, "POST", link, body, sec_fetch_site="same-origin")

    assert [shown[0], saved[0]] == [410, 410]
    assert "expired" in shown[1]
    assert opt_outs() == set()


def test_expired_but_genuine_link_still_unsubscribes_in_one_click(centre: Aws) -> None:
    # one-click can only ever unsubscribe: an old email's link must keep working for that
    with time_machine.travel(datetime.now(UTC) + timedelta(days=400), tick=False):
        status, _, _ = call(centre, "POST", token(centre), "List-Unsubscribe=One-Click")

    assert status == 200
    assert opt_outs() == {"email:offers"}


def test_one_click_as_multipart_form_data_works(centre: Aws) -> None:
    # RFC 8058 3.2: providers SHOULD send the body as multipart/form-data
    boundary = "----provider7MA4YWxkTrZu0gW"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        f"One-Click\r\n--{boundary}--\r\n"
    )

    status, _, _ = call(
        centre,
        "POST",
        token(centre),
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert status == 200
    assert opt_outs() == {"email:offers"}


def test_a_second_one_click_after_resubscribing_unsubscribes_again(centre: Aws) -> None:
    link = token(centre)
    call(centre, "POST", link, "List-Unsubscribe=One-Click")
    page = token(centre, topic=None)
    ticks = "&".join(f"email={t}" for t in ("announcements", "offers", "loyalty", "feedback"))
    body = f"form_token={form_token(centre, page)}&action=save&{ticks}&sms=marketing"
    call(centre, "POST", page, body, sec_fetch_site="same-origin")
    assert opt_outs() == set()

    call(centre, "POST", link, "List-Unsubscribe=One-Click")

    assert opt_outs() == {"email:offers"}
    assert len(audit_events()) == 3


def test_one_customers_form_token_does_not_work_on_anothers_link(centre: Aws) -> None:
    mine, theirs = token(centre, "c-2"), token(centre, "c-1")
    body = f"form_token={form_token(centre, mine)}&action=leave_all"

    status, _, _ = call(centre, "POST", theirs, body, sec_fetch_site="same-origin")

    assert status == 403
    assert opt_outs("c-1") == set()


@pytest.mark.parametrize(
    "headers",
    [
        {"sec_fetch_site": "cross-site"},
        {"origin": "https://evil.example"},
        {"sec_fetch_site": "same-site", "origin": "https://other.lambda-url.eu-west-1.on.aws"},
    ],
)
def test_cross_site_form_post_changes_nothing(centre: Aws, headers: dict[str, str]) -> None:
    link = token(centre)
    body = f"form_token={form_token(centre, link)}&action=leave_all"

    status, page, _ = call(centre, "POST", link, body, **headers)

    assert status == 403
    assert "nothing was changed" in page or "niets gewijzigd" in page
    assert opt_outs() == set()


@pytest.mark.parametrize("presented", ["", "wrong", "é" * 32])
def test_form_without_its_token_changes_nothing(centre: Aws, presented: str) -> None:
    body = f"form_token={presented}&action=leave_all"

    status, _, _ = call(centre, "POST", token(centre), body, sec_fetch_site="same-origin")

    assert status == 403
    assert opt_outs() == set()


def test_links_reveal_no_address(centre: Aws) -> None:
    link = token(centre)
    payload = json.loads(base64.urlsafe_b64decode(link.split(".")[1] + "=="))

    assert "@" not in link
    assert set(payload) == {"c", "t", "x"}


def test_topic_email_carries_working_one_click_headers_and_a_visible_link(centre: Aws) -> None:
    # given a sender with the link key, as the template would configure a marketing stage
    outcome = dispatch_offer(centre, CUSTOMERS[1])

    # then SES received both RFC 8058 headers and a visible link in both parts
    assert outcome.status is Status.SENT
    (sent,) = centre.emails()
    # (a long header may be folded onto a continuation line, as RFC 5322 allows; unfold it)
    header = " ".join(str(sent.mime["List-Unsubscribe"]).split())
    assert header.startswith(f"<https://{HOST}/preferences?t=1.")
    assert sent.mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = header.strip("<>")
    assert url in sent.part("plain")
    assert url.replace("&", "&amp;") in sent.part("html")

    # and the mailbox provider's one-click POST to exactly that URL unsubscribes Bo from offers
    link = url.split("?t=", 1)[1]
    status, _, _ = call(centre, "POST", link, "List-Unsubscribe=One-Click")
    assert status == 200
    assert opt_outs("c-2") == {"email:offers"}
