"""`lifecycle bench-campaign` at a tiny size: the figures it prints add up."""

from __future__ import annotations

import io

from lifecycle.local import bench_campaign


def test_the_campaign_benchmark_sends_each_eligible_recipient_once_and_counts_its_calls() -> None:
    # given a small base and an SES far above the campaign's needs
    out = io.StringIO()

    # when the benchmark runs
    figures = bench_campaign.run(
        150,
        ses_rate=2000,
        latency=(0.001, 0.002),
        welcome_rate=5,
        welcome_baseline=3,
        out=out,
        progress=None,
    )

    # then every eligible recipient not held out got exactly one email, nobody was throttled
    assert figures.sent_once
    assert figures.sent == figures.expected == figures.tally["sent"] > 100
    assert sum(figures.throttles.values()) == 0
    assert figures.left == 0
    assert figures.sender_errors == 0
    assert figures.tally["remaining"] == 0
    # and the planner's recipients are every customer in the audience
    assert figures.planned + figures.outside == 150
    # and calls per recipient are the counted calls over the recipients planned
    total = sum(figures.calls.made.values())
    assert total == sum(sum(c.values()) for c in figures.calls.by_role.values())
    assert figures.per_recipient(total) == total / figures.planned
    assert figures.calls.made[("sesv2", "SendEmail")] == figures.sent
    assert ("sqs", "ReceiveMessage") not in figures.calls.made
    # and welcome mail went beside the campaign, unthrottled
    assert figures.welcome_during
    assert figures.welcome_sent >= len(figures.welcome_during)
    printed = out.getvalue()
    assert f"AWS calls per recipient              {figures.per_recipient(total):>9.2f}" in printed
    assert "every eligible recipient sent once         yes" in printed
