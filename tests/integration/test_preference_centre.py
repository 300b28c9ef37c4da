"""The preference centre handler, fed Function URL events: one-click, the page, and attacks."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine
from moto.sns import sns_backends

from lifecycle.adapters.suppressions import DynamoSuppressions
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
    # order updates by SMS only: no marketing consent on any channel
    {
        "customer_id": "c-3",
        "first_name": "Cem",
        "email": "cem@example.com",
        "phone": "+447911123456",
        "locale": "en",
        "created_at": "2026-11-22T09:00:00+00:00",
        "consent": {"sms_transactional": True},
    },
    # no consent recorded at all, and no phone
    {
        "customer_id": "c-4",
        "first_name": "Dee",
        "email": "dee@example.com",
        "locale": "en",
        "created_at": "2026-11-22T09:00:00+00:00",
    },
    # a phone and SMS marketing consent, but no email address
    {
        "customer_id": "c-5",
        "first_name": "Eli",
        "phone": "+447911123457",
        "locale": "en",
        "created_at": "2026-11-22T09:00:00+00:00",
        "consent": {"sms_marketing": True, "sms_transactional": True},
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


_BOX = re.compile(
    r'<input type="checkbox" name="(?P<name>\w+)" value="(?P<value>\w+)"(?P<rest>[^>]*)>'
)


def boxes(page: str) -> dict[str, str]:
    """The page's checkboxes, `email:offers` / `sms:marketing`: ticked, unticked or disabled."""
    return {
        f"{m['name']}:{m['value']}": (
            "disabled" if "disabled" in m["rest"] else "ticked" if "checked" in m["rest"] else "-"
        )
        for m in _BOX.finditer(page)
    }


def summary(page: str) -> dict[str, str]:
    """The saved page's list: line -> state."""
    found = re.findall(r"<li>(.*?): <strong>(.*?)</strong></li>", page)
    return {line: state for line, state in found}


def save(aws: Aws, customer_id: str, body: str) -> tuple[int, str]:
    link = token(aws, customer_id, topic="offers")
    form = f"form_token={form_token(aws, link)}&{body}"
    status, page, _ = call(aws, "POST", link, form, sec_fetch_site="same-origin")
    return status, page


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
    assert body.strip() == "Je bent afgemeld voor Aanbiedingen en kortingen per e-mail."
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
    # (Ann has no phone: the page offered no SMS box, so her SMS settings are left alone)
    assert opt_outs() == {"email:announcements", "email:feedback"}
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
    assert opt_outs() == set()
    # the page says the link expired and what to do (in Ann's language)
    for _, page, _ in (shown, saved):
        assert "<h1>Deze link is verlopen</h1>" in page
        assert "recentere e-mail" in page
        assert "afmeldknop" in page  # one-click from the mail app keeps working
        assert "<form" not in page


def test_tampered_expired_link_is_refused_even_in_one_click(centre: Aws) -> None:
    link = token(centre)
    bad = link[:-1] + ("A" if link[-1] != "A" else "B")

    with time_machine.travel(datetime.now(UTC) + timedelta(days=400), tick=False):
        status, page, _ = call(centre, "POST", bad, "List-Unsubscribe=One-Click")

    assert status == 403
    assert "This link does not work" in page
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


def test_page_ticks_only_what_the_customer_would_actually_get(centre: Aws) -> None:
    # Cem consented to order updates by SMS only: no marketing on any channel
    _, page, _ = call(centre, "GET", token(centre, "c-3"))

    assert boxes(page) == {
        "email:announcements": "disabled",
        "email:offers": "disabled",
        "email:loyalty": "disabled",
        "email:feedback": "ticked",  # a service email: it needs no opt-in, and he gets it
        "sms:marketing": "disabled",
    }
    assert "has no record of your permission" in page


def test_a_channel_without_an_address_is_not_offered(centre: Aws) -> None:
    _, no_phone, _ = call(centre, "GET", token(centre, "c-2"))
    _, no_email, _ = call(centre, "GET", token(centre, "c-5"))

    assert "sms:marketing" not in boxes(no_phone)
    assert "We have no phone number for you" in no_phone
    assert boxes(no_email) == {"sms:marketing": "ticked"}
    assert "We have no email address for you" in no_email


def test_a_bounced_address_and_a_stopped_number_are_shown_as_receiving_nothing(
    centre: Aws,
) -> None:
    # given Bo's address bounced for good, and Cem's number replied STOP (SNS's opt-out list)
    DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable").suppress(
        Channel.EMAIL, "bo@example.com", "permanent bounce", datetime.now(UTC)
    )
    sns_backends["123456789012"]["eu-west-1"].opt_out_numbers.append("+447911123456")

    _, bounced, _ = call(centre, "GET", token(centre, "c-2"))
    _, stopped, _ = call(centre, "GET", token(centre, "c-3"))

    # then no box of theirs is ticked or can be, and the page says why
    assert set(boxes(bounced).values()) == {"disabled"}
    assert "not sent (this address or number no longer receives our messages)" in bounced
    assert "could not be delivered or were reported as spam" in bounced
    assert boxes(stopped)["sms:marketing"] == "disabled"
    assert boxes(stopped)["email:feedback"] == "ticked"  # his email still gets it
    # and a crafted post cannot tick them
    status, page = save(centre, "c-2", "action=save&email=offers&email=feedback")
    assert status == 200
    assert opt_outs("c-2") == set()
    assert summary(page)["Email: Offers and discounts"] == (
        "not sent (this address or number no longer receives our messages)"
    )


def test_after_leaving_a_topic_the_saved_page_tells_the_true_state(centre: Aws) -> None:
    # Dee has no consent and no phone, and clicks "Unsubscribe from Offers"
    status, page = save(centre, "c-4", "action=leave_topic")

    assert status == 200
    assert opt_outs("c-4") == {"email:offers"}
    assert summary(page) == {
        "Email: News and announcements": "not subscribed (no permission given)",
        "Email: Offers and discounts": "not subscribed (no permission given)",
        "Email: Loyalty rewards": "not subscribed (no permission given)",
        "Email: Requests for feedback": "subscribed",
        "Offers and news by SMS": "not available",
    }
    assert "We have no phone number for you" in page


def test_saving_changes_only_the_boxes_the_page_offered(centre: Aws) -> None:
    # a crafted post ticks offers and SMS for Cem, who consented to neither
    status, page = save(centre, "c-3", "action=save&email=offers&sms=marketing")

    # then only the feedback box (offered, now unticked) changes, and the page says so
    assert status == 200
    assert opt_outs("c-3") == {"email:feedback"}
    assert summary(page)["Email: Offers and discounts"] == "not subscribed (no permission given)"
    assert summary(page)["Email: Requests for feedback"] == "unsubscribed"
    assert summary(page)["Offers and news by SMS"] == "not subscribed (no permission given)"


def test_saving_after_leaving_all_keeps_what_the_page_could_not_offer_left(centre: Aws) -> None:
    # Cem left all marketing; later he ticks feedback back on, the only email box offered
    save(centre, "c-3", "action=leave_all")

    save(centre, "c-3", "action=save&email=feedback")

    # then the topics he could not tick stay left, so a later consent does not resume them
    assert opt_outs("c-3") == {"email:announcements", "email:offers", "email:loyalty", "sms:*"}


def test_a_customer_whose_row_is_gone_is_told_nothing_is_sent(centre: Aws) -> None:
    _, page, _ = call(centre, "GET", token(centre, "c-gone"))

    assert boxes(page) == {}
    assert "We have no email address for you" in page
    assert "We have no phone number for you" in page
    assert "Order updates and receipts" not in page


def test_one_click_on_an_all_marketing_link_says_so(centre: Aws) -> None:
    status, body, _ = call(centre, "POST", token(centre, "c-2", None), "List-Unsubscribe=One-Click")

    assert status == 200
    assert body.strip() == "You are unsubscribed from all marketing email."
    assert opt_outs("c-2") == {"email:*"}
