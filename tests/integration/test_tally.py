"""The report's tally: what the product's tables record, counted per day from their streams
by the tally function, once each however often Lambda delivers a batch."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from lifecycle.adapters.tally import counts, first_day
from lifecycle.local.stack import LocalContext
from tests.conftest import Aws

DAY = date(2026, 11, 20)


def _put(table: str, item: dict[str, Any]) -> None:
    boto3.resource("dynamodb").Table(table).put_item(Item=item)


def _message(key: str, status: str, at: str, stage: str = "welcome") -> dict[str, Any]:
    return {
        "message_key": key,
        "record_type": "message",
        "status": status,
        "stage": stage,
        "template": stage,
        "channel": "email",
        "kind": "service",
        "customer_id": key.split("#")[1],
        "updated_at": at,
    }


def _totals(aws: Aws) -> dict[tuple[str, tuple[str, ...]], tuple[int, Decimal]]:
    table = aws.stack.table_name("EngagementTable")
    summed: dict[tuple[str, tuple[str, ...]], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for count in counts(boto3.client("dynamodb"), table, DAY, date(2026, 12, 31)):
        summed[(count.measure, count.dimensions)][0] += count.count
        summed[(count.measure, count.dimensions)][1] += count.amount
    return {key: (n, amount) for key, (n, amount) in summed.items() if n or amount}


def _pump(aws: Aws) -> None:
    aws.stack.pump(LocalContext.for_function)


def test_messages_count_once_when_they_reach_a_final_status(aws: Aws) -> None:
    ledger = aws.stack.table_name("LedgerTable")
    # given a claim that is later sent, a deferral later sent, and a skip
    _put(ledger, _message("welcome#c-1#email", "claimed", "2026-11-20T09:00:00+00:00"))
    _put(ledger, _message("welcome#c-2#email", "deferred", "2026-11-20T09:00:00+00:00"))
    _put(ledger, _message("welcome#c-3#email", "skipped", "2026-11-20T09:00:00+00:00"))
    _pump(aws)
    _put(ledger, _message("welcome#c-1#email", "sent", "2026-11-20T09:00:01+00:00"))
    _put(ledger, _message("welcome#c-2#email", "sent", "2026-11-21T08:00:00+00:00"))
    # when the tally has read the streams (and a marker-only write changes nothing)
    _put(ledger, {"message_key": "marker#x", "record_type": "marker"})
    _pump(aws)
    # then each message counts once, with its final status, on its day
    assert _totals(aws) == {
        ("messages", ("welcome", "welcome", "email", "sent")): (2, Decimal(0)),
        ("messages", ("welcome", "welcome", "email", "skipped")): (1, Decimal(0)),
    }
    by_day = {
        (c.day, c.dimensions[-1]): c.count
        for c in counts(
            boto3.client("dynamodb"),
            aws.stack.table_name("EngagementTable"),
            DAY,
            date(2026, 11, 30),
        )
    }
    assert by_day == {(DAY, "sent"): 1, (DAY, "skipped"): 1, (date(2026, 11, 21), "sent"): 1}


def test_a_batch_delivered_again_counts_nothing_more(aws: Aws) -> None:
    ledger = aws.stack.table_name("LedgerTable")
    _put(ledger, _message("welcome#c-1#email", "sent", "2026-11-20T09:00:00+00:00"))
    records = aws.stack.read_stream("LedgerTable")
    spec = aws.stack.function("TallyFunction")
    (source,) = [s for s in spec.streams if s.table == "LedgerTable"]
    # when Lambda delivers the same batch three times (a timeout after the write, say)
    for _ in range(3):
        aws.stack.deliver(spec, source, records, LocalContext.for_function)
    # then it counted once
    assert _totals(aws) == {
        ("messages", ("welcome", "welcome", "email", "sent")): (1, Decimal(0)),
    }


def test_profiles_ratings_and_unsubscribes(aws: Aws) -> None:
    profiles = aws.stack.table_name("ProfilesTable")
    profile = {
        "customer_id": "c-1",
        "sk": "profile",
        "stage": "new",
        "spend": {"EUR": Decimal("30.50")},
        "first_order_at": "2026-10-03T10:00:00+00:00",
        "updated_at": "2026-11-20T10:00:00+00:00",
        "tallied": True,
    }
    # a profile written before the tally existed, then written again: it joins the count once
    before_tally = {k: v for k, v in profile.items() if k != "tallied"}
    _put(profiles, {**before_tally, "customer_id": "c-0"})
    _pump(aws)
    _put(profiles, {**profile, "customer_id": "c-0", "stage": "active"})
    _put(profiles, profile)
    _pump(aws)
    # a second order moves the customer on: new -> active, with more spend
    moved = {
        **profile,
        "stage": "active",
        "spend": {"EUR": Decimal("75.00")},
        "updated_at": "2026-11-25T10:00:00+00:00",
    }
    _put(profiles, moved)
    _put(
        profiles,
        {
            "customer_id": "c-1",
            "sk": "stage#2026-11-25T10:00:00+00:00#0000000002#0",
            "at": "2026-11-25T10:00:00+00:00",
            "old": "new",
            "new": "active",
            "cause": "order",
        },
    )
    ratings = aws.stack.table_name("RatingsTable")
    rating = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "score": 2,
        "rated_at": "2026-11-21T10:00:00+00:00",
        "updated_at": "2026-11-21T10:00:00+00:00",
    }
    _put(ratings, rating)
    _pump(aws)
    _put(ratings, {**rating, "score": 4, "updated_at": "2026-11-21T10:05:00+00:00"})
    preferences = aws.stack.table_name("PreferencesTable")
    state = {"customer_id": "c-1", "entry": "state", "version": 1}
    _put(preferences, {**state, "updated_at": "2026-11-26T08:00:00+00:00"})
    # one unsubscribe that takes effect, then the same again (a second one-click): one counted
    for version in (2, 3):
        _put(
            preferences,
            {
                **state,
                "version": version,
                "opt_outs": {"email:announcements"},
                "updated_at": "2026-11-26T08:00:00+00:00",
            },
        )
    _pump(aws)
    assert _totals(aws) == {
        ("customers", ("active",)): (2, Decimal(0)),
        ("spend", ("active", "EUR")): (0, Decimal("105.50")),
        ("spenders", ("active", "EUR")): (2, Decimal(0)),
        ("cohort_customers", ("2026-10",)): (2, Decimal(0)),
        ("cohort_spend", ("2026-10", "EUR")): (0, Decimal("105.50")),
        ("cohort_spenders", ("2026-10", "EUR")): (2, Decimal(0)),
        ("moves", ("new", "active")): (1, Decimal(0)),
        ("ratings", ("4",)): (1, Decimal(0)),
        ("unsubscribes", ("email", "announcements")): (1, Decimal(0)),
    }
    # and the tally knows where it begins: the month of its first day
    table = aws.stack.table_name("EngagementTable")
    assert first_day(boto3.client("dynamodb"), table) == date(2026, 11, 1)


def test_a_skip_later_claimed_and_sent_counts_as_sent_only(aws: Aws) -> None:
    ledger = aws.stack.table_name("LedgerTable")
    for status, at in (
        ("skipped", "2026-11-20T09:00:00+00:00"),
        ("claimed", "2026-11-21T09:00:00+00:00"),
        ("deferred", "2026-11-21T09:00:01+00:00"),
        ("sent", "2026-11-22T09:00:00+00:00"),
    ):
        _put(ledger, _message("welcome#c-1#email", status, at))
        _pump(aws)
    assert _totals(aws) == {("messages", ("welcome", "welcome", "email", "sent")): (1, Decimal(0))}


def test_records_count_once_when_a_failed_batch_comes_back_split(aws: Aws) -> None:
    """A batch written in several transactions fails after the first; Lambda bisects it and
    delivers the halves: every record counts once."""
    from lifecycle.adapters.tally import DynamoTally
    from lifecycle.reporting.tally import Delta, Measure

    client = boto3.client("dynamodb")
    table = aws.stack.table_name("EngagementTable")
    records = [
        (f"event-{n}", [Delta(DAY, Measure.MESSAGES, ("welcome", f"t{n}", "email", "sent"), 1)])
        for n in range(180)
    ]
    real = client.transact_write_items
    calls = {"n": 0}

    def second_fails(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the invocation timed out")
        return real(**kwargs)

    client.transact_write_items = second_fails  # type: ignore[method-assign]
    tally = DynamoTally(client, table)
    with pytest.raises(RuntimeError):
        tally.apply(records, datetime.now(UTC))
    client.transact_write_items = real  # type: ignore[method-assign]
    # a group half counted before (records 25-49) and half new (50-74)
    assert tally.apply(records[25:75], datetime.now(UTC)) == 25
    # the first half of the bisected batch (three records given twice), then the second
    assert tally.apply(records[:90] + records[:3], datetime.now(UTC)) == 15  # 75-89, once
    assert tally.apply(records[90:], datetime.now(UTC)) == 90
    assert tally.apply(records, datetime.now(UTC)) == 0  # and the whole batch once more
    total = sum(c.count for c in counts(client, table, DAY, DAY))
    assert total == 180


def test_an_erasure_takes_the_profile_away_and_keeps_its_past_moves(aws: Aws) -> None:
    profiles = aws.stack.table_name("ProfilesTable")
    profile = {
        "customer_id": "c-1",
        "sk": "profile",
        "stage": "dormant",
        "spend": {"EUR": Decimal("10")},
        "updated_at": "2026-11-20T10:00:00+00:00",
        "tallied": True,
    }
    move = {
        "customer_id": "c-1",
        "sk": "stage#2026-11-20T10:00:00+00:00#0000000002#0",
        "at": "2026-11-20T10:00:00+00:00",
        "old": "at_risk",
        "new": "dormant",
        "cause": "time",
    }
    _put(profiles, profile)
    _put(profiles, move)
    _pump(aws)
    # when the customer is forgotten
    table = boto3.resource("dynamodb").Table(profiles)
    for item in (profile, move):
        table.delete_item(Key={"customer_id": "c-1", "sk": item["sk"]})
    _pump(aws)
    # then they are no longer a customer in any stage, and the move still happened
    assert _totals(aws) == {("moves", ("at_risk", "dormant")): (1, Decimal(0))}
