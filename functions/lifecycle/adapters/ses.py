"""Amazon SES (v2) adapter: the only code that sends email.

Mail goes out as a raw MIME message (multipart/alternative, text then HTML) so that headers
such as List-Unsubscribe travel exactly as built, and a moto-backed test can read them back.
"""

from __future__ import annotations

import re
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.errors import classify
from lifecycle.messaging.channels import OutboundEmail
from lifecycle.messaging.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

# The compat32 MIME classes build a message about three times faster than EmailMessage's
# header registry; header safety is checked explicitly below instead.
_WIRE = compat32.clone(linesep="\r\n")
_TAG_VALUE = re.compile(r"[A-Za-z0-9_\-]{1,256}")


def _header(name: str, value: str) -> Any:  # str or Header; typeshed wants str
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} contains a line break")
    return value if value.isascii() else Header(value, "utf-8")


def tag_pairs(tags: dict[str, str]) -> list[tuple[str, str]]:
    """SES tag values allow only letters, digits, `_` and `-`. Any other value travels
    hex-encoded under `<name>_hex` (a customer id such as `c.1@shop`), so it still comes
    back on bounce and complaint notifications; one that is too long even so is dropped."""
    pairs = []
    for name, value in sorted(tags.items()):
        if _TAG_VALUE.fullmatch(value):
            pairs.append((name, value))
        elif len(value.encode()) * 2 <= 256:
            pairs.append((f"{name}_hex", value.encode().hex()))
    return pairs


def build_mime(email: OutboundEmail) -> bytes:
    """The message exactly as it will be handed to SES: multipart/alternative, text then HTML.

    Raises ValueError if a header value contains a line break (header injection).
    """
    message = MIMEMultipart("alternative")
    message["From"] = formataddr((email.sender_name, email.sender), charset="utf-8")
    if not email.to.isascii() or "\n" in email.to or "\r" in email.to:
        raise ValueError("recipient address must be plain ASCII")
    message["To"] = email.to
    message["Subject"] = _header("Subject", email.subject)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=email.sender.partition("@")[2] or None)
    for name, value in email.headers.items():
        message[name] = _header(name, value)
    message.attach(MIMEText(email.text, "plain", "utf-8"))
    message.attach(MIMEText(email.html, "html", "utf-8"))
    return message.as_bytes(policy=_WIRE)


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
            "FromEmailAddress": formataddr((email.sender_name, email.sender), charset="utf-8"),
            "Destination": {"ToAddresses": [email.to]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": name, "Value": value} for name, value in tag_pairs(email.tags)],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            response = self._client.send_email(**request)
        except Exception as exc:
            raise classify(exc, "SES") from None
        return str(response["MessageId"])
