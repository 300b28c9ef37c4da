"""The stream handlers under injected faults, driven as Lambda drives them (lifecycle/local/
faults.py): nothing lost, and every duplicate explained by an acceptance the process never
learned. The figures are printed (`pytest -s`); `lifecycle faults` prints the same."""

from __future__ import annotations

import pytest

from lifecycle.local import faults


def _check(report: faults.Report) -> None:
    for line in report.lines():
        print(line)
    assert report.expected > 0
    assert report.lost == []
    assert report.unexpected == []
    assert report.unexplained == {}
    assert report.tally.killed_at_timeout == 0
    assert report.sent == report.expected
    assert report.ok


def test_a_small_workload_under_faults_loses_nothing() -> None:
    report = faults.run(customers=3, rate=0.15, seed=3)

    _check(report)
    assert report.faults >= 30


@pytest.mark.slow
def test_a_thousand_faults_of_every_kind_lose_nothing_and_explain_every_duplicate() -> None:
    report = faults.run(customers=60, rate=0.1, seed=7)

    _check(report)
    assert report.faults >= 1000
    every_kind = {*faults.PRE_CALL, *faults.POST_ACCEPT, *faults.DELIVERY}
    assert set(report.tally.faults) == every_kind
    assert sum(report.duplicated.values()) > 0  # the accepted-but-unknown paths did happen
