"""`lifecycle bench-due` on a small table: the daily run's planner reads only the customers
due and enqueues exactly them, the worker sends what they are owed, and the figures printed
are what the tables, SES and the hook saw; the generated profiles are what the real code
would have written."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle import cli
from lifecycle.adapters.profiles import profile_from
from lifecycle.local import bench_due, daily_run
from lifecycle.local.mailbox import sent_emails
from lifecycle.local.stack import LOCAL_PARAMETERS, LocalStack
from lifecycle.platform.settings import Env
from lifecycle.profiles.stages import advance, next_due, stage_on
from lifecycle.stages.retention import journey
from lifecycle.stages.retention.settings import RetentionSettings
from tests.conftest import Aws

TODAY = date(2026, 3, 30)  # the day after Europe/Amsterdam moves to summer time


def _settings(stack: LocalStack | None = None) -> RetentionSettings:
    stack = stack or LocalStack.from_template(LOCAL_PARAMETERS)
    return RetentionSettings.from_env(Env(stack.function(daily_run.WORKER).environment))


def _today(settings: RetentionSettings) -> date:
    return settings.profiles.stages.day_of(datetime.now(UTC))


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> bench_due.DueFigures:
    """One run at 2,000 profiles, 2% due (about 40 customers), for the tests that read it."""
    logs = tmp_path_factory.mktemp("bench") / "logs.jsonl"
    return bench_due.measure(2_000, 0.02, load="moto", progress=None, logs=logs)


def _figure(out: str, label: str) -> str:
    """The first thing printed after `label` on its line."""
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return line.strip()[len(label) :].split()[0]


def test_the_planner_reads_only_the_customers_due_and_enqueues_exactly_them(
    figures: bench_due.DueFigures,
) -> None:
    assert figures.due == figures.counts["due today"] > 0
    assert figures.exact  # each due customer in one queue message, nobody else
    assert figures.read <= bench_due.RATIO_TARGET * figures.due
    assert figures.pages >= 16  # every shard asked
    assert figures.met


def test_messages_sent_are_the_ledger_s_and_ses_s_and_each_call_is_counted_once(
    figures: bench_due.DueFigures,
) -> None:
    calls = figures.run.calls.made
    assert figures.sent > 0
    assert figures.sent == figures.emails == calls[("sesv2", "SendEmail")]
    assert figures.ledger["winback#1"]["sent"] > 0  # offers went, each with a code
    assert figures.codes_issued >= figures.ledger["winback#1"]["sent"]
    # Each due customer's profile is read (moving their stage) and written; one queue
    # message a hundred customers.
    assert calls[("dynamodb", "GetItem")] >= figures.due
    assert calls[("dynamodb", "TransactWriteItems")] >= figures.due
    assert calls[("sqs", "SendMessage")] == -(-figures.due // 100)
    services = figures.run.calls.by_service()
    assert sum(services.values()) == sum(calls.values())
    assert set(services) >= {"dynamodb", "sesv2", "sqs"}
    assert all(count / figures.sent > 0 for count in services.values())
    # The local stack's polling is Lambda's, counted apart from the functions'.
    polled = figures.run.polling.made
    assert polled[("sqs", "ReceiveMessage")] > 0
    assert (
        polled[("sqs", "DeleteMessageBatch")] >= figures.run.calls.made[("sqs", "SendMessage")] > 0
    )
    assert not {op for _, op in figures.run.calls.made} & {"ReceiveMessage", "DeleteMessageBatch"}
    assert figures.run.calls.seconds > 0
    assert figures.run.calls.seconds < figures.run_seconds


def test_the_report_prints_the_figures_it_was_given(
    figures: bench_due.DueFigures, capsys: pytest.CaptureFixture[str]
) -> None:
    bench_due.report(figures)

    out = capsys.readouterr().out
    assert _figure(out, "messages sent (ledger rows sent)") == f"{figures.sent:,}"
    assert _figure(out, "due customers (generated)") == f"{figures.due:,}"
    assert "(target at most 1.1: met)" in out
    calls = sum(figures.run.calls.made.values())
    line = next(line for line in out.splitlines() if line.strip().startswith("all "))
    assert line.split()[1:] == [
        f"{calls:,}",
        f"{calls / figures.sent:.2f}",
        f"{calls / figures.due:.2f}",
    ]
    per_thousand = figures.run_seconds * 1000 / figures.due
    assert _figure(out, "run time per 1,000 due customers") == f"{per_thousand:.1f}"


def test_generated_profiles_are_what_the_daily_run_left_last_night() -> None:
    settings = _settings()
    rules = settings.profiles.stages
    yesterday = TODAY - timedelta(days=1)
    generated = bench_due.population(2_000, 0.02, TODAY, settings)
    due_today, codes, kinds = set(), set(), Counter[str]()
    for item in generated.items:
        if item["sk"]["S"].startswith("promo#") or item["customer_id"]["S"].startswith("code#"):
            codes.add(item.get("owner", item["customer_id"])["S"])
            continue
        profile = profile_from(item)
        assert profile.as_of == yesterday
        assert stage_on(profile, yesterday, rules)[0] == profile.stage
        # what DynamoProfiles._write puts in the index for this profile
        written = date.fromisoformat(item["due_day"]["S"]) if "due_day" in item else None
        assert written == next_due(profile, yesterday, rules), profile
        owed = journey.due(profile, yesterday, rules)
        if written is not None and written <= TODAY:
            due_today.add(profile.customer_id)
            moved, _ = advance(profile, TODAY, rules)  # what the worker does first
            kinds.update(o.programme for o in journey.due(moved, TODAY, rules))
        if written == yesterday:
            # only a reward yesterday's order brought waits from before today
            assert profile.last_order_at is not None
            assert rules.day_of(profile.last_order_at) == yesterday
            assert {o.family for o in owed} <= {journey.TIER_UP, journey.APPRECIATION}
        else:
            assert owed == []  # everything owed up to yesterday was handled
    assert due_today == generated.due
    assert {row["customer_id"]["S"] for row in generated.customers} == generated.due
    assert all(row["consent"]["M"]["email_marketing"]["BOOL"] for row in generated.customers)
    # lapsing today (the reminder), the offer (a code), the last chance (its code in place)
    assert {"winback#0", "winback#1", "winback#2"} <= set(kinds)
    assert codes
    assert codes <= generated.due
    counts = generated.counts
    assert sum(counts.values()) == 2_000
    assert counts["prospect"] + counts["dormant"] > 0.25 * 2_000


def test_a_batch_that_fails_comes_back_after_the_visibility_timeout_and_is_done_once(
    aws: Aws,
) -> None:
    settings = _settings(aws.stack)
    day = _today(settings)
    generated = bench_due.population(1_000, 0.03, day, settings)
    bench_due.write(aws.stack, generated, 1_000, "moto", None)
    throttled = aws.fail_sends("sesv2", "SendEmail", "Throttling", lambda _: True)

    run = daily_run.daily_run(aws.stack, day)

    assert len(throttled) == 1
    assert run.came_back == 1  # the queue message holding the throttled customer
    assert run.left == 0
    assert run.waited_seconds > 0
    assert len(run.invocation_seconds) == len(run.invocations) == 2
    assert all(0 < took < run.timeout for took in run.invocation_seconds)
    sent = [e.to for e in sent_emails()]
    assert len(sent) == len(set(sent)) == run.calls.made[("sesv2", "SendEmail")] > 0


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 100 profiles"):
        bench_due.measure(10)
    with pytest.raises(ValueError, match="due share"):
        bench_due.measure(1_000, due_share=0)


def test_the_command_prints_the_figures_and_says_whether_the_target_is_met(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_due, "LOGS", tmp_path / "logs.jsonl")
    assert cli.main(["bench-due", "--profiles", "500", "--load", "moto"]) == 0

    out = capsys.readouterr().out
    assert "500 profiles" in out
    assert "(target at most 1.1: met)" in out
    assert "straight into moto's in-memory table" in out
    assert "messages sent (ledger rows sent)" in out
    assert "AWS calls by the two functions" in out
    assert "ConsumedCapacity (INDEXES), as moto gives it:" in out
    assert (tmp_path / "logs.jsonl").stat().st_size > 0


def test_the_command_refuses_a_due_share_of_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench-due", "--profiles", "500", "--due-share", "0"]) == 2
    assert "due share" in capsys.readouterr().err
