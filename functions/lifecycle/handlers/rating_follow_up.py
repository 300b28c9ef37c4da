"""Rating follow-up Lambda: Ratings table stream -> complaint alerts to ops, the apology, and
the referral ask. Apart from the rating endpoint, so a slow or failing provider never costs a
customer their thank-you page, and every follow-up is retried and, at worst, parked."""

from __future__ import annotations

from datetime import UTC, datetime
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
from lifecycle.handlers.orders import load_customer
from lifecycle.handlers.streams import parse_new_image
from lifecycle.journeys import feedback as journey
from lifecycle.messaging.message import Outcome
from lifecycle.models import Customer, Lifetime, Rating
from lifecycle.observability import logger
from lifecycle.settings import SettingsError

metrics = Metrics(namespace="Lifecycle", service="rating-follow-up")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _old(record: DynamoDBRecord) -> Rating | None:
    stream = record.dynamodb
    if record.event_name is not DynamoDBRecordEventName.MODIFY or stream is None:
        return None
    try:
        return Rating.model_validate(stream.old_image)
    except ValidationError:
        return None


def _alert(
    current: runtime.Runtime,
    alert: journey.Alert,
    rating: Rating,
    customer: Customer,
    lifetime: Lifetime,
) -> None:
    """Publish the alert unless it was raised before. Marked after publishing: a crash in
    between repeats the alert rather than losing it."""
    if current.alerts is None:
        raise SettingsError("COMPLAINTS_TOPIC_ARN is required to raise complaint alerts")
    if current.ledger.get(alert.key) is not None:
        return
    subject, text, attributes = journey.alert_text(alert, rating, customer, lifetime)
    current.alerts.publish(subject, text, attributes)
    current.ledger.first_time(alert.key, journey.STAGE, datetime.now(UTC))
    _count("ComplaintAlerts")
    logger.info(
        "complaint alert raised",
        extra={"order_id": rating.order_id, "reason": alert.reason, "score": rating.score},
    )


def record_handler(record: DynamoDBRecord) -> list[Outcome]:
    if record.event_name not in (DynamoDBRecordEventName.INSERT, DynamoDBRecordEventName.MODIFY):
        return []
    current = runtime.current(_count)
    rating = parse_new_image(
        record, Rating, stage=journey.STAGE, id_attribute="order_id", ledger=current.ledger
    )
    if rating is None:
        _count("RecordsRejected")
        return []
    plan = journey.follow_up(rating, _old(record))
    if not plan.alerts and not plan.ask_referral:
        return []
    customer = load_customer(current, rating.customer_id, journey.STAGE, gone_is_final=True)
    if customer is None:
        return []
    lifetime = current.history.lifetime(customer.customer_id)
    outcomes: list[Outcome] = []
    for alert in plan.alerts:
        _alert(current, alert, rating, customer, lifetime)
    if plan.apologise:
        outcomes.append(current.dispatcher.dispatch(journey.apology_message(rating, customer)))
    if plan.ask_referral and journey.is_repeat(lifetime):
        outcomes += _referral(current, rating, customer)
    return outcomes


def _referral(current: runtime.Runtime, rating: Rating, customer: Customer) -> list[Outcome]:
    settings = current.settings
    base = settings.feedback.referral_url or settings.business.website
    quiet_days = settings.feedback.referral_quiet_days
    message = journey.referral_message(rating, customer, base, quiet_days)
    return [current.dispatcher.dispatch(message)]


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point named in infra/template.yaml; reports partial batch failures."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
