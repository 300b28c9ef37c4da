"""Profiles over moto: the Orders stream folded into profiles (replays change nothing), and
the daily job moving stages from the sparse due index on exactly the right days."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import time_machine
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from lifecycle.adapters.profiles import DynamoProfiles
from lifecycle.local.stack import LocalContext
from lifecycle.platform.settings import Env
from lifecycle.profiles.settings import ProfileSettings
from tests.conftest import Aws, load_event

PROFILES = "ProfilesFunction"
DAILY = "DailyStagesFunction"
ZONE = ZoneInfo("Europe/Amsterdam")  # the local stack's DefaultTimezone
DAY0 = date(2026, 3, 2)
SERIALIZER = TypeSerializer()


def _at(day: int, hour: int = 10) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=day), datetime.min.time(), ZONE).replace(
        hour=hour
    )


def _order(order_id: str, customer: str, status: str, day: int, total: str = "25.50") -> None:
    item = {
        "order_id": order_id,
        "customer_id": customer,
        "status": status,
        "updated_at": _at(day).astimezone(UTC).isoformat(),
        "total": total,
        "currency": "EUR",
    }
    boto3.client("dynamodb").put_item(
        TableName="OrdersTable", Item={k: SERIALIZER.serialize(v) for k, v in item.items()}
    )


def _profiles() -> DynamoProfiles:
    settings = ProfileSettings.from_env(
        Env({"PROFILES_TABLE": "ProfilesTable", "DEFAULT_TIMEZONE": "Europe/Amsterdam"})
    )
    return DynamoProfiles(
        boto3.client("dynamodb"), settings.table, settings.loyalty, settings.stages
    )


def _table() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName="ProfilesTable", ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["customer_id"]["S"], i["sk"]["S"]))


def _drive(aws: Aws, records: list[dict[str, Any]], size: int) -> int:
    """Deliver the records in batches as Lambda does: a batch that reports failures comes
    back from its first failed record. Returns the number of redeliveries."""
    position, redelivered = 0, 0
    while position < len(records):
        batch = records[position : position + size]
        failures = aws.invoke(PROFILES, {"Records": batch})["batchItemFailures"]
        if not failures:
            position += len(batch)
            continue
        first = failures[0]["itemIdentifier"]
        sequences = [r["dynamodb"]["SequenceNumber"] for r in batch]
        position += sequences.index(first)
        redelivered += 1
    return redelivered


def _history() -> None:
    """Three customers over two months: weekly, one-off with a cancellation, a refund."""
    for week in range(6):
        _order(f"w-{week}", "weekly", "scheduled", 7 * week)
        _order(f"w-{week}", "weekly", "picked_up", 7 * week)
        _order(f"w-{week}", "weekly", "delivered", 7 * week + 2, total="40")
    _order("o-1", "once", "scheduled", 3)
    _order("o-2", "once", "scheduled", 4)
    _order("o-2", "once", "cancelled", 5)
    _order("o-1", "once", "delivered", 6, total="812.40")
    _order("o-1", "once", "cancelled", 9)  # taken back after delivery


def test_replaying_the_orders_stream_three_times_leaves_every_profile_as_one_pass(
    aws: Aws,
) -> None:
    # given a season of orders on the stream
    _history()
    records = aws.stack.read_stream("OrdersTable")
    assert len(records) == 23

    # when the stream is delivered once, in batches of 7
    assert _drive(aws, records, 7) == 0
    once = _table()

    # and then twice more, the second time with the table throttling one write mid-batch
    failed = aws.fail_sends(
        "dynamodb",
        "TransactWriteItems",
        "ProvisionedThroughputExceededException",
        lambda _: True,
    )
    assert _drive(aws, records, 5) == 0  # replays write nothing, so nothing to throttle
    assert failed == []
    assert _drive(aws, records, 3) == 0

    # then every profile, contribution and stage change is exactly as after one pass
    assert _table() == once
    profiles = _profiles()
    weekly = profiles.get("weekly")
    assert weekly is not None
    assert (weekly.placed, weekly.delivered, weekly.points) == (6, 6, 240)
    assert weekly.stage == "loyal"  # six orders in 90 days
    once_profile = profiles.get("once")
    assert once_profile is not None
    assert (once_profile.placed, once_profile.cancelled, once_profile.points) == (2, 2, 0)
    assert once_profile.stage == "prospect"
    assert [(c.old, c.new) for c in profiles.history("once")] == [
        ("prospect", "new"),
        ("new", "active"),  # a second order placed...
        ("active", "new"),  # ...and cancelled
        ("new", "loyal"),  # the first delivered: 812 points, gold
        ("loyal", "prospect"),  # then cancelled too: no live order, the points taken back
    ]


def test_a_failed_write_mid_batch_is_retried_from_its_record_and_nothing_is_counted_twice(
    aws: Aws,
) -> None:
    _history()
    records = aws.stack.read_stream("OrdersTable")
    # the fifth write of the first pass is throttled: its batch comes back from that record
    calls: list[int] = []

    def fifth(_: dict[str, Any]) -> bool:
        calls.append(1)
        return len(calls) == 5

    aws.fail_calls(
        "dynamodb",
        "TransactWriteItems",
        lambda: ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
            "TransactWriteItems",
        ),
        fifth,
    )
    assert _drive(aws, records, 7) == 1
    weekly = _profiles().get("weekly")
    assert weekly is not None
    assert (weekly.placed, weekly.delivered, weekly.points) == (6, 6, 240)


def test_changes_at_the_same_instant_are_all_recorded(aws: Aws) -> None:
    # given images that share a timestamp (a bulk import, or date-only times)
    _order("a", "same", "delivered", 0)
    _order("b", "same", "scheduled", 30)
    _order("b", "same", "cancelled", 30)  # at risk, active, at risk again: at one instant
    _order("c", "same", "scheduled", 30)
    assert _drive(aws, aws.stack.read_stream("OrdersTable"), 10) == 0
    changes = _profiles().history("same")
    assert [(c.old, c.new) for c in changes] == [
        ("prospect", "new"),
        ("new", "at_risk"),
        ("at_risk", "active"),
        ("active", "at_risk"),
        ("at_risk", "active"),
    ]


@pytest.mark.parametrize(
    "reason", ["TransactionConflict", "ConditionalCheckFailed"], ids=["conflict", "condition"]
)
def test_a_write_that_loses_a_race_is_read_and_folded_again(aws: Aws, reason: str) -> None:
    # DynamoDB cancels a transaction that overlaps another on the same item
    # (TransactionConflict), or whose condition no longer holds: both are lost races
    aws.fail_calls(
        "dynamodb",
        "TransactWriteItems",
        lambda: ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": reason}, {"Code": "None"}],
            },
            "TransactWriteItems",
        ),
        times=2,
    )
    _order("o-1", "racer", "delivered", 0, total="30")
    assert _drive(aws, aws.stack.read_stream("OrdersTable"), 10) == 0
    racer = _profiles().get("racer")
    assert racer is not None
    assert (racer.placed, racer.points, racer.version) == (1, 30, 1)


def test_a_throttled_transaction_is_not_mistaken_for_a_race(aws: Aws) -> None:
    aws.fail_calls(
        "dynamodb",
        "TransactWriteItems",
        lambda: ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": "ThrottlingError"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        ),
    )
    _order("o-1", "slow", "delivered", 0)
    # the record fails (and comes back), rather than being folded on a guess
    assert _drive(aws, aws.stack.read_stream("OrdersTable"), 10) == 1
    assert _profiles().get("slow") is not None


def _run_daily(aws: Aws, day: int) -> Any:
    """The morning run: the planner hands out batches, the worker moves them (the local
    stack's SQS event source)."""
    with time_machine.travel(_at(day, 5), tick=False):
        result = aws.invoke(DAILY, {})
        aws.stack.drain_queues(LocalContext.for_function)
    return result


def _due_on(day: int) -> set[str]:
    return set(_profiles().due(DAY0 + timedelta(days=day)))


def test_a_customer_drifts_from_new_to_at_risk_to_dormant_on_exactly_the_right_days(
    aws: Aws,
) -> None:
    # given one delivered order on day 0
    _order("o-1", "drifter", "scheduled", 0)
    _order("o-1", "drifter", "delivered", 0)
    _drive(aws, aws.stack.read_stream("OrdersTable"), 10)
    profiles = _profiles()
    assert profiles.get("drifter").stage == "new"  # type: ignore[union-attr]

    # when the daily job runs every morning for 70 days
    due_days, stages = [], {}
    for day in range(1, 71):
        if "drifter" in _due_on(day):
            due_days.append(day)
        _run_daily(aws, day)
        stages[day] = profiles.get("drifter").stage  # type: ignore[union-attr]

    # then it was due on the day it turned at risk (21 days, the floor), on the win-back
    # sequence's later steps (14 and 30 days after that) and the day it went dormant (60), and
    # on no other day
    assert due_days == [21, 35, 51, 60]
    assert (stages[20], stages[21], stages[59], stages[60], stages[70]) == (
        "new",
        "at_risk",
        "at_risk",
        "dormant",
        "dormant",
    )
    # dormant: only an order can move it now, so it left the sparse index
    assert _due_on(400) == set()
    changes = profiles.history("drifter")
    assert [(c.new, c.at.astimezone(ZONE).date()) for c in changes] == [
        ("new", DAY0),
        ("at_risk", DAY0 + timedelta(days=21)),
        ("dormant", DAY0 + timedelta(days=60)),
    ]


def test_days_the_scheduler_missed_are_caught_up_with_each_change_on_its_own_day(
    aws: Aws,
) -> None:
    _order("o-1", "late", "delivered", 0)
    _drive(aws, aws.stack.read_stream("OrdersTable"), 10)
    # no run at all until day 65
    assert _run_daily(aws, 65)["status"] == "done"
    changes = _profiles().history("late")
    assert [(c.new, c.at.astimezone(ZONE).date()) for c in changes] == [
        ("new", DAY0),
        ("at_risk", DAY0 + timedelta(days=21)),
        ("dormant", DAY0 + timedelta(days=60)),
    ]
    # and the next morning nobody is due
    assert _run_daily(aws, 66)["status"] == "skipped"


def test_the_daily_job_reads_only_the_customers_due(aws: Aws) -> None:
    for number in range(40):
        _order(f"o-{number}", f"c-{number}", "delivered", -number)
    _drive(aws, aws.stack.read_stream("OrdersTable"), 25)
    read: list[int] = []
    due = list(_profiles().due(DAY0 + timedelta(days=21), read.append))
    # no run yet: on day 21, c-0 turns at risk today and every older one is overdue (c-39
    # turns dormant today): all 40 are due, and the query read those 40 and nothing else
    assert len(due) == 40
    assert sum(read) == 40
    _run_daily(aws, 21)
    read.clear()
    assert list(_profiles().due(DAY0 + timedelta(days=21), read.append)) == []
    assert sum(read) == 0


def test_the_schedulers_own_event_runs_the_daily_job(aws: Aws) -> None:
    # given a customer due today, and the event Scheduler sends (events/)
    _order("o-1", "drifter", "delivered", 0)
    _drive(aws, aws.stack.read_stream("OrdersTable"), 10)
    with time_machine.travel(_at(21, 5), tick=False):
        result = aws.invoke(DAILY, load_event("schedule-daily-stages.json"))
        aws.stack.drain_queues(LocalContext.for_function)
    assert result["status"] == "done"
    assert _profiles().get("drifter").stage == "at_risk"  # type: ignore[union-attr]


def test_the_daily_run_hands_out_batches_and_a_redelivered_batch_changes_nothing(
    aws: Aws,
) -> None:
    for number in range(230):
        _order(f"o-{number}", f"c-{number:03d}", "delivered", 0)
    _drive(aws, aws.stack.read_stream("OrdersTable"), 100)
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName="DailyStagesQueue")["QueueUrl"]
    with time_machine.travel(_at(21, 5), tick=False):
        assert aws.invoke(DAILY, {})["status"] == "done"
        bodies = [
            json.loads(m["Body"])
            for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        ]
        # 230 due: three batches of at most 100, every customer in exactly one
        assert sorted(len(b["customers"]) for b in bodies) == [30, 100, 100]
        assert sorted(c for b in bodies for c in b["customers"]) == [
            f"c-{n:03d}" for n in range(230)
        ]
        body = bodies[0]
        event = {"Records": [{"messageId": "m-1", "body": json.dumps(body)}]}
        # A whole invocation's time for a hundred customers over moto on a busy machine (the
        # worker hands a batch back when short of time: tested in test_retention.py).
        worker = partial(aws.invoke, "DailyStagesWorkerFunction", seconds_left=900)
        assert worker(event)["batchItemFailures"] == []
        moved = _profiles().get(body["customers"][0])
        assert moved is not None
        assert moved.stage == "at_risk"
        # the same batch again: nothing is written twice
        assert worker(event)["batchItemFailures"] == []
        assert _profiles().get(body["customers"][0]) == moved
        assert len(_profiles().history(body["customers"][0])) == 2


def test_a_day_in_the_future_is_refused(aws: Aws) -> None:
    with time_machine.travel(_at(0, 5), tick=False):
        result = aws.invoke(DAILY, {"day": (DAY0 + timedelta(days=3)).isoformat()})
    assert result["status"] == "rejected"
    assert "future" in result["reason"]


def test_lifecycle_profile_prints_the_profile_and_its_stage_history(
    aws: Aws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifecycle.cli import main

    _history()
    _drive(aws, aws.stack.read_stream("OrdersTable"), 25)
    monkeypatch.setenv("PROFILES_TABLE", "ProfilesTable")

    assert main(["profile", "weekly"]) == 0
    out = capsys.readouterr().out
    assert "customer weekly: loyal since" in out
    assert "6 placed, 6 delivered, 0 cancelled" in out
    assert "EUR 240.00" in out
    assert "points       240 (tier bronze)" in out
    assert "usual gap    7 days (median)" in out
    assert "stage history (3 changes)" in out
    assert "active -> loyal" in out

    assert main(["profile", "weekly", "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(exported["orders"]) == 6

    assert main(["profile", "nobody"]) == 1
    assert "no profile for nobody" in capsys.readouterr().err


def test_lifecycle_profile_without_a_table_says_what_to_give(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    from lifecycle.cli import main

    assert main(["profile", "c-1"]) == 2
    assert "give --stack, or set PROFILES_TABLE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("LOYALTY_TIERS", "gold:750,silver:250", "thresholds must rise"),
        ("LOYALTY_POINTS_PER_UNIT", "1,EURO=2", "three-letter currency"),
        ("STAGE_AT_RISK_FACTOR", "fast", "must be a number"),
        ("STAGE_LOYAL_ORDERS", "30", "at most 24"),
    ],
)
def test_bad_profile_settings_are_named(name: str, value: str, problem: str) -> None:
    from lifecycle.platform.settings import SettingsError

    with pytest.raises(SettingsError, match=problem):
        ProfileSettings.from_env(Env({"PROFILES_TABLE": "t", name: value}))
