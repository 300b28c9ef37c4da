"""What an SES bounce or complaint means for the product. Pure.

SES publishes these through the configuration set's SNS destination (`eventType`), or as
identity notifications (`notificationType`); both carry the same `bounce` / `complaint` and
`mail` objects. The `customer` tag the SES adapter puts on every email ties a complaint back
to the customer without looking the address up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FeedbackKind(StrEnum):
    PERMANENT_BOUNCE = "permanent-bounce"
    TRANSIENT_BOUNCE = "transient-bounce"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class Feedback:
    kind: FeedbackKind
    feedback_id: str
    recipients: tuple[str, ...]
    customer_id: str | None
    detail: str  # bounce subtype or complaint feedback type, for the stored reason
    at: str


class NotFeedback(ValueError):
    """The notification is not a bounce or complaint (a delivery, say): nothing to do."""


def parse(notification: dict[str, Any]) -> Feedback:
    """Read an SES notification; raises NotFeedback for other event types and ValueError for
    a message that is not SES's shape at all."""
    kind = notification.get("eventType") or notification.get("notificationType")
    if not isinstance(kind, str):
        raise ValueError("not an SES notification: no eventType or notificationType")
    mail = notification.get("mail") or {}
    tags = mail.get("tags") or {}
    customers = tags.get("customer") or []
    encoded = tags.get("customer_hex") or []
    customer_id = (
        str(customers[0])
        if customers
        else bytes.fromhex(str(encoded[0])).decode()
        if encoded
        else None
    )
    if kind == "Bounce":
        bounce = notification["bounce"]
        permanent = bounce.get("bounceType") == "Permanent"
        return Feedback(
            kind=FeedbackKind.PERMANENT_BOUNCE if permanent else FeedbackKind.TRANSIENT_BOUNCE,
            feedback_id=str(bounce["feedbackId"]),
            recipients=tuple(str(r["emailAddress"]) for r in bounce.get("bouncedRecipients", [])),
            customer_id=customer_id,
            detail=f"{bounce.get('bounceType', '?')}/{bounce.get('bounceSubType', '?')}",
            at=str(bounce.get("timestamp", "")),
        )
    if kind == "Complaint":
        complaint = notification["complaint"]
        return Feedback(
            kind=FeedbackKind.COMPLAINT,
            feedback_id=str(complaint["feedbackId"]),
            recipients=tuple(
                str(r["emailAddress"]) for r in complaint.get("complainedRecipients", [])
            ),
            customer_id=customer_id,
            detail=str(complaint.get("complaintFeedbackType", "complaint")),
            at=str(complaint.get("timestamp", "")),
        )
    raise NotFeedback(kind)
