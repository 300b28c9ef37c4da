"""Daily stages worker, on the daily stages queue: brings each customer of a batch up to the
batch's day (the stage changes time made, each on its own day). Moving a customer twice
changes nothing, so a redelivered batch is safe; one that fails comes back, and after the
queue's receive count lands in its dead-letter queue (with an alarm)."""

from __future__ import annotations

from lifecycle.messaging.plan import MoveStages, Plan
from lifecycle.platform import kit
from lifecycle.profiles.daily import DueBatch
from lifecycle.profiles.handler import STAGE, effects
from lifecycle.profiles.settings import ProfileSettings

UNIT = kit.Unit(stage=STAGE, service="daily-stages-worker", settings=ProfileSettings.from_env)


def on_message(batch: DueBatch, stage: kit.Stage[ProfileSettings]) -> Plan:
    return Plan((MoveStages(tuple(batch.customers), batch.day),))


# Entry point named in infra/template.yaml; reports partial batch failures.
handler = kit.queue(UNIT, on_message, DueBatch, effects=effects)
