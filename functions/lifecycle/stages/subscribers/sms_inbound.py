"""Inbound SMS Lambda (two-way SMS): STOP and START keywords from customers' phones.

SNS also keeps its own opt-out list, which the contact policy checks before every SMS; this
records the reply in the product's suppression list as well, with its time, so a number that
replied STOP gets nothing even where the carrier did not tell SNS, and START lifts it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from lifecycle.messaging.plan import EMPTY, Plan
from lifecycle.observability import logger
from lifecycle.phones import e164
from lifecycle.platform import kit
from lifecycle.privacy import mask_phone
from lifecycle.stages.subscribers.notifications import keyword, reply_plan

UNIT: kit.Unit[None] = kit.Unit(stage="subscribers", service="sms-inbound")


def on_notification(notification: kit.Notification, stage: kit.Stage[None]) -> Plan:
    try:
        reply = json.loads(notification.message)
        phone = e164(str(reply["originationNumber"]))
        inbound_id = str(reply["inboundMessageId"])
    except (KeyError, ValueError, TypeError) as error:
        logger.error("inbound SMS not understood; ignored", extra={"error": type(error).__name__})
        return EMPTY
    word = keyword(str(reply.get("messageBody", "")))
    if word is None:
        return EMPTY
    logger.info("inbound SMS keyword", extra={"keyword": word, "phone": mask_phone(phone)})
    return reply_plan(phone, word, inbound_id, datetime.now(UTC).isoformat())


# Entry point named in infra/template.yaml (SNS topic of the two-way SMS number).
handler = kit.notifications(UNIT, on_notification)
