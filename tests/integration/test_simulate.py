"""`lifecycle simulate`: the sample world over moto, wired from the template alone."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import boto3
import pytest

import lifecycle.local.simulate as simulation
from lifecycle.adapters.preferences import DynamoPreferences
from lifecycle.adapters.suppressions import DynamoSuppressions
from lifecycle.local.simulate import simulate
from lifecycle.local.stack import TEMPLATE, load_template
from lifecycle.messaging.message import Channel
from tests import probe_handler
from tests.conftest import ROOT


def test_thirty_days_print_a_timeline_and_kpis(tmp_path: Path) -> None:
    out, progress = io.StringIO(), io.StringIO()

    report = simulate(days=30, out_dir=tmp_path, out=out, progress=progress)

    text = out.getvalue()
    assert "WelcomeFunction <- CustomersTable stream [{'eventName': ['INSERT']}]" in text
    assert "OrdersFunction <- OrdersTable stream" in text
    assert "DeferredSendFunction <- one-time schedules (DEFERRED_SEND_FUNCTION_ARN)" in text
    assert "ReminderFunction <- one-time schedules (REMINDER_FUNCTION_ARN)" in text
    assert "order     email SENT     c-1001 Ann  a***@example.com" in text
    assert "o-1001-01 order_picked_up" in text  # the status update, by SMS
    # the pickup reminder, due two hours before the 09:00 pickup on day 2, falls in Ann's
    # quiet hours: deferred at 07:00 her time, sent at 08:00, still before the pickup
    assert (
        "07:00  order     sms   DEFERRED c-1001 Ann  o-1001-01 pickup_reminder  quiet hours "
        "until 08:00 Europe/London (time zone from: customer)  -> goes Thu 08:00 UTC" in text
    )
    assert (
        "08:00  order     sms   SENT     c-1001 Ann  +44********56  o-1001-01 pickup_reminder"
        "  (deferred at Thu 07:00)" in text
    )
    # and the same for Sanne, an hour earlier in UTC: the timeline stays in UTC
    assert (
        "07:00  order     sms   SENT     c-1002 Sanne  +31*******78  o-1002-01 pickup_reminder"
        "  (deferred at Sat 06:00)" in text
    )
    assert "still waiting at the end" in text
    assert "Day   0  Tue 2026-12-01" in text
    assert 'welcome   email SENT     c-1002 Sanne  s***@example.nl "Welkom bij' in text
    assert "welcome   sms   SKIPPED  c-1004 Elif  no consent: sms_transactional" in text
    assert "welcome   -     REJECTED c-1006 Joost  email: not a valid email address" in text
    assert (
        "ses       BOUNCE    c-1007 Mehmet  permanent bounce on the welcome email "
        "-> SesFeedbackFunction" in text
    )
    assert (
        "SesFeedbackFunction <- SES events (send, delivery, bounce, complaint, click) via "
        "SesEventsTopic" in text
    )
    # order to feedback: the request a day after delivery, a tap, the complaint it raises
    assert 'feedback  email SENT     c-1004 Elif  e***@example.com.tr "Elif, o-1004-01' in text
    assert "rating    c-1004 Elif taps 1/5 in the feedback email -> RatingsFunction: 200" in text
    assert "ops       ALERT to staff: Complaint: order o-1004-01 rated 1/5" in text
    assert "RatingsFunction <- Function URL (rating links)" in text
    assert "KPI summary, 30 days" in text
    # lifecycle stages: an order moves a customer, and the morning run finds one overdue
    assert "stage     c-1001 Ann  prospect -> new: order o-1001-01 placed" in text
    assert "DailyStagesFunction <- ScheduleV2 cron(0 5 * * ? *)" in text
    assert report.stages is not None
    assert sum(report.stages.values()) == len(report.customers)
    counts = ", ".join(f"{stage} {report.stages[stage]}" for stage in ("prospect", "new"))
    assert f"customers per stage     {counts}" in text
    assert f"stage changes           {report.stage_changes:>6}" in text
    assert report.stage_changes == text.count("  stage     ")
    assert report.ratings  # read back from the Ratings table
    assert f"({len(report.ratings)} rated of " in text
    assert "average rating" in text
    assert "bounce rate" in text
    assert "lifetime value" in text
    assert "simulating: day 30/30" in progress.getvalue()
    # addresses never appear unmasked
    assert "sanne.devries@example.nl" not in text
    assert "+31612345678" not in text
    # the figures agree with the ledger the handler wrote
    sent = report.sent()
    emails = [r for r in sent if r["channel"] == "email"]
    assert len(emails) == sum(1 for r in sent if r["channel"] == "email")
    assert (tmp_path / "emails" / "index.html").is_file()
    # every email the ledger calls sent was written out, plus the index
    assert len(list((tmp_path / "emails").glob("*.html"))) == len(emails) + 1
    assert "_aws" not in text  # metrics go to the log file, not the report


@pytest.fixture
def template_with_probe(tmp_path: Path) -> Iterator[Path]:
    """infra/template.yaml plus one function with a schedule and an Orders stream event."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text += """
  ProbeFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.probe_handler.handler
      Role: !GetAtt WelcomeRole.Arn
      Environment:
        Variables:
          SELF_ARN: !GetAtt ProbeFunction.Arn
      Events:
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 3 * * ? *)
            ScheduleExpressionTimezone: Europe/Amsterdam
        OrderChanged:
          Type: DynamoDB
          Properties:
            Stream: !GetAtt OrdersTable.StreamArn
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
"""
    # Outputs follow Resources in the file: move them behind the new function.
    head, outputs = text.split("\nOutputs:\n", 1)
    resources_end = outputs.index("\n  ProbeFunction:")
    probe = outputs[resources_end:]
    text = head + probe + "\nOutputs:\n" + outputs[:resources_end]
    infra = tmp_path / "infra"
    infra.mkdir()
    (tmp_path / "templates").symlink_to(ROOT / "templates")
    (infra / "template.yaml").write_text(text, encoding="utf-8")
    assert "ProbeFunction" in load_template(infra / "template.yaml")["Resources"]
    probe_handler.received.clear()
    yield infra / "template.yaml"
    probe_handler.received.clear()
    os.environ.pop("SELF_ARN", None)


def test_a_new_function_in_the_template_is_routed_without_other_changes(
    template_with_probe: Path, tmp_path: Path
) -> None:
    out = io.StringIO()

    simulate(
        days=10, template=template_with_probe, out_dir=tmp_path / "out", out=out, progress=None
    )

    events = probe_handler.received
    scheduled = [e for e in events if e.get("detail-type") == "Scheduled Event"]
    streamed = [r for e in events for r in e.get("Records", [])]
    one_time = [e for e in events if e.get("kind") == "one-time"]
    assert len(scheduled) == 10  # 03:00 Amsterdam on each of the 10 days
    assert {r["eventSourceARN"].split("/")[1] for r in streamed} == {"OrdersTable"}
    assert {r["eventName"] for r in streamed} == {"INSERT", "MODIFY"}
    assert len(one_time) == 1  # the schedule it created fired once, then was deleted
    assert "ProbeFunction <- ScheduleV2 cron(0 3 * * ? *)" in out.getvalue()
    assert "ProbeFunction <- OrdersTable stream" in out.getvalue()


def test_simulated_feedback_reaches_the_products_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bouncing mailbox is suppressed, the complainer and the one-click customer have left
    # marketing, all through the template's own functions: read just before moto is torn down
    seen: dict[str, object] = {}
    original = simulation.print_report

    def capture(report: simulation.Report, out: TextIO) -> None:
        client = boto3.client("dynamodb")
        seen["bounce"] = DynamoSuppressions(client, "SuppressionsTable").reason_for(
            Channel.EMAIL, "mehmet.kaya@bounce.example.com"
        )
        prefs = DynamoPreferences(client, "PreferencesTable")
        seen["one-click"] = prefs.get("c-1003").opt_outs
        seen["complaint"] = prefs.get("c-1010").opt_outs
        original(report, out)

    monkeypatch.setattr(simulation, "print_report", capture)

    simulate(days=60, out_dir=tmp_path, out=io.StringIO(), progress=None)

    assert str(seen["bounce"]).startswith("permanent bounce")
    assert seen["one-click"] == {"email:offers"}
    assert seen["complaint"] == {"email:*", "sms:*"}


# The win-back story on a short clock: at risk 3 days after the last order's delivery, the
# reminder, offer and last chance 0, 4 and 8 days after that (two a week: within the marketing
# cap), dormant after 12 days; an order within 3 days of a message is attributed to it.
SHORT_RETENTION = {
    "AtRiskFloorDays": "3",
    "WinbackStepDays": "0,4,8",
    "DormantDays": "12",
    "PromoCodeValidDays": "10",
    "AttributionWindowDays": "3",
}


def _lapsing_world(tmp_path: Path) -> Path:
    """The sample world's catalogue and one customer, who orders once and comes back 13 days
    after its delivery with the code from her win-back email."""
    lotte = [
        {
            "customer_id": "c-2001",
            "first_name": "Lotte",
            "email": "lotte@example.nl",
            "locale": "nl",
            "timezone": "Europe/Amsterdam",
            "consent": {"email_marketing": True},
            "signup_day": 0,
            "first_order_day": 0,
            "orders_every_days": 7,
            "stops_ordering_after_day": 1,
            "returns_after_idle_days": 13,
            "returns_with_code": True,
        }
    ]
    return _world_file(tmp_path, customers=lotte)


def _world_file(tmp_path: Path, **changes: object) -> Path:
    """The sample world (its catalogue, currency, start) with these keys replaced, as a file."""
    world = {**json.loads(simulation.WORLD.read_text(encoding="utf-8")), **changes}
    path = tmp_path / "world.json"
    path.write_text(json.dumps(world), encoding="utf-8")
    return path


def test_a_lapsed_customer_gets_the_win_back_sequence_and_comes_back_with_its_code(
    tmp_path: Path,
) -> None:
    out = io.StringIO()

    report = simulate(
        days=17,
        world_path=_lapsing_world(tmp_path),
        parameters=SHORT_RETENTION,
        out_dir=tmp_path / "out",
        out=out,
        progress=None,
    )

    text = out.getvalue()
    # delivered on day 2: at risk on day 5 (the reminder), the offer with its code on day 9,
    # the last chance repeating it on day 13, dormant on day 14
    winback = sorted(
        key
        for key, row in report.ledger.items()
        if key.startswith("winback#c-2001#") and row["status"] == "sent"
    )
    assert [key.rsplit("#", 1)[1] for key in winback] == ["0", "1", "2"]
    code = re.search(r"winback_offer, code (\S+)", text)
    assert code, text
    assert f"winback_last_chance, code {code[1]}" in text
    assert "stage     c-2001 Lotte  new -> at_risk: no order for 3 days" in text
    assert "stage     c-2001 Lotte  at_risk -> dormant: no order for 12 days" in text
    # day 15: her order carries the code from the offer, which it redeems, and wins her back
    assert re.search(
        rf"order     o-2001-02 placed by c-2001 Lotte: .*; promo code {code[1]} from the "
        r"winback_offer email of day 9\n",
        text,
    )
    assert f"promo     c-2001 Lotte  code {code[1]} REDEEMED on o-2001-02" in text
    assert (
        "stage     c-2001 Lotte  dormant -> won_back: order o-2001-02 after win-back message "
        f"{winback[2]}" in text
    )
    assert report.codes_redeemed == 1
    assert report.stages is not None
    assert report.stages["won_back"] == 1
    # the retention report closes the output, as of the simulation's end, with the stack's
    # attribution window: each step sent once, the order attributed to the last chance
    assert report.retention is not None
    retention = text[text.index("Retention report (all time; as of 2026-12-18 00:00 UTC") :]
    assert "an order within 3 days of a message" in retention
    rows = {line[2:28].strip(): line[28:].split()[:3] for line in retention.splitlines()[2:7]}
    assert rows["win-back 1: reminder"] == ["1", "1", "0"]  # treated, sent, orders
    assert rows["win-back 2: offer"] == ["1", "1", "0"]
    assert rows["win-back 3: last chance"] == ["1", "1", "1"]


def _campaign_world(tmp_path: Path) -> Path:
    """The sample world's catalogue and campaign, sent on day 2 (scheduled on day 1), to a few
    customers in four time zones: two who order (one of them by SMS only), three prospects.
    Their ids draw both variants and the holdout (the draws are keyed: the same every run)."""
    launch = {
        "file": "campaigns/eco-wash-launch.yaml",
        "day": 2,
        "scheduled_on_day": 1,
        "scheduled_at": "11:00",
    }

    def person(cid: str, name: str, locale: str, zone: str, **more: object) -> dict[str, object]:
        address = {"email": f"{name.lower()}@example.com"} if "phone" not in more else {}
        return {
            "customer_id": cid,
            "first_name": name,
            "locale": locale,
            "timezone": zone,
            "consent": {"email_marketing": True},
            "signup_day": 0,
            **address,
            **more,
        }

    sms_only = {"phone": "+886923456789", "consent": {"sms_marketing": True}}
    customers = [
        person("c-1001", "Ann", "en-GB", "Europe/London", first_order_day=0, orders_every_days=30),
        person("c-1003", "Mei", "zh-TW", "Asia/Taipei", **sms_only),  # variant A, a prospect
        person("c-1002", "Sanne", "nl-NL", "Europe/Amsterdam"),  # variant B, a prospect
        person("c-1005", "Olivia", "en-US", "America/Los_Angeles"),  # variant B, a prospect
        person("c-1008", "Lotte", "nl", "Europe/Amsterdam", first_order_day=0),  # held out
    ]
    return _world_file(tmp_path, customers=customers, campaigns=[launch])


def test_a_scheduled_campaign_reaches_customers_and_prospects_at_their_local_ten(
    tmp_path: Path,
) -> None:
    out = io.StringIO()

    report = simulate(
        days=4,
        world_path=_campaign_world(tmp_path),
        out_dir=tmp_path / "out",
        out=out,
        progress=None,
    )

    text = out.getvalue()
    # the marketer schedules it on day 1; its start schedule plans everyone before 10:00
    # reaches UTC+14, and one release schedule per local-time instant fires at its time
    assert (
        'campaign  eco-wash-launch scheduled (campaigns/eco-wash-launch.yaml): "Eco wash '
        'launch", 10:00 local time on 2026-12-03' in text
    )
    assert "A/B test: A 50% campaign_eco_wash, B 50% campaign_eco_wash_b; 10% held out" in text
    assert "19:30  campaign  eco-wash-launch  planned 5 in the audience" in text
    assert "a release schedule per local-time instant: Thu 02:00, 09:00, 10:00, 18:00 UTC" in text
    sent = {
        key.rsplit("#", 1)[1]: row
        for key, row in report.ledger.items()
        if row.get("campaign") == "eco-wash-launch" and row["status"] == "sent"
    }
    # each recipient once, by the first channel that reaches them, at 10:00 their time
    lines = [line for line in text.splitlines() if re.match(r"  \d\d:\d\d  announcement ", line)]
    assert len(lines) == len(sent) == 4
    assert sorted(sent) == ["c-1001", "c-1002", "c-1003", "c-1005"]
    assert {cid: row["sequence"] for cid, row in sent.items()} == {
        "c-1001": "A",
        "c-1003": "A",
        "c-1002": "B",
        "c-1005": "B",
    }
    assert {cid: row["channel"] for cid, row in sent.items() if row["channel"] != "email"} == {
        "c-1003": "sms"
    }
    assert re.search(
        r"02:00  announcement sms   SENT     c-1003 Mei  \+88\*+89  eco-wash-launch variant A, "
        r"campaign_eco_wash, prospect\n",
        text,
    )
    assert re.search(
        r'18:00  announcement email SENT     c-1005 Olivia  o\*+@example.com "[^"]+"  '
        r"eco-wash-launch variant B, campaign_eco_wash_b, prospect\n",
        text,
    )
    assert re.search(
        r"10:00  announcement email SENT     c-1001 Ann .*variant A, campaign_eco_wash\n", text
    )
    # the holdout is recorded (Lotte: nothing sent), and so are the prospects reached
    assert "09:00  campaign  eco-wash-launch  1 sent, 1 held out; 2 still waiting" in text
    assert not any(key.endswith("#c-1008") for key in report.ledger)
    (outcome,) = report.campaigns
    assert outcome.status.tally.held_out == 1
    assert outcome.status.tally.sent == 4
    assert outcome.prospects_reached == {"c-1002", "c-1003", "c-1005"}
    # the end of the output: the campaign's status, the sends per variant, holdout, prospects
    summary = text[text.index('Campaign eco-wash-launch "Eco wash launch"') :]
    assert "  campaign eco-wash-launch: done\n" in summary
    assert "    held out    1\n" in summary
    assert "  in the audience             5  (4 sent, 1 held out, 0 skipped" in summary
    assert "    A                         1      1      2  campaign_eco_wash\n" in summary
    assert "    B                         2      0      2  campaign_eco_wash_b\n" in summary
    assert "    holdout                                 1  (sent nothing" in summary
    assert "  prospects reached           3  of 4 sent" in summary
    assert summary.index("prospects reached") < summary.index("Retention report")


@pytest.mark.slow
def test_make_demo_tells_the_win_back_story_and_prints_the_retention_report(
    tmp_path: Path,
) -> None:
    out = io.StringIO()

    # what `make demo` runs (`lifecycle simulate`: the sample world over 120 days, minutes)
    report = simulate(out_dir=tmp_path, out=out, progress=None)

    text = out.getvalue()
    # Lotte (c-1008) orders weekly until day 45, then drifts: at risk 21 days after her last
    # delivery, the win-back reminder, offer and last chance, dormant after 60 days ...
    winback = sorted(
        key
        for key, row in report.ledger.items()
        if key.startswith("winback#c-1008#") and row["status"] == "sent"
    )
    assert len({key.split("#")[2] for key in winback}) == 1  # one lapse, one sequence
    assert [key.rsplit("#", 1)[1] for key in winback] == ["0", "1", "2"]
    code = re.search(r"c-1008 Lotte  \S+ \"[^\"]+\"  winback_offer, code (\S+)", text)
    assert code, "no win-back offer with a code for c-1008"
    story = [
        "stage     c-1008 Lotte  active -> at_risk: no order for 21 days",
        f"winback_offer, code {code[1]}",
        f"winback_last_chance, code {code[1]}",
        "stage     c-1008 Lotte  at_risk -> dormant: no order for 60 days",
        f"; promo code {code[1]} from the winback_offer email",
    ]
    positions = [text.find(line) for line in story]
    assert -1 not in positions, story[positions.index(-1)]
    assert positions == sorted(positions)
    # ... and comes back with the offer's code two days after turning dormant: redeemed, won back
    back = re.search(
        rf"order     (o-1008-\d+) placed by c-1008 Lotte: .*; promo code {code[1]} from the "
        r"winback_offer email of day \d+\n.*promo     c-1008 Lotte  code \S+ REDEEMED on \1",
        text,
    )
    assert back, "c-1008's order with the code, redeemed, not found"
    assert (
        f"stage     c-1008 Lotte  dormant -> won_back: order {back[1]} after win-back message "
        f"{winback[2]}" in text
    )
    assert report.codes_redeemed == 1
    assert report.stages is not None
    assert report.stages["won_back"] >= 1
    # the eco wash launch: scheduled on day 35, planned the evening before day 42, released at
    # 10:00 in each recipient's time zone, once per recipient, both variants, prospects too
    launch = [
        "campaign  eco-wash-launch scheduled (campaigns/eco-wash-launch.yaml)",
        "Day  41  Mon 2027-01-11",
        "19:30  campaign  eco-wash-launch  planned 12 in the audience",
        "a release schedule per local-time instant: Tue 02:00, 07:00, 09:00, 10:00, 18:00 UTC",
        "Day  42  Tue 2027-01-12",
        "02:00  announcement sms   SENT     c-1016 俊傑  +88********89  eco-wash-launch variant "
        "A, campaign_eco_wash, prospect",
        "07:00  announcement email SENT     c-1018 Zeynep",
        "10:00  announcement email SENT     c-1001 Ann",
        "18:00  announcement email SENT     c-1015 Olivia",
    ]
    positions = [text.find(line) for line in launch]
    assert -1 not in positions, launch[positions.index(-1)]
    assert positions == sorted(positions)
    sent = [r for r in report.sent() if r.get("campaign") == "eco-wash-launch"]
    assert len(sent) == len({r["customer_id"] for r in sent}) == 6
    assert {r["sequence"] for r in sent} == {"A", "B"}
    (outcome,) = report.campaigns
    assert outcome.status.tally.held_out == 2
    assert outcome.prospects_reached == {"c-1015", "c-1016", "c-1018"}
    campaign = text[text.index('Campaign eco-wash-launch "Eco wash launch"') :]
    assert "    held out    2\n" in campaign
    assert "  prospects reached           3  of 6 sent" in campaign
    # the retention report ends the output (before where the emails were written)
    assert report.retention is not None
    retention = text[text.index("Retention report (all time; as of 2027-03-31 00:00 UTC") :]
    assert "an order within 14 days of a message" in retention
    rows = {line[2:28].strip(): line[28:].split()[:3] for line in retention.splitlines()[2:7]}
    assert set(rows) >= {"win-back 1: reminder", "win-back 2: offer", "win-back 3: last chance"}
    _, sent, orders = (int(n) for n in rows["win-back 3: last chance"])
    assert sent >= 1
    assert orders >= 1  # Lotte's order came within 14 days of the last chance
    assert text.rstrip().splitlines()[-1].startswith("Rendered emails: ")
