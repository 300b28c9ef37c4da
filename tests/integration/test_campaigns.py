"""A campaign over moto, from its schedule to each recipient's mailbox: the planner's audience,
the senders through the one message path, the dry run's counts, pause, resume and cancel, and
redelivered pages that send nobody twice."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine

from lifecycle.local.stack import LocalContext
from lifecycle.messaging.message import Channel
from lifecycle.privacy import address_hash
from lifecycle.stages.announcements import journey, sender
from lifecycle.stages.announcements.planner import start_schedule_name
from tests.conftest import PARAMETERS, Aws
from tests.integration.campaign_helpers import (
    GREETING,
    campaign,
    control,
    fire,
    put_customer,
    put_profile,
    schedules,
    templates_with_campaign,
    use_templates,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOCALES = ("en", "nl", "tr", "zh-TW")
HOLDOUT_KEY = PARAMETERS.get("HoldoutKey", "lifecycle-holdout-1").encode()


@pytest.fixture
def stack(aws: Aws, tmp_path: Path) -> Aws:
    use_templates(aws, templates_with_campaign(tmp_path))
    for name in ("CampaignPlannerFunction", "CampaignSenderFunction"):
        aws.stack.overrides.setdefault(name, {})["CAMPAIGN_SEND_RATE"] = "2000"
    return aws


def _base(n: int = 300) -> dict[str, str]:
    """`n` customers, each with what should become of them: "sent", or the reason they are
    skipped or left out."""
    expected: dict[str, str] = {}
    suppressions = boto3.client("dynamodb")
    for i in range(n):
        cid = f"c-{i:04d}"
        locale = LOCALES[i % 4]
        consent = {"email_marketing": i % 7 != 0}
        values = {
            "email": f"{cid}@example.com",
            "locale": locale,
            "consent": consent,
            "city": "Utrecht" if i % 10 == 9 else "Amsterdam",
        }
        put_customer(cid, first_name=f"N{i}", **values)
        if i % 5 == 1:
            put_profile(cid, "active", 3, "2026-02-20T10:00:00+00:00")
        if i % 10 == 9:
            expected[cid] = "outside: city"
        elif not consent["email_marketing"]:
            expected[cid] = "no consent: email_marketing"
        elif i % 11 == 3:
            suppressions.put_item(
                TableName="SuppressionsTable",
                Item={
                    "address_hash": {"S": address_hash(Channel.EMAIL, f"{cid}@example.com")},
                    "channel": {"S": "email"},
                    "reason": {"S": "hard bounce"},
                },
            )
            expected[cid] = "suppressed: hard bounce"
        elif i % 13 == 5:
            boto3.client("dynamodb").put_item(
                TableName="PreferencesTable",
                Item={
                    "customer_id": {"S": cid},
                    "entry": {"S": "state"},
                    "opt_outs": {"SS": ["email:announcements"]},
                    "version": {"N": "1"},
                },
            )
            expected[cid] = "unsubscribed: announcements by email"
        else:
            expected[cid] = "sent"
    return expected


def test_a_campaign_reaches_exactly_the_eligible_once_in_their_locale(stack: Aws) -> None:
    # given a few hundred customers and prospects, some without consent, some suppressed,
    # some who left the announcements topic, some outside the audience's city
    expected = _base(300)
    chosen = campaign(audience={"attributes": {"city": ["Amsterdam"]}})
    campaigns = control(stack)

    # when it is dry-run, then scheduled and its schedule fires
    with time_machine.travel(NOW, tick=False):
        dry = campaigns.dry_run(chosen)
        campaigns.schedule(chosen)
    fire(stack, start_schedule_name(chosen.id))

    # then each eligible customer got it once, in their own locale, and nobody else did
    emails = stack.emails()
    sent_to = Counter(email.to for email in emails)
    eligible = {f"{c}@example.com" for c, what in expected.items() if what == "sent"}
    assert set(sent_to) == eligible
    assert max(sent_to.values()) == 1
    for email in emails:
        number = int(email.to[2:6])
        locale = LOCALES[number % 4]
        assert email.subject.startswith(f"{GREETING[locale]} N{number} ")
        assert f"[{locale}]" in email.part("plain")
        assert "List-Unsubscribe" in email.mime
    # and the ineligible are recorded with their reason
    for cid, what in expected.items():
        row = stack.ledger(journey.key(chosen.id, cid))
        if what == "sent":
            assert row is not None
            assert row["status"] == "sent"
            assert row["campaign"] == chosen.id
        elif what.startswith("outside"):
            assert row is None
        else:
            assert row is not None, cid
            assert row["status"] == "skipped", cid
            assert what in row["reason"], (cid, row["reason"])
    # and the dry run's counts are what happened
    status = campaigns.status(chosen.id)
    skipped = sum(status.tally.skipped.values())
    assert dry.would_send == status.tally.sent == len(eligible)
    assert sum(dry.skipped.values()) == skipped
    assert dry.audience == status.tally.sent + skipped + status.tally.failed
    assert status.remaining == 0
    assert status.plan.outside == Counter({"city not in the audience": 30})
    audience = [int(c[2:]) for c, what in expected.items() if not what.startswith("outside")]
    assert dry.locales == Counter(LOCALES[n % 4] for n in audience)


def test_a_redelivered_page_sends_nobody_twice(stack: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    _base(120)
    chosen = campaign()
    campaigns = control(stack)
    with time_machine.travel(NOW, tick=False):
        campaigns.schedule(chosen)
    # given every page the senders took, kept as a sender that died would leave it to come
    # back
    delivered: list[str] = []

    def keeping(event: dict[str, Any], context: object) -> object:
        delivered.extend(record["body"] for record in event["Records"])
        return handler(event, context)

    handler = sender.handler
    monkeypatch.setattr(sender, "handler", keeping)
    fire(stack, start_schedule_name(chosen.id))
    first = len(stack.emails())
    before = campaigns.status(chosen.id).tally

    # when every page is delivered again
    sqs = boto3.client("sqs")
    queue = stack.stack.queue_url("CampaignSendQueue")
    for body in delivered:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    with time_machine.travel(datetime(2026, 3, 2, 9, 30, tzinfo=UTC), tick=True):
        stack.stack.drain_queues(LocalContext.for_function)

    # then nobody got a second email, and the tallies count each recipient once
    assert first > 70
    assert len(stack.emails()) == first == len({email.to for email in stack.emails()})
    after = campaigns.status(chosen.id)
    assert after.tally.sent == before.sent == first
    assert after.tally.skipped == before.skipped
    assert after.remaining == 0


def test_cancel_while_sending_stops_within_one_page(
    stack: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    _base(300)
    chosen = campaign()
    campaigns = control(stack)
    with time_machine.travel(NOW, tick=False):
        campaigns.schedule(chosen)
    # given the campaign is cancelled as soon as the first sender has done its page
    pages: list[int] = []

    def cancel_after_first_page(event: dict[str, Any], context: object) -> object:
        result = handler(event, context)
        pages.append(len(json.loads(event["Records"][0]["body"])["customers"]))
        if len(pages) == 1:
            campaigns.cancel(chosen.id)
        return result

    handler = sender.handler
    monkeypatch.setattr(sender, "handler", cancel_after_first_page)
    fire(stack, start_schedule_name(chosen.id))

    # then the other pages went to nobody, and are counted as cancelled
    status = campaigns.status(chosen.id)
    assert status.status == "cancelled"
    assert len(pages) > 1
    assert 0 < status.tally.sent <= pages[0]
    assert len(stack.emails()) == status.tally.sent
    assert status.tally.cancelled == 300 - pages[0] == sum(pages[1:])
    assert status.remaining == 0


ZONES = {
    "Europe/Amsterdam": "2026-03-29T08:00:00+00:00",  # its clocks go forward that night
    "Europe/London": "2026-03-29T09:00:00+00:00",
    "America/New_York": "2026-03-29T14:00:00+00:00",
    "Asia/Taipei": "2026-03-29T02:00:00+00:00",
    "Australia/Sydney": "2026-03-28T23:00:00+00:00",
}


def test_local_time_sends_each_recipient_at_their_hour_with_one_schedule_per_instant(
    stack: Aws,
) -> None:
    # given customers in five zones, twelve each, and a campaign at 10:00 local time on the
    # day Europe's clocks go forward
    zone_of: dict[str, str] = {}
    for z, zone in enumerate(ZONES):
        for n in range(12):
            cid = f"z{z}-{n:02d}"
            zone_of[cid] = zone
            put_customer(
                cid,
                email=f"{cid}@example.com",
                locale="en",
                timezone=zone,
                consent={"email_marketing": True},
            )
    chosen = campaign(send={"date": "2026-03-29", "local_time": "10:00"})
    campaigns = control(stack)
    with time_machine.travel(datetime(2026, 3, 20, tzinfo=UTC), tick=False):
        start = campaigns.schedule(chosen)
    assert start < min(datetime.fromisoformat(i) for i in ZONES.values())

    # when planning starts: one schedule per distinct instant, none per recipient
    fire(stack, start_schedule_name(chosen.id))
    releases = schedules()
    assert len(releases) == len(set(ZONES.values())) == 5
    assert stack.emails() == []

    # and each instant's schedule fires in its turn
    for name in sorted(releases, key=lambda n: n.rsplit("-", 1)[1]):
        fire(stack, name)

    # then each recipient got it once, at 10:00 on their own clock
    emails = Counter(email.to for email in stack.emails())
    assert emails == Counter({f"{cid}@example.com": 1 for cid in zone_of})
    for cid, zone in zone_of.items():
        row = stack.ledger(journey.key(chosen.id, cid))
        assert row is not None
        assert row["status"] == "sent"
        sent_at = datetime.fromisoformat(row["updated_at"])
        assert abs((sent_at - datetime.fromisoformat(ZONES[zone])).total_seconds()) < 60, cid
    status = campaigns.status(chosen.id)
    assert status.planned == status.tally.sent == 60
    assert status.remaining == 0
    assert status.shown_status == "done"


def test_a_sender_killed_mid_page_and_its_page_redelivered_sends_nobody_twice(
    stack: Aws,
) -> None:
    # given a campaign whose sender dies at its 30th send (the connection drops before SES
    # has the message: the claim stays, in doubt, for its lease)
    expected = _base(100)
    chosen = campaign()
    campaigns = control(stack)
    with time_machine.travel(NOW, tick=False):
        campaigns.schedule(chosen)
    seen: list[int] = []

    def thirtieth(_: dict[str, Any]) -> bool:
        seen.append(1)
        return len(seen) == 30

    stack.fail_calls("sesv2", "SendEmail", lambda: ConnectionResetError("killed"), thirtieth)
    fire(stack, start_schedule_name(chosen.id))
    before = len(stack.emails())
    assert 0 < before < len(expected)

    # when the queue hands the page back after its visibility timeout, to a new sender
    with time_machine.travel(datetime(2026, 3, 2, 9, 20, tzinfo=UTC), tick=True):
        stack.stack.drain_queues(LocalContext.for_function)

    # then everyone was sent it once: the ones sent before the crash are not sent again
    emails = Counter(email.to for email in stack.emails())
    assert max(emails.values()) == 1
    status = campaigns.status(chosen.id)
    assert status.tally.sent == len(emails) > before
    assert status.tally.sent + sum(status.tally.skipped.values()) == len(expected)
    assert status.remaining == 0


def test_pause_parks_the_pages_and_resume_sends_them_on_once(
    stack: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    _base(300)
    chosen = campaign()
    campaigns = control(stack)
    with time_machine.travel(NOW, tick=False):
        campaigns.schedule(chosen)
    # given the campaign is paused as soon as the first sender has done its page
    pages: list[int] = []

    def pause_after_first_page(event: dict[str, Any], context: object) -> object:
        result = handler(event, context)
        pages.append(1)
        if len(pages) == 1:
            campaigns.pause(chosen.id)
        return result

    handler = sender.handler
    monkeypatch.setattr(sender, "handler", pause_after_first_page)
    fire(stack, start_schedule_name(chosen.id))
    paused = campaigns.status(chosen.id)
    assert paused.status == "paused"
    assert paused.remaining > 0
    first = len(stack.emails())
    assert first == paused.tally.sent

    # when it is resumed, the parked pages go out, and nobody gets it twice
    assert campaigns.resume(chosen.id) == paused.remaining
    with time_machine.travel(datetime(2026, 3, 2, 10, tzinfo=UTC), tick=True):
        stack.stack.drain_queues(LocalContext.for_function)
    done = campaigns.status(chosen.id)
    emails = Counter(email.to for email in stack.emails())
    assert max(emails.values()) == 1
    assert done.remaining == 0
    assert done.shown_status == "done"
    assert done.tally.sent == len(emails) > first
