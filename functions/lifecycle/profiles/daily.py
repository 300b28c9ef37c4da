"""Daily stages Lambda, on an EventBridge schedule: moves the customers whose stage time
changes (active to at_risk to dormant, loyal to active) and only them, read from the profiles'
sparse due index. A day the schedule missed is caught up: everyone due on or before today is
read, and each change is dated on the day it fell due."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel

from lifecycle.messaging.plan import MoveStages, Plan
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.profiles.handler import STAGE, effects
from lifecycle.profiles.settings import ProfileSettings


class DailyPayload(BaseModel):
    # Optional: the business day to bring stages up to (default: today in the business's
    # time zone). For a manual run; a day in the future is refused.
    day: date | None = None


UNIT = kit.Unit(stage=STAGE, service="daily-stages", settings=ProfileSettings.from_env)


def on_payload(payload: DailyPayload, stage: kit.Stage[ProfileSettings]) -> Plan:
    rules = stage.settings.stages
    today = rules.day_of(datetime.now(UTC))
    until = payload.day or today
    if until > today:
        return Plan.reject(f"day {until} is in the future")
    profiles = stage.ports.profiles(stage.settings)
    read: list[int] = []
    due = tuple(profiles.due(until, read.append))
    logger.info("profiles due", extra={"day": str(until), "due": len(due), "read": sum(read)})
    if not due:
        return Plan.nothing(f"no profile due on or before {until}")
    return Plan((MoveStages(due, until),))


# Entry point named in infra/template.yaml.
handler = kit.scheduled(UNIT, on_payload, DailyPayload, effects=effects)
