"""What every DynamoDB-stream handler does the same way: parse an image into a typed model,
or record why it could not be parsed (a permanent, never-retried rejection)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from pydantic import BaseModel, ValidationError

from lifecycle.messaging.ledger import Ledger
from lifecycle.models import describe
from lifecycle.observability import logger

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_new_image(
    record: DynamoDBRecord,
    model: type[ModelT],
    *,
    stage: str,
    id_attribute: str,
    ledger: Ledger,
) -> ModelT | None:
    """The record's new image as `model`, or None after recording the rejection reason.

    A malformed record is bad data, not a failure of this function: retrying cannot fix it, so
    it is stored in the ledger (key `<stage>#<id>#rejected`) where ops can query it, and the
    batch carries on.
    """
    stream = record.dynamodb
    image = stream.new_image if stream is not None else {}
    try:
        return model.model_validate(image)
    except ValidationError as error:
        reason = describe(error)
        raw_id = image.get(id_attribute)
        item_id = raw_id if isinstance(raw_id, str) and raw_id else None
        sequence = stream.sequence_number if stream is not None else record.event_id
        key = f"{stage}#{item_id or f'record-{sequence}'}#rejected"
        ledger.record_rejected(key, stage, item_id, reason, datetime.now(UTC))
        logger.warning(
            "record rejected",
            extra={
                "stage": stage,
                "message_key": key,
                "reason": reason,
                "event_id": record.event_id,
            },
        )
        return None
