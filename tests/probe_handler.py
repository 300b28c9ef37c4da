"""A stand-in Lambda for simulator tests: records what it receives, and on its first scheduled
run creates a one-time EventBridge Scheduler schedule that targets itself, as the reminder and
feedback stages will."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

received: list[dict[str, Any]] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    received.append(event)
    if (
        event.get("detail-type") == "Scheduled Event"
        and not any(e.get("kind") == "one-time" for e in received)
        and not getattr(handler, "scheduled", False)
    ):
        handler.scheduled = True  # type: ignore[attr-defined]
        due = datetime.now(UTC) + timedelta(hours=5)
        boto3.client("scheduler").create_schedule(
            Name="probe-once",
            ScheduleExpression=f"at({due:%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={
                "Arn": os.environ["SELF_ARN"],
                "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                "Input": json.dumps({"kind": "one-time", "due": due.isoformat()}),
            },
        )
    return {"batchItemFailures": []}
