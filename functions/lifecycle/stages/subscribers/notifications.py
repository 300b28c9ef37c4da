"""What an SES bounce or complaint, or an SMS reply, means for the product. Pure.

SES publishes these through the configuration set's SNS destination (`eventType`), or as
identity notifications (`notificationType`); both carry the same `bounce` / `complaint` and
`mail` objects. The `customer` tag the SES adapter puts on every email ties a complaint back
to the customer without looking the address up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lifecycle.messaging.engagement import tag_value
from lifecycle.messaging.message import Channel
from lifecycle.messaging.plan import (
    ChangePreferences,
    CountSoftBounce,
    Once,
    Plan,
    Step,
    Suppress,
    Unsuppress,
)
from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Source
from lifecycle.privacy import address_hash


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
    customer_id = tag_value(tags, "customer")
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


def feedback_plan(feedback: Feedback) -> Plan:
    """A permanent bounce suppresses the address, a complaint unsubscribes the customer from
    all marketing at once, a transient bounce is counted. Each notification counts once."""
    steps: tuple[Step, ...]
    if feedback.kind is FeedbackKind.PERMANENT_BOUNCE:
        reason = f"permanent bounce ({feedback.detail}) at {feedback.at}"
        steps = tuple(Suppress(Channel.EMAIL, a, reason) for a in feedback.recipients)
    elif feedback.kind is FeedbackKind.TRANSIENT_BOUNCE:
        reason = f"transient bounce ({feedback.detail}) at {feedback.at}"
        steps = tuple(CountSoftBounce(a, reason) for a in feedback.recipients)
    elif feedback.customer_id:
        changes = (
            Change(Channel.EMAIL, ALL_TOPICS, Action.UNSUBSCRIBE),
            Change(Channel.SMS, ALL_TOPICS, Action.UNSUBSCRIBE),
        )
        steps = (
            ChangePreferences(
                feedback.customer_id, changes, Source.SES_COMPLAINT, f"ses-{feedback.feedback_id}"
            ),
        )
    else:
        # Mail sent without our customer tag: stop mailing the address instead.
        reason = f"complaint ({feedback.detail}) at {feedback.at}"
        steps = tuple(Suppress(Channel.EMAIL, a, reason) for a in feedback.recipients)
    return Plan(
        (
            Once(
                f"ses-feedback#{feedback.feedback_id}",
                "ses-feedback",
                steps,
                # A tally is not safe to repeat: mark first, so a replay never counts twice.
                mark_first=feedback.kind is FeedbackKind.TRANSIENT_BOUNCE,
                metric=f"Ses{feedback.kind.title().replace('-', '')}",
            ),
        )
    )


STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "ARRET"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})


def keyword(body: str) -> str | None:
    """`stop`, `start`, or None for any other reply."""
    word = body.strip().split(maxsplit=1)[0].upper() if body.strip() else ""
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


def reply_plan(phone: str, word: str, inbound_id: str, at: str) -> Plan:
    """STOP suppresses the number (and records it in the number's own audit trail, kept under
    its hash: a reply names a number, not a customer); START lifts a STOP, never a bounce."""
    stop = word == "stop"
    change: Step = (
        Suppress(Channel.SMS, phone, f"replied STOP at {at}")
        if stop
        else Unsuppress(Channel.SMS, phone, "replied STOP")
    )
    audit = ChangePreferences(
        f"number#{address_hash(Channel.SMS, phone)}",
        (Change(Channel.SMS, ALL_TOPICS, Action.UNSUBSCRIBE if stop else Action.RESUBSCRIBE),),
        Source.SMS_STOP if stop else Source.SMS_START,
        f"sms-{inbound_id}",
    )
    # Every step is safe to repeat (a suppression, a lift, an audit record keyed by the reply),
    # so act first and mark after: a throttled write retries rather than losing the STOP.
    return Plan((Once(f"sms-inbound#{inbound_id}", "sms-inbound", (change, audit)),))
