"""`lifecycle bench-due` on a small table: the due query reads only the customers due, and
returns exactly them; the generated profiles are what the real code would have written."""

from __future__ import annotations

from datetime import date

import pytest

from lifecycle import cli
from lifecycle.adapters.profiles import profile_from
from lifecycle.local import bench_due
from lifecycle.local.stack import LOCAL_PARAMETERS, LocalStack
from lifecycle.platform.settings import Env
from lifecycle.profiles.settings import ProfileSettings
from lifecycle.profiles.stages import next_change, stage_on

TODAY = date(2026, 3, 30)  # the day after Europe/Amsterdam moves to summer time


def _settings() -> ProfileSettings:
    stack = LocalStack.from_template(LOCAL_PARAMETERS)
    env = stack.function(bench_due.DAILY_FUNCTION).environment
    return ProfileSettings.from_env(Env(env))


@pytest.mark.parametrize("load", ["boto3", "moto"])
def test_the_due_query_reads_only_the_customers_due(load: str) -> None:
    figures = bench_due.measure(2_000, 0.01, today=TODAY, load=load, progress=None)

    assert figures.exact  # the query returned the generated due set, no more, no less
    assert figures.due == figures.counts["due today"] > 0
    assert figures.read <= bench_due.RATIO_TARGET * figures.due
    assert figures.pages >= 16  # every shard asked
    assert figures.through_boto3 == (2_000 if load == "boto3" else 0)


def test_generated_profiles_carry_the_due_day_the_adapter_would_write() -> None:
    settings = _settings()
    rules = settings.stages
    generated = bench_due.population(2_000, 0.01, TODAY, rules, settings.loyalty)
    due_today = set()
    for item in generated.items:
        profile = profile_from(item)
        assert profile.as_of is not None
        assert profile.as_of < TODAY
        # what DynamoProfiles._write puts in the index for this profile
        expected = next_change(profile, profile.as_of, rules)
        written = date.fromisoformat(item["due_day"]["S"]) if "due_day" in item else None
        assert written == expected, profile
        assert written is None or written >= TODAY  # the job ran yesterday
        assert stage_on(profile, profile.as_of, rules)[0] == profile.stage
        if written == TODAY:
            due_today.add(profile.customer_id)
    assert due_today == generated.due
    counts = generated.counts
    assert sum(counts.values()) == 2_000
    assert counts["prospect"] + counts["dormant"] > 0.25 * 2_000


def test_nonsense_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 100 profiles"):
        bench_due.measure(10)
    with pytest.raises(ValueError, match="due share"):
        bench_due.measure(1_000, due_share=0)


def test_the_command_prints_the_figures_and_says_whether_the_target_is_met(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["bench-due", "--profiles", "500", "--load", "moto"]) == 0

    out = capsys.readouterr().out
    assert "500 profiles" in out
    assert "(target at most 1.1: met)" in out
    assert "straight into moto's in-memory table" in out
    assert "ConsumedCapacity (INDEXES), as moto gives it:" in out


def test_the_command_refuses_a_due_share_of_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench-due", "--profiles", "500", "--due-share", "0"]) == 2
    assert "due share" in capsys.readouterr().err
