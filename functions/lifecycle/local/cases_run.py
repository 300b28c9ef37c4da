"""`lifecycle cases --local`: complaint cases played through the local stack (moto, in this
process), with the functions and settings the template names, then the weekly KPI.

Four complaints over two weeks (low ratings written to the Ratings table, whose stream the
follow-up function reads, opening a case and alerting the complaints topic); staff tap the
case page's signed links at known times; the escalation sweep runs on the Monday after one
complaint nobody answered over the weekend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import boto3
import time_machine

from lifecycle.local.demo import seed_sample_customers
from lifecycle.local.serve import function_url_event
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REGION,
    LocalContext,
    LocalStack,
    function_url,
    local_aws,
    logs_to,
)
from lifecycle.stages.feedback.cases import WeekRow, weekly, weeks_between

DESK = "CaseDeskFunction"
SWEEP = "CaseEscalationFunction"
TAP = {"sec-fetch-mode": "navigate", "sec-fetch-user": "?1", "sec-fetch-site": "none"}
ZONE = ZoneInfo(LOCAL_PARAMETERS["DefaultTimezone"])
SINCE, UNTIL = date(2026, 11, 16), date(2026, 11, 29)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(UTC)


# (when, what, order, customer, score or staff name): in the business's time zone.
STORY: list[tuple[str, str, str, str, str]] = [
    ("2026-11-16 10:00", "rate", "o-9001", "c-1001", "1"),
    ("2026-11-16 11:30", "acknowledge", "o-9001", "c-1001", "Priya"),
    ("2026-11-16 16:00", "resolve", "o-9001", "c-1001", "Priya"),
    ("2026-11-18 14:00", "rate", "o-9002", "c-1002", "2"),
    ("2026-11-18 17:00", "acknowledge", "o-9002", "c-1002", "Tom"),
    ("2026-11-20 16:30", "rate", "o-9003", "c-1003", "1"),
    ("2026-11-23 12:30", "sweep", "", "", ""),  # due Monday 12:30: escalates
    ("2026-11-23 12:45", "sweep", "", "", ""),  # escalates nothing twice
    ("2026-11-23 14:00", "acknowledge", "o-9003", "c-1003", "Priya"),
    ("2026-11-24 09:30", "rate", "o-9004", "c-1001", "2"),
    ("2026-11-24 10:00", "acknowledge", "o-9004", "c-1001", "Tom"),
    ("2026-11-24 10:30", "resolve", "o-9003", "c-1003", "Priya"),
    ("2026-11-24 11:30", "resolve", "o-9004", "c-1001", "Tom"),
]


def _customers(stack: LocalStack) -> None:
    seed_sample_customers(stack)
    stack.read_stream("CustomersTable")  # the welcome stage is not this story


def _rate(stack: LocalStack, order_id: str, customer_id: str, score: int, at: datetime) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=stack.table_name("RatingsTable"),
        Item={
            "order_id": {"S": order_id},
            "customer_id": {"S": customer_id},
            "score": {"N": str(score)},
            "rated_at": {"S": at.isoformat()},
            "updated_at": {"S": at.isoformat()},
            "taps": {"N": "1"},
        },
    )
    stack.pump(LocalContext.for_function)


def _tap(stack: LocalStack, order_id: str, action: str, name: str) -> None:
    """A person taps the alert's link (the name this browser remembered goes with it)."""
    from lifecycle.stages.feedback.case_desk import desk

    spec = stack.function(DESK)
    with stack.environment_of(spec):
        token = desk().signer.case_token(f"complaint#{order_id}#rating", action, 30)
    host = function_url(DESK).removeprefix("https://").rstrip("/")
    event = function_url_event(
        "GET", f"/case?{urlencode({'t': token})}", {"host": host, **TAP}, None
    )
    event["cookies"] = [f"case_name={name}"]
    with stack.environment_of(spec):
        spec.load()(event, LocalContext.for_function(spec))


def play(log: Path = Path("out/cases-local.log")) -> tuple[list[WeekRow], date, date]:
    """Play the story; the weekly rows of its two weeks, read through the week index."""
    from lifecycle.adapters.cases import DynamoCases

    with local_aws(), logs_to(log):
        stack = LocalStack.deployed(LOCAL_PARAMETERS)
        _customers(stack)
        steps: dict[str, Callable[[str, str, str, datetime], None]] = {
            "rate": lambda order, customer, score, at: _rate(
                stack, order, customer, int(score), at
            ),
            "acknowledge": lambda order, _c, name, _at: _tap(stack, order, "acknowledge", name),
            "resolve": lambda order, _c, name, _at: _tap(stack, order, "resolve", name),
            "sweep": lambda *_: _sweep(stack),
        }
        for when, what, order, customer, value in STORY:
            at = _at(when)
            with time_machine.travel(at, tick=False):
                steps[what](order, customer, value, at)
        table = stack.table_name("CasesTable")
        cases = DynamoCases(boto3.client("dynamodb", region_name=REGION), table)
        rows = weekly(cases.in_weeks(SINCE, UNTIL), weeks_between(SINCE, UNTIL))
    return rows, SINCE, UNTIL


def _sweep(stack: LocalStack) -> None:
    spec = stack.function(SWEEP)
    (source,) = spec.schedules
    made = stack.invoke(spec, source.payload(datetime.now(UTC), SWEEP), LocalContext.for_function)
    if made.failed_sequence_numbers:
        raise RuntimeError(
            f"the escalation sweep failed: {', '.join(made.failed_sequence_numbers)}"
        )
