"""Order-flow Lambda: Orders table stream -> status updates, receipts, and the delayed
pickup reminder and feedback request as one-time EventBridge Scheduler schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lifecycle import runtime
from lifecycle.adapters.scheduler import Target
from lifecycle.handlers.streams import parse_new_image
from lifecycle.journeys import orders as journey
from lifecycle.messaging.errors import TransientError
from lifecycle.messaging.message import Outcome, Status
from lifecycle.models import Customer, Order, describe
from lifecycle.observability import logger

metrics = Metrics(namespace="Lifecycle", service="orders")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def rules(current: runtime.Runtime) -> journey.OrderRules:
    settings = current.settings
    return journey.OrderRules(
        default_locale=settings.default_locale,
        default_timezone=settings.default_timezone,
        send_in_process=settings.schedules.send_in_process,
        reminder_lead=timedelta(minutes=settings.schedules.reminder_lead_minutes),
        feedback_delay=timedelta(hours=settings.schedules.feedback_delay_hours),
    )


def load_customer(
    current: runtime.Runtime, customer_id: str, stage: str, *, gone_is_final: bool = False
) -> Customer | None:
    """The order's customer; a missing one is retried (their row may be on its way), unless
    `gone_is_final`: after delivery a missing customer was erased, and retrying cannot help."""
    raw = current.customers(customer_id)
    if raw is None and gone_is_final:
        current.ledger.record_rejected(
            f"{stage}#{customer_id}#customer", stage, None, "customer no longer exists", _now()
        )
        return None
    if raw is None:
        raise TransientError(f"customer {customer_id} not found (yet)")
    try:
        return Customer.model_validate(raw)
    except ValidationError as error:
        current.ledger.record_rejected(
            f"{stage}#{customer_id}#customer", stage, customer_id, describe(error), _now()
        )
        return None


def _now() -> datetime:
    return datetime.now(UTC)


def record_handler(record: DynamoDBRecord) -> list[Outcome]:
    if record.event_name not in (DynamoDBRecordEventName.INSERT, DynamoDBRecordEventName.MODIFY):
        return []
    current = runtime.current(_count)
    order = parse_new_image(
        record, Order, stage=journey.STAGE, id_attribute="order_id", ledger=current.ledger
    )
    if order is None:
        _count("RecordsRejected")
        return []
    previous = _previous(record)
    customer = load_customer(current, order.customer_id, journey.STAGE)
    if customer is None:
        return []
    decision = journey.decide(order, previous, customer, rules(current))
    outcomes: list[Outcome] = []

    if decision.rank is not None and decision.message is not None:
        later = current.ledger.advance(
            order.order_id, customer.customer_id, decision.rank, str(order.status), _now()
        )
        if later is not None:
            reason = f"stale: order already {later}"
            current.ledger.record_skip(decision.message, reason, _now())
            logger.info("stale order update", extra={"message_key": decision.message.key})
            outcomes.append(
                Outcome(
                    decision.message.key,
                    journey.STAGE,
                    decision.message.channel,
                    customer.customer_id,
                    Status.SKIPPED,
                    reason,
                )
            )
        else:
            outcomes.append(current.dispatcher.dispatch(decision.message))
    elif decision.rank is not None:
        current.ledger.advance(
            order.order_id, customer.customer_id, decision.rank, str(order.status), _now()
        )
    _schedule(current, order, decision)
    return outcomes


def _previous(record: DynamoDBRecord) -> Order | None:
    stream = record.dynamodb
    if record.event_name is not DynamoDBRecordEventName.MODIFY or stream is None:
        return None
    try:
        return Order.model_validate(stream.old_image)
    except ValidationError:
        return None  # an unreadable old image: treat the new one as news


def _schedule(current: runtime.Runtime, order: Order, decision: journey.Decision) -> None:
    settings = current.settings.schedules
    schedules = current.schedules
    if schedules is None or not settings.role_arn:
        return
    name = f"pickup-{order.order_id}"
    if decision.cancel_reminder:
        schedules.delete(name)
    reminder = decision.reminder
    if reminder is not None and settings.reminder_function_arn and reminder.at > _now():
        schedules.put(
            name,
            reminder.at,
            reminder.timezone,
            Target(settings.reminder_function_arn, settings.role_arn, settings.dead_letter_arn),
            {"order_id": order.order_id, "pickup_start": reminder.pickup_start.isoformat()},
        )
    if decision.feedback_at is not None and settings.feedback_function_arn:
        schedules.put(
            f"feedback-{order.order_id}",
            decision.feedback_at.astimezone(UTC),
            "UTC",
            Target(settings.feedback_function_arn, settings.role_arn, settings.dead_letter_arn),
            {"order_id": order.order_id},
        )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point named in infra/template.yaml; reports partial batch failures."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
