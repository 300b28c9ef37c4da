"""Provider-neutral outbound messages and the ports the SES and SNS adapters implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutboundEmail:
    to: str
    sender: str
    sender_name: str
    subject: str
    html: str
    text: str
    message_key: str
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundSms:
    phone: str
    text: str
    marketing: bool
    message_key: str


class EmailSender(Protocol):
    def send(self, email: OutboundEmail) -> str:
        """Hand the email to the provider and return its message id.

        Raises PermanentError when the provider refuses it for good, TransientError otherwise.
        """
        ...


class SmsSender(Protocol):
    def send(self, sms: OutboundSms) -> str:
        """Hand the SMS to the provider and return its message id (errors as for email)."""
        ...


class UnsubscribeLinks(Protocol):
    def url_for(self, customer_id: str, topic: str | None) -> str:
        """A signed, customer-bound URL that unsubscribes from the topic in one click."""
        ...
