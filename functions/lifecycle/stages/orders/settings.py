"""The order flow's settings: when reminders go, and where its one-time schedules live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from lifecycle.platform.effects import ScheduleConfig
from lifecycle.platform.settings import CoreSettings, Env
from lifecycle.stages.orders.journey import OrderRules


@dataclass(frozen=True)
class OrderSettings:
    schedules: ScheduleConfig | None  # None: no delayed messages (no group or role given)
    reminder_function_arn: str | None
    feedback_function_arn: str | None
    reminder_lead: timedelta
    feedback_delay: timedelta
    send_in_process: bool

    @classmethod
    def from_env(cls, env: Env) -> OrderSettings:
        group, role = env.optional("SCHEDULE_GROUP"), env.optional("SCHEDULER_ROLE_ARN")
        return cls(
            schedules=(
                ScheduleConfig(group, role, env.optional("SCHEDULE_DLQ_ARN"))
                if group and role
                else None
            ),
            reminder_function_arn=env.optional("REMINDER_FUNCTION_ARN"),
            feedback_function_arn=env.optional("FEEDBACK_FUNCTION_ARN"),
            reminder_lead=timedelta(minutes=env.integer("REMINDER_LEAD_MINUTES", 120)),
            feedback_delay=timedelta(hours=env.integer("FEEDBACK_DELAY_HOURS", 24)),
            send_in_process=env.flag("SEND_IN_PROCESS"),
        )

    def rules(self, core: CoreSettings) -> OrderRules:
        """What the journey needs to know (schedules target their functions only when this
        function may create schedules)."""
        scheduling = self.schedules is not None
        return OrderRules(
            default_timezone=core.default_timezone,
            send_in_process=self.send_in_process,
            reminder_lead=self.reminder_lead,
            feedback_delay=self.feedback_delay,
            reminder_target=self.reminder_function_arn if scheduling else None,
            feedback_target=self.feedback_function_arn if scheduling else None,
        )
