"""`lifecycle send-test`: one real message, rendered with sample data, through the AWS account
configured the usual way (AWS_PROFILE / AWS_REGION or the default profile), marked as a test.

It goes through the same SES and SNS adapters as production, but not through the ledger or the
contact policy: the recipient is whoever the person running it names, not a customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
from email_validator import EmailNotValidError, validate_email

from lifecycle.adapters.ses import SesEmailSender
from lifecycle.adapters.sns import SnsSmsSender
from lifecycle.authoring.samples import Samples
from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.channels import OutboundEmail, OutboundSms
from lifecycle.messaging.message import Channel, Kind
from lifecycle.messaging.renderer import Renderer
from lifecycle.phones import e164

TEST_MARK = "[TEST] "
TEST_HEADER = "X-Lifecycle-Test"


class SendTestError(ValueError):
    """Bad arguments: the message says which and why."""


@dataclass(frozen=True)
class TestSend:
    channel: Channel
    locale: str
    provider_id: str
    summary: str  # subject or SMS text as sent


def send_test(
    message: str,
    to: str,
    *,
    locale: str | None,
    templates_dir: Path,
    sender: str | None,
    configuration_set: str | None = None,
) -> TestSend:
    """Render `message` with sample data and send it to `to` (an email address or E.164 phone)."""
    spec = CATALOG.get(message)
    if spec is None:
        raise SendTestError(f"unknown message {message!r}; known: {', '.join(sorted(CATALOG))}")
    channel = Channel.EMAIL if "@" in to else Channel.SMS
    if channel not in spec.channels:
        raise SendTestError(f"{message} is not sent by {channel}")
    samples = Samples.load(templates_dir)
    renderer = Renderer(templates_dir, "en", samples.business)
    chosen = renderer.resolve_locale(spec.template, locale)
    context = samples.context(spec, chosen)

    if channel is Channel.SMS:
        try:
            phone = e164(to)
        except ValueError as exc:
            raise SendTestError(f"--to {to!r}: {exc}") from None
        marketing = spec.kind is Kind.MARKETING
        text = TEST_MARK + renderer.sms(spec.template, chosen, context, opt_out=marketing).text
        sms = OutboundSms(phone, text, marketing=spec.kind is Kind.MARKETING, message_key="test")
        provider_id = SnsSmsSender(boto3.client("sns")).send(sms)
        return TestSend(channel, chosen, provider_id, text)

    try:
        address = validate_email(to, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SendTestError(f"--to: {exc}") from None
    if not sender:
        raise SendTestError("--sender (or SENDER_EMAIL) is needed: a verified SES identity")
    headers = {TEST_HEADER: "true"}
    if spec.topic is not None:
        context["unsubscribe_url"] = samples.unsubscribe_url
        headers["List-Unsubscribe"] = f"<{samples.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = renderer.email(spec.template, chosen, context)
    outbound = OutboundEmail(
        to=address,
        sender=sender,
        sender_name=samples.business.name,
        subject=TEST_MARK + email.subject,
        html=email.html,
        text=email.text,
        message_key="test",
        headers=headers,
        tags={"stage": spec.stage, "kind": "test"},
    )
    provider_id = SesEmailSender(boto3.client("sesv2"), configuration_set).send(outbound)
    return TestSend(channel, chosen, provider_id, outbound.subject)
