"""`make bench` keeps working: a tiny run through the same code, figures all measured."""

from __future__ import annotations

import pytest

from lifecycle.local import bench


def test_bench_measures_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    figures = bench.run(messages=4, repeats=1)

    assert set(figures) == {
        "per_message",
        "bare_send",
        "handler_import",
        "boto3_import",
        "first_call",
    }
    assert all(value > 0 for value in figures.values())
    assert "batch: 4 customers -> 6 messages, 28 AWS calls" in capsys.readouterr().out


def test_bench_refuses_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="at least 2 customers"):
        bench.run(messages=1, repeats=1)
