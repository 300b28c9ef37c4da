"""Welcome Lambda: Customers table stream (INSERT) -> welcome email and SMS."""

from __future__ import annotations

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

from lifecycle import runtime
from lifecycle.handlers.streams import parse_new_image
from lifecycle.journeys import welcome
from lifecycle.messaging.message import Outcome
from lifecycle.models import Customer
from lifecycle.observability import logger

metrics = Metrics(namespace="Lifecycle", service="welcome")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _count(name: str) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def record_handler(record: DynamoDBRecord) -> list[Outcome]:
    """One stream record: a new customer gets their welcome messages."""
    # The event source mapping filters to INSERT; this guard keeps a widened filter harmless.
    if record.event_name is not DynamoDBRecordEventName.INSERT:
        return []
    current = runtime.current(_count)
    customer = parse_new_image(
        record, Customer, stage=welcome.STAGE, id_attribute="customer_id", ledger=current.ledger
    )
    if customer is None:
        _count("RecordsRejected")
        return []
    return [current.dispatcher.dispatch(message) for message in welcome.messages(customer)]


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point named in infra/template.yaml; reports partial batch failures."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
