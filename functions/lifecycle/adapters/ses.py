"""Amazon SES (v2) adapter: the only code that sends email.

Mail goes out as a raw MIME message (multipart/alternative, text then HTML) so that headers
such as List-Unsubscribe travel exactly as built, and a moto-backed test can read them back.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.errors import classify
from lifecycle.messaging.channels import OutboundEmail
from lifecycle.messaging.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client


def build_mime(email: OutboundEmail) -> bytes:
    """The message exactly as it will be handed to SES."""
    message = EmailMessage()
    message["From"] = formataddr((email.sender_name, email.sender))
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=email.sender.partition("@")[2] or None)
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text, subtype="plain", charset="utf-8")
    message.add_alternative(email.html, subtype="html", charset="utf-8")
    return message.as_bytes(policy=SMTP)


class SesEmailSender:
    def __init__(self, client: SESV2Client, configuration_set: str | None = None) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def send(self, email: OutboundEmail) -> str:
        """Send one email; returns SES's MessageId."""
        try:
            raw = build_mime(email)
        except ValueError as exc:  # e.g. a header value containing a line break
            raise PermanentError(f"email could not be built: {exc}") from None
        request: dict[str, Any] = {
            "FromEmailAddress": formataddr((email.sender_name, email.sender)),
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": k, "Value": v} for k, v in sorted(email.tags.items())],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except Exception as exc:
            raise classify(exc, "SES") from None
        return str(response["MessageId"])
