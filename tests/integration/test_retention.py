"""The daily run's retention worker over moto, morning by morning: a redelivered batch sends
and records nothing twice; the marketing cap and quiet hours hold the retention stage's
messages as they hold every stage's; a holdout is measured only where a message could have
gone; an attributed order carries its revenue to the exposure; export and erasure include
exposures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine
from moto import mock_aws

from lifecycle.adapters.ledger import DynamoCaps
from lifecycle.local.stack import LocalContext, LocalStack
from lifecycle.messaging.message import Cap
from lifecycle.stages.retention.journey import held_out
from tests.conftest import PARAMETERS, Aws, fresh_session, load_event
from tests.integration.retention_helpers import Orders, at, customer, profiles, put, scan

HOLDOUT_KEY = b"lifecycle-holdout-1"  # the template's default HoldoutKey
GROUP = "DeferredMessagesGroup"


def _treated(prefix: str, *families: str) -> str:
    """A customer id no programme of `families` (default: the win-back) holds out."""
    return next(
        name
        for name in (f"{prefix}-{n}" for n in range(100))
        if not any(held_out(HOLDOUT_KEY, f, name, 0.1) for f in families or ("winback",))
    )


def _held(prefix: str, family: str = "winback") -> str:
    return next(
        name
        for name in (f"{prefix}-{n}" for n in range(1000))
        if held_out(HOLDOUT_KEY, family, name, 0.1)
    )


def _streams(aws: Aws) -> None:
    records = aws.stack.read_stream("OrdersTable")
    if records:
        assert aws.invoke("ProfilesFunction", {"Records": records})["batchItemFailures"] == []


def _play(aws: Aws, orders: Orders, days: range) -> None:
    for day in days:
        orders.write(day)
        _streams(aws)


def _morning(aws: Aws, day: int) -> list[Any]:
    with time_machine.travel(at(day, 5), tick=False):
        aws.invoke("DailyStagesFunction", {})
        return aws.stack.drain_queues(LocalContext.for_function)


def _ledger(prefix: str) -> dict[str, dict[str, Any]]:
    return {
        i["message_key"]: i
        for i in scan("LedgerTable")
        if str(i.get("message_key", "")).startswith(prefix)
    }


def _exposures(customer_id: str) -> list[dict[str, Any]]:
    return [
        i
        for i in scan("ProfilesTable")
        if i["customer_id"] == customer_id and i["sk"].startswith("exposure#")
    ]


def _lapsing(aws: Aws, customer_id: str) -> None:
    """One order on day 0, delivered on day 1: at risk (the reminder) on day 22."""
    customer(customer_id, "Ann")
    orders = Orders()
    orders.place(customer_id, 0)
    _play(aws, orders, range(2))


def test_a_redelivered_batch_sends_and_records_nothing_twice(aws: Aws) -> None:
    lapser = _treated("lapser")
    _lapsing(aws, lapser)
    _morning(aws, 22)
    assert len(aws.emails()) == 1
    exposures = _exposures(lapser)
    profile = profiles().get(lapser)

    # when the same batch comes again (a redelivery after a lost response)
    queue = aws.stack.queue_url("DailyStagesQueue")
    body = {"day": at(22).date().isoformat(), "customers": [lapser]}
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(body))
    with time_machine.travel(at(22, 6), tick=False):
        aws.stack.drain_queues(LocalContext.for_function)

    # then nothing more was sent, exposed or written
    assert len(aws.emails()) == 1
    assert _exposures(lapser) == exposures
    assert profiles().get(lapser) == profile


def test_the_marketing_cap_holds_retention_messages_like_every_stages(aws: Aws) -> None:
    # given a heavy user reaching silver (6 orders of 45 points in six days) who has had one
    # marketing message this week from another stage (the cap: 2 in 7 days)
    heavy = _treated("heavy", "tier_up", "appreciation")
    customer(heavy, "Dana")
    orders = Orders()
    for day in range(6):
        orders.place(heavy, day, total="45")
    _play(aws, orders, range(7))
    other = Cap(
        key=f"marketing-cap#{heavy}#email",
        owner="referral#elsewhere",
        window=timedelta(days=7),
        reason="marketing cap: 2 in 7 days",
        limit=2,
    )
    caps = DynamoCaps(boto3.client("dynamodb"), "LedgerTable", 400)
    earlier = at(1, 12).astimezone(UTC)  # its slot frees on day 8, within the maximum delay
    assert caps.take(other, heavy, earlier) is None

    # when the morning run owes them a tier-up and the quarter's appreciation
    _morning(aws, 7)

    # then one goes, and the other waits for the slot the earlier message holds
    ledger = {**_ledger("tier_up#"), **_ledger("appreciation#")}
    assert sorted(v["status"] for v in ledger.values()) == ["deferred", "sent"]
    (deferred,) = (v for v in ledger.values() if v["status"] == "deferred")
    assert deferred["reason"] == "marketing cap: 2 in 7 days"
    frees = earlier + timedelta(days=7, seconds=1)
    assert datetime.fromisoformat(deferred["deliver_at"]) >= frees
    # both are exposures, the deferred one from when it is to go
    exposures = {i["message_key"]: i for i in _exposures(heavy)}
    assert sorted(i["programme"] for i in exposures.values()) == ["appreciation", "tier_up"]
    assert exposures[deferred["message_key"]]["exposed_at"] == deferred["deliver_at"]


def test_a_step_the_cap_holds_back_is_still_exposed_by_intent_to_treat(aws: Aws) -> None:
    # given a lapsing customer who had two marketing messages this week from other stages
    lapser = _treated("capped")
    _lapsing(aws, lapser)
    caps = DynamoCaps(boto3.client("dynamodb"), "LedgerTable", 400)
    for owner in ("referral#a", "referral#b"):
        cap = Cap(f"marketing-cap#{lapser}#email", owner, timedelta(days=7), "cap", 2)
        assert caps.take(cap, lapser, at(20, 12).astimezone(UTC)) is None
    _morning(aws, 22)
    # then the reminder (skipped when capped) went nowhere, but the customer is in the treated
    # group, as a held-out one would be in the holdout
    (reminder,) = _ledger(f"winback#{lapser}#").values()
    assert reminder["status"] == "skipped"
    assert [(i["group"], i["outcome"]) for i in _exposures(lapser)] == [("treated", "skipped")]


@pytest.fixture
def quiet_mornings() -> Iterator[Aws]:
    """The stack with quiet hours (21:00-08:00) applying to marketing email too."""
    with mock_aws():
        fresh_session()
        yield Aws(
            LocalStack.deployed(
                {**PARAMETERS, "QuietHours": "21:00-08:00", "QuietHoursMarketingEmail": "true"}
            )
        )


def test_quiet_hours_defer_the_five_oclock_retention_email_to_the_morning(
    quiet_mornings: Aws,
) -> None:
    aws = quiet_mornings
    lapser = _treated("quiet")
    _lapsing(aws, lapser)
    _morning(aws, 22)
    assert aws.emails() == []
    (reminder,) = _ledger(f"winback#{lapser}#").values()
    assert reminder["status"] == "deferred"
    assert datetime.fromisoformat(reminder["deliver_at"]) == at(22, 8).astimezone(UTC)

    # when the deferral's schedule fires at 08:00
    client = boto3.client("scheduler")
    (listed,) = client.list_schedules(GroupName=GROUP)["Schedules"]
    schedule = client.get_schedule(Name=listed["Name"], GroupName=GROUP)
    target = aws.stack.function_by_arn(schedule["Target"]["Arn"])
    assert target is not None
    with time_machine.travel(at(22, 8), tick=False):
        aws.invoke(target.logical_id, json.loads(schedule["Target"]["Input"]))
    assert [e.to for e in aws.emails()] == [f"{lapser}@example.com"]


def test_a_holdout_is_measured_only_where_the_message_could_have_gone(aws: Aws) -> None:
    reachable, unreachable = _held("held"), _held("held-nc")
    _lapsing(aws, reachable)
    _lapsing(aws, unreachable)
    # the second never agreed to marketing email
    put(
        "CustomersTable",
        {
            "customer_id": unreachable,
            "first_name": "Bo",
            "email": f"{unreachable}@example.com",
            "created_at": at(0, 8).isoformat(),
            "consent": {},
        },
    )
    _morning(aws, 22)
    assert aws.emails() == []
    assert [(i["group"], i["outcome"]) for i in _exposures(reachable)] == [("holdout", "held_out")]
    assert _exposures(unreachable) == []
    # both are marked handled: neither is due again before the offer's day
    for held in (reachable, unreachable):
        profile = profiles().get(held)
        assert profile is not None
        assert profile.winback_done == f"winback#{held}#{at(22).date().isoformat()}#0"


def test_an_attributed_order_carries_its_revenue_to_the_exposure(aws: Aws) -> None:
    lapser = _treated("returner")
    _lapsing(aws, lapser)
    _morning(aws, 22)
    orders = Orders()
    orders.count[lapser] = 1
    orders.place(lapser, 25, total="61.50")
    _play(aws, orders, range(25, 27))

    (exposure,) = _exposures(lapser)
    assert exposure["attributed_order"] == f"{lapser}-002"
    assert str(exposure["revenue"]) == "61.50"
    profile = profiles().get(lapser)
    assert profile is not None
    assert profile.stage == "won_back"


def test_a_cancelled_order_is_no_conversion(aws: Aws) -> None:
    lapser = _treated("canceller")
    _lapsing(aws, lapser)
    _morning(aws, 22)
    orders = Orders()
    orders.count[lapser] = 1
    order_id = orders.place(lapser, 25)
    orders.by_day[26] = [(order_id, lapser, "cancelled", None)]
    _play(aws, orders, range(25, 27))
    (exposure,) = _exposures(lapser)
    assert "attributed_order" not in exposure
    assert str(exposure["revenue"]) == "0"


def test_export_and_erasure_include_retention_exposures(aws: Aws) -> None:
    lapser = _treated("subject")
    _lapsing(aws, lapser)
    _morning(aws, 22)
    found = profiles().export(lapser)
    assert [e["programme"] for e in found["retention_exposures"]] == ["winback#0"]
    profiles().forget(lapser)
    assert [i for i in scan("ProfilesTable") if i["customer_id"] == lapser] == []


def test_the_queues_own_event_sends_the_days_win_back_step(aws: Aws) -> None:
    # given c-1001 lapsing on 2026-01-27, and a batch for that day as SQS delivers it (events/)
    _lapsing(aws, "c-1001")
    with time_machine.travel(at(22, 5), tick=False):
        result = aws.invoke("DailyStagesWorkerFunction", load_event("sqs-daily-stages-batch.json"))
    assert result == {"batchItemFailures": []}
    assert [e.to for e in aws.emails()] == ["c-1001@example.com"]
    (sent,) = _ledger("winback#c-1001#2026-01-27#0").values()
    assert sent["status"] == "sent"


def test_a_throttled_send_comes_back_with_its_batch_and_goes_once(aws: Aws) -> None:
    # given two customers lapsing the same day, and SES throttling the first one's reminder
    first, second = _treated("throttled"), _treated("steady")
    _lapsing(aws, first)
    _lapsing(aws, second)
    throttled = aws.fail_sends(
        "sesv2",
        "SendEmail",
        "TooManyRequestsException",
        when=lambda params: params["Destination"]["ToAddresses"] == [f"{first}@example.com"],
    )
    with time_machine.travel(at(22, 5), tick=False):
        aws.invoke("DailyStagesFunction", {})
        aws.stack.drain_queues(LocalContext.for_function)
    assert len(throttled) == 1
    # the batch came back after the queue's visibility timeout, and went through
    with time_machine.travel(at(22, 5) + timedelta(minutes=13), tick=False):
        aws.stack.drain_queues(LocalContext.for_function)
    sent = sorted(e.to for e in aws.emails())
    assert sent == sorted([f"{first}@example.com", f"{second}@example.com"])
    for customer_id in (first, second):
        assert [i["outcome"] for i in _exposures(customer_id)] == ["sent"]


def test_a_worker_short_of_time_hands_its_batch_back_and_the_customer_stays_due(
    aws: Aws,
) -> None:
    lapser = _treated("late")
    _lapsing(aws, lapser)
    body = {"day": at(22).date().isoformat(), "customers": [lapser]}
    event = {"Records": [{"messageId": "m-1", "body": json.dumps(body)}]}
    with time_machine.travel(at(22, 5), tick=False):
        # too little time left for even one profile write: the batch comes back untouched
        short = aws.invoke("DailyStagesWorkerFunction", event, seconds_left=20)
        assert short == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
        assert aws.emails() == []
        assert lapser in set(profiles().due(at(22).date()))
        # its redelivery, with a whole invocation's time, sends the step
        assert aws.invoke("DailyStagesWorkerFunction", event) == {"batchItemFailures": []}
    assert len(aws.emails()) == 1
    assert lapser not in set(profiles().due(at(22).date()))
