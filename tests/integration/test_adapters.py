"""SES, SNS and DynamoDB adapters against moto."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from lifecycle.adapters.errors import classify
from lifecycle.adapters.ledger import DynamoCaps, DynamoLedger
from lifecycle.adapters.preferences import DynamoPreferences
from lifecycle.adapters.ses import SesEmailSender
from lifecycle.adapters.sns import SnsSmsSender
from lifecycle.adapters.suppressions import DynamoSuppressions
from lifecycle.messaging.channels import OutboundEmail, OutboundSms
from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.messaging.ledger import SLOT_TAKEN, Claim, Held, LedgerState, Marker
from lifecycle.messaging.message import Cap, Channel, Message
from lifecycle.messaging.preferences import Action, Change, Source
from lifecycle.stages.welcome.messages import WELCOME
from tests.conftest import Aws
from tests.fakes import customer, now

URL = "https://freshfold.example/unsubscribe?t=abc.def"


def _email(**headers: str) -> OutboundEmail:
    return OutboundEmail(
        to="ann@example.com",
        sender="hello@freshfold.example",
        sender_name="Fresh Fold Laundry",
        subject="Voor jou: 20% korting · 洗衣優惠",
        html="<p>Hallo</p>",
        text="Hallo",
        message_key="offer#c-1",
        headers=dict(headers),
        tags={"stage": "retention", "kind": "marketing"},
    )


def test_ses_raw_message_keeps_both_parts_and_unsubscribe_headers(aws: Aws) -> None:
    sender = SesEmailSender(boto3.client("sesv2"))

    message_id = sender.send(
        _email(
            **{
                "List-Unsubscribe": f"<{URL}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        )
    )

    assert message_id
    (sent,) = aws.emails()
    assert sent.mime["List-Unsubscribe"] == f"<{URL}>"
    assert sent.mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.mime.get_content_type() == "multipart/alternative"
    assert sent.part("plain").strip() == "Hallo"
    assert sent.part("html").strip() == "<p>Hallo</p>"
    assert sent.subject == "Voor jou: 20% korting · 洗衣優惠"
    assert "Fresh Fold Laundry" in sent.mime["From"]


def test_header_with_a_line_break_is_refused_before_sending(aws: Aws) -> None:
    sender = SesEmailSender(boto3.client("sesv2"))

    with pytest.raises(PermanentError):
        sender.send(_email(**{"X-Campaign": "a\r\nBcc: victim@example.com"}))

    assert aws.emails() == []


def test_sns_sms_goes_to_the_number(aws: Aws) -> None:
    sender = SnsSmsSender(boto3.client("sns"))

    sender.send(OutboundSms("+31612345678", "Je was is onderweg", marketing=False, message_key="k"))

    assert aws.sms() == [("+31612345678", "Je was is onderweg")]


def test_sns_refuses_a_number_not_in_e164(aws: Aws) -> None:
    with pytest.raises(PermanentError):
        SnsSmsSender(boto3.client("sns")).send(
            OutboundSms("0612345678", "x", marketing=False, message_key="k")
        )


@pytest.mark.parametrize(
    ("code", "message", "status", "kind", "ambiguous"),
    [
        ("TooManyRequestsException", "Maximum sending rate exceeded.", 429, TransientError, False),
        ("Throttling", "Rate exceeded", 400, TransientError, False),
        ("InternalFailure", "Internal error", 500, TransientError, True),
        ("SendingPausedException", "Sending paused", 400, TransientError, False),
        (
            "MessageRejected",
            "Email address is not verified. Failed: ann@example.com",
            400,
            TransientError,
            False,
        ),
        (
            "MessageRejected",
            "Message content rejected for ann@example.com",
            400,
            PermanentError,
            False,
        ),
        (
            "InvalidParameter",
            "Invalid parameter: PhoneNumber +31612345678",
            400,
            PermanentError,
            False,
        ),
    ],
)
def test_provider_errors_are_sorted_into_permanent_and_transient(
    code: str, message: str, status: int, kind: type[Exception], ambiguous: bool
) -> None:
    error = ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "SendEmail",
    )

    classified = classify(error, "SES")

    assert isinstance(classified, kind)
    if isinstance(classified, TransientError):
        assert classified.ambiguous is ambiguous
    assert "ann@example.com" not in str(classified)
    assert "+31612345678" not in str(classified)


def test_timeout_after_sending_is_ambiguous() -> None:
    error = ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    classified = classify(error, "SES")

    assert isinstance(classified, TransientError)
    assert classified.ambiguous is True


def _message(key: str = "welcome#c-1#email") -> Message:
    return WELCOME.message(key, customer(), Channel.EMAIL, {"first_name": "Ann"})


def test_ledger_claim_is_exclusive_until_the_lease_expires(aws: Aws) -> None:
    ledger = DynamoLedger(boto3.client("dynamodb"), "LedgerTable", lease_seconds=60)

    first = ledger.claim(_message(), now())
    assert isinstance(first, Claim)
    assert isinstance(ledger.claim(_message(), now() + timedelta(seconds=30)), Held)

    # the first sender died: after the lease another takes over, and the dead one's late
    # mark cannot overwrite the new claim
    second = ledger.claim(_message(), now() + timedelta(seconds=61))
    assert isinstance(second, Claim)
    ledger.mark_sent(first, "late-id", now())
    item = ledger.get("welcome#c-1#email")
    assert item is not None
    assert item["status"] == "claimed"
    assert item["attempts"] == "2"

    ledger.mark_sent(second, "ses-1", now())
    item = ledger.get("welcome#c-1#email")
    assert item is not None
    assert (item["status"], item["provider_id"]) == ("sent", "ses-1")
    assert ledger.claim(_message(), now() + timedelta(days=30)) is LedgerState.SENT


def test_skip_never_overwrites_a_sent_message(aws: Aws) -> None:
    ledger = DynamoLedger(boto3.client("dynamodb"), "LedgerTable")
    claim = ledger.claim(_message(), now())
    assert isinstance(claim, Claim)
    ledger.mark_sent(claim, "ses-1", now())

    ledger.record_skip(_message(), "no consent", now())

    item = ledger.get("welcome#c-1#email")
    assert item is not None
    assert item["status"] == "sent"


def test_a_deferral_is_recorded_claimed_when_due_and_never_overwrites_a_sent_message(
    aws: Aws,
) -> None:
    # given a message deferred from now until an hour later
    ledger = DynamoLedger(boto3.client("dynamodb"), "LedgerTable")
    until = now() + timedelta(hours=1)
    attributes = {"timezone": "Europe/Amsterdam", "timezone_source": "phone"}

    assert ledger.record_deferred(_message(), "quiet hours", until, now(), now(), attributes)

    # then the ledger lists it with what waits, and the deferral's time claims it
    item = ledger.get("welcome#c-1#email")
    assert item is not None
    assert (item["status"], item["problem"], item["reason"]) == (
        "deferred",
        "deferred",
        "quiet hours",
    )
    assert item["deliver_at"] == until.isoformat()
    assert item["timezone_source"] == "phone"
    claim = ledger.claim(_message(), until)
    assert isinstance(claim, Claim)
    ledger.mark_sent(claim, "ses-1", until)
    sent = ledger.get("welcome#c-1#email")
    assert sent is not None
    assert (sent["status"], sent["deferred_reason"]) == ("sent", "quiet hours")
    assert "problem" not in sent
    # and a late deferral of the same message changes nothing
    assert not ledger.record_deferred(_message(), "again", until, now(), now(), attributes)
    assert ledger.get("welcome#c-1#email") == sent


def test_failed_message_can_be_claimed_again_by_a_redrive(aws: Aws) -> None:
    ledger = DynamoLedger(boto3.client("dynamodb"), "LedgerTable")
    claim = ledger.claim(_message(), now())
    assert isinstance(claim, Claim)
    ledger.mark_failed(claim, "template welcome/email.html.j2:3: undefined variable", now())

    assert isinstance(ledger.claim(_message(), now()), Claim)


def test_a_claim_on_its_first_channel_leaves_no_fallback_of_an_earlier_one(aws: Aws) -> None:
    ledger = DynamoLedger(boto3.client("dynamodb"), "LedgerTable")
    by_sms = _message().by(Channel.SMS, fallback="email refused: suppressed: bounce")
    claim = ledger.claim(by_sms, now())
    assert isinstance(claim, Claim)
    assert ledger.get("welcome#c-1#email")["fallback"] == "email refused: suppressed: bounce"  # type: ignore[index]
    ledger.mark_failed(claim, "SNS refused the number", now())

    assert isinstance(ledger.claim(_message(), now()), Claim)

    item = ledger.get("welcome#c-1#email")
    assert item is not None
    assert (item["channel"], "fallback" in item) == ("email", False)


def test_suppressions_are_stored_as_hashes(aws: Aws) -> None:
    suppressions = DynamoSuppressions(boto3.client("dynamodb"), "SuppressionsTable")

    suppressions.suppress(Channel.EMAIL, "Ann@Example.com", "permanent bounce", now())

    assert suppressions.reason_for(Channel.EMAIL, "ann@example.com") == "permanent bounce"
    assert suppressions.reason_for(Channel.SMS, "ann@example.com") is None
    items = boto3.client("dynamodb").scan(TableName="SuppressionsTable")["Items"]
    assert "example.com" not in str(items).lower()


def test_preferences_change_once_per_event_and_keep_an_audit_trail(aws: Aws) -> None:
    store = DynamoPreferences(boto3.client("dynamodb"), "PreferencesTable")
    leave_offers = [Change(Channel.EMAIL, "offers", Action.UNSUBSCRIBE)]

    assert store.apply("c-1", leave_offers, Source.ONE_CLICK, now(), "evt-1") is True
    # the same notification or form post again changes nothing
    assert store.apply("c-1", leave_offers, Source.ONE_CLICK, now(), "evt-1") is False
    later = now() + timedelta(days=3)
    back = [Change(Channel.EMAIL, "offers", Action.RESUBSCRIBE)]
    leave_sms = [Change(Channel.SMS, "*", Action.UNSUBSCRIBE)]
    assert store.apply("c-1", back + leave_sms, Source.PREFERENCE_CENTRE, later, "evt-2")

    prefs = store.get("c-1")
    assert prefs.opt_outs == {"sms:*"}
    assert prefs.allows(Channel.EMAIL, "offers")
    assert not prefs.allows(Channel.SMS, "loyalty")
    history = store.history("c-1")
    assert [e["source"] for e in history] == ["one-click", "preference-centre"]
    assert history[1]["changes"][0] == {
        "channel": "email",
        "topic": "offers",
        "action": "resubscribe",
    }


def test_sns_opt_out_list_is_asked(aws: Aws) -> None:
    sender = SnsSmsSender(boto3.client("sns"))

    # moto answers "opted out" for numbers ending in 99
    assert sender.is_opted_out("+31612345699") is True
    assert sender.is_opted_out("+31612345678") is False


def _marketing(owner: str) -> Cap:
    return Cap(
        key="marketing-cap#c-1#email",
        owner=owner,
        window=timedelta(days=7),
        reason="marketing cap: 2 in 7 days",
        limit=2,
    )


def test_a_cap_of_two_lets_two_owners_through_a_window_and_no_third(aws: Aws) -> None:
    caps = DynamoCaps(boto3.client("dynamodb"), "LedgerTable", 400)

    assert caps.take(_marketing("offer-1"), "c-1", now()) is None
    assert caps.take(_marketing("offer-2"), "c-1", now() + timedelta(hours=1)) is None
    # a third is held off until the earliest of the two leaves the window
    assert caps.take(_marketing("offer-3"), "c-1", now() + timedelta(hours=2)) == now()
    # an owner taking it again (a retry) neither is capped nor takes a second marker
    assert caps.take(_marketing("offer-2"), "c-1", now() + timedelta(hours=3)) is None
    assert caps.take(_marketing("offer-3"), "c-1", now() + timedelta(hours=3)) is not None
    # a marker given back (nothing went out) lets the next one through
    caps.give_back(_marketing("offer-1"))
    assert caps.take(_marketing("offer-3"), "c-1", now() + timedelta(hours=4)) is None
    # and after the window, one more
    later = now() + timedelta(days=7, hours=2)
    assert caps.take(_marketing("offer-4"), "c-1", later) is None


def test_a_claim_takes_a_cap_marker_read_ahead_in_the_same_write_or_neither(aws: Aws) -> None:
    client = boto3.client("dynamodb")
    ledger = DynamoLedger(client, "LedgerTable", lease_seconds=60)
    caps = DynamoCaps(client, "LedgerTable", 400)
    cap = _marketing("campaign#spring#c-1")
    # given the customer's markers read ahead: one taken by another message this week
    assert caps.take(_marketing("offer-1"), "c-1", now()) is None
    caps.prefetch([cap])
    slot = caps.free_slot(cap, now())
    assert isinstance(slot, str)

    # when a claim takes the free marker with it, both are written in one call
    claimed = ledger.claim(_message("campaign#spring#c-1"), now(), Marker(slot, cap, "c-1"))
    assert isinstance(claimed, Claim)
    assert caps.take(_marketing("offer-3"), "c-1", now()) == now()  # the cap is full now

    # and a marker another took since it was read makes the claim write nothing
    caps.prefetch([_marketing("campaign#autumn#c-1")])
    caps.give_back(_marketing("offer-1"))
    assert caps.take(_marketing("offer-4"), "c-1", now()) is None  # took the freed marker
    stale = Marker(slot, _marketing("campaign#autumn#c-1"), "c-1")
    assert ledger.claim(_message("campaign#autumn#c-1"), now(), stale) is SLOT_TAKEN
    assert ledger.get("campaign#autumn#c-1") is None
    # and a key already sent stays sent
    assert isinstance(claimed, Claim)
    ledger.mark_sent(claimed, "ses-1", now())
    again = Marker("marketing-cap#c-1#email#0", cap, "c-1")
    assert ledger.claim(_message("campaign#spring#c-1"), now(), again) is LedgerState.SENT
