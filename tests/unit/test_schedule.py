from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle.local.schedule import ScheduleError, occurrences

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2026, 12, 8, tzinfo=UTC)


def test_daily_cron_in_a_time_zone() -> None:
    fired = list(occurrences("cron(0 9 * * ? *)", "Europe/Amsterdam", START, END))

    assert len(fired) == 7
    assert all(f.hour == 9 and f.tzinfo is not None for f in fired)
    assert fired[0].astimezone(UTC).hour == 8  # CET is UTC+1 in December


def test_weekday_names_and_ranges() -> None:
    fired = list(occurrences("cron(30 7 ? * MON-FRI *)", "UTC", START, END))

    assert [f.strftime("%a") for f in fired] == ["Tue", "Wed", "Thu", "Fri", "Mon"]


def test_rate_and_at() -> None:
    assert len(list(occurrences("rate(1 day)", "UTC", START, END))) == 6
    assert len(list(occurrences("rate(12 hours)", "UTC", START, END))) == 13
    (once,) = occurrences("at(2026-12-03T10:00:00)", "Asia/Taipei", START, END)
    assert once.astimezone(UTC) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad", ["every day", "cron(0 9 * *)", "cron(0 25 * * ? *)", "cron(0 9 L * ? *)"]
)
def test_unsupported_expressions_are_refused_clearly(bad: str) -> None:
    with pytest.raises(ScheduleError):
        list(occurrences(bad, "UTC", START, END))
