"""Inbound SMS Lambda (two-way SMS): STOP and START keywords from customers' phones.

SNS also keeps its own opt-out list, which the contact policy checks before every SMS; this
records the reply in the product's suppression list as well, with its time, so a number that
replied STOP gets nothing even where the carrier did not tell SNS, and START lifts it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle import runtime
from lifecycle.adapters.dynamo import address_hash
from lifecycle.messaging.message import Channel
from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Source
from lifecycle.models import e164
from lifecycle.observability import logger
from lifecycle.privacy import mask_phone

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


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    """Entry point named in infra/template.yaml (SNS topic of the two-way SMS number)."""
    stores = runtime.stores()
    for record in event.get("Records", []):
        try:
            message = json.loads(record["Sns"]["Message"])
            phone = e164(str(message["originationNumber"]))
            inbound_id = str(message["inboundMessageId"])
        except (KeyError, ValueError) as error:
            logger.error(
                "inbound SMS not understood; ignored", extra={"error": type(error).__name__}
            )
            continue
        word = keyword(str(message.get("messageBody", "")))
        if word is None:
            continue
        now = datetime.now(UTC)
        if not stores.ledger.first_time(f"sms-inbound#{inbound_id}", "sms-inbound", now):
            continue  # a replayed notification
        if word == "stop":
            stores.suppressions.suppress(
                Channel.SMS, phone, f"replied STOP at {now.isoformat()}", now
            )
        else:
            stores.suppressions.lift(Channel.SMS, phone, only_if_reason_starts="replied STOP")
        # The audit trail, kept under the number's hash: a reply names a number, not a customer.
        action = Action.UNSUBSCRIBE if word == "stop" else Action.RESUBSCRIBE
        stores.preferences.apply(
            f"number#{address_hash(Channel.SMS, phone)}",
            [Change(Channel.SMS, ALL_TOPICS, action)],
            Source.SMS_STOP if word == "stop" else Source.SMS_START,
            now,
            f"sms-{inbound_id}",
        )
        logger.info("inbound SMS keyword", extra={"keyword": word, "phone": mask_phone(phone)})
