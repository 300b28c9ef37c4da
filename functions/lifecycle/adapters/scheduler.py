"""EventBridge Scheduler adapter: one-time schedules for the pickup reminder, the feedback
request and deferred messages, deleted by Scheduler once they have run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lifecycle.adapters.errors import classify

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

    from lifecycle.messaging.message import Message


@dataclass(frozen=True)
class Target:
    function_arn: str
    role_arn: str
    dead_letter_arn: str | None = None


class OneTimeSchedules:
    def __init__(self, client: EventBridgeSchedulerClient, group: str) -> None:
        self._client = client
        self._group = group

    def put(
        self, name: str, at: datetime, timezone: str, target: Target, payload: dict[str, Any]
    ) -> None:
        """Create the schedule, or move it if it exists (a rescheduled pickup)."""
        request: dict[str, Any] = {
            "Name": name,
            "GroupName": self._group,
            # at() takes the wall-clock time in ScheduleExpressionTimezone.
            "ScheduleExpression": f"at({at.replace(tzinfo=None):%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": target.function_arn,
                "RoleArn": target.role_arn,
                "Input": json.dumps(payload),
                "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
            },
        }
        if target.dead_letter_arn:
            request["Target"]["DeadLetterConfig"] = {"Arn": target.dead_letter_arn}
        try:
            try:
                self._client.create_schedule(**request)
            except self._client.exceptions.ConflictException:
                self._client.update_schedule(**request)
        except Exception as exc:
            raise classify(exc, "Scheduler") from None

    def delete(self, name: str) -> bool:
        """Remove the schedule; False if there was none (already run, or never made)."""
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except self._client.exceptions.ResourceNotFoundException:
            return False
        except Exception as exc:
            raise classify(exc, "Scheduler") from None
        return True


class ScheduledDeferrals:
    """Deferred messages as one-time schedules (`messaging.deferral.Deferrals`): one per
    message and moment, named from both, in UTC, invoking the deferred send function."""

    def __init__(self, schedules: OneTimeSchedules, target: Target) -> None:
        self._schedules = schedules
        self._target = target

    def defer(self, message: Message, until: datetime, since: datetime) -> None:
        # The codec loads with the first deferral, not with every sending function.
        from lifecycle.messaging.deferral import payload, schedule_name

        at = until.astimezone(UTC)
        self._schedules.put(
            schedule_name(message.key, at), at, "UTC", self._target, payload(message, at, since)
        )
