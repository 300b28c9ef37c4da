"""Profiles Lambda: Orders table stream -> each order image folded into its customer's
profile (counts, spend, points, tier) and lifecycle stage. It sends nothing, and keeps its own
place on the stream, so a slow send elsewhere never holds a profile back."""

from __future__ import annotations

from lifecycle.messaging.plan import EMPTY, Plan, RecordOrder
from lifecycle.models import Order
from lifecycle.platform import kit
from lifecycle.platform.composition import Ports
from lifecycle.platform.effects import Effects
from lifecycle.profiles.settings import ProfileSettings

STAGE = "profiles"
UNIT = kit.Unit(stage=STAGE, service="profiles", settings=ProfileSettings.from_env)


def effects(ports: Ports, settings: ProfileSettings) -> Effects:
    return Effects(ports, profiles=settings)


def on_record(record: kit.StreamRecord, stage: kit.Stage[ProfileSettings]) -> Plan:
    order = kit.parse_new_image(record, Order, stage=stage, id_attribute="order_id")
    if order is None:
        return EMPTY
    return Plan((RecordOrder(order),))


# Entry point named in infra/template.yaml; reports partial batch failures.
handler = kit.stream(
    UNIT,
    on_record,
    events=frozenset({kit.StreamEvent.INSERT, kit.StreamEvent.MODIFY}),
    effects=effects,
)
