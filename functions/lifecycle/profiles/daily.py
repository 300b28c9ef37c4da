"""The daily run, on an EventBridge schedule: finds the customers due (a stage time changes,
active to at_risk to dormant, loyal to active; a win-back step's day; a reward waiting), and
only them, in the profiles' sparse due index, and fans them out in batches over SQS to the
worker (`stages/retention/handler.py`), which moves them and sends what the retention stage
owes them. A day the schedule missed is caught up: everyone due on or before today is read,
and each change is dated on the day it fell due. A batch that fails comes back from the
queue, and a customer it did not reach stays due, so the next run finds them again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import BaseModel

from lifecycle.messaging.plan import Enqueue, Plan
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.settings import Env
from lifecycle.profiles.handler import STAGE
from lifecycle.profiles.settings import ProfileSettings

# Customers per queue message: one worker invocation moves a few batches in seconds.
BATCH = 100


class DailyPayload(BaseModel):
    # Optional: the business day to bring stages up to (default: today in the business's
    # time zone). For a manual run; a day in the future is refused.
    day: date | None = None


class DueBatch(BaseModel):
    """One queue message: customers to bring up to `day`."""

    day: date
    customers: list[str]


@dataclass(frozen=True)
class DailySettings:
    profiles: ProfileSettings
    queue_url: str  # where the batches go (the worker's queue)

    @classmethod
    def from_env(cls, env: Env) -> DailySettings:
        return cls(ProfileSettings.from_env(env), env.required("DAILY_STAGES_QUEUE_URL"))


UNIT = kit.Unit(stage=STAGE, service="daily-stages", settings=DailySettings.from_env)


def on_payload(payload: DailyPayload, stage: kit.Stage[DailySettings]) -> Plan:
    settings = stage.settings
    today = settings.profiles.stages.day_of(datetime.now(UTC))
    until = payload.day or today
    if until > today:
        return Plan.reject(f"day {until} is in the future")
    read: list[int] = []
    due = list(stage.ports.profiles(settings.profiles).due(until, read.append))
    logger.info("profiles due", extra={"day": str(until), "due": len(due), "read": sum(read)})
    if not due:
        return Plan.nothing(f"no profile due on or before {until}")
    batches = [due[start : start + BATCH] for start in range(0, len(due), BATCH)]
    return Plan(
        tuple(
            Enqueue(settings.queue_url, {"day": until.isoformat(), "customers": batch})
            for batch in batches
        )
    )


# Entry point named in infra/template.yaml.
handler = kit.scheduled(UNIT, on_payload, DailyPayload)
