"""A campaign file's model (`campaign.parse`): every problem named at its field, and when a
local-time campaign reaches each time zone, clock changes included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.messaging.message import Channel
from lifecycle.stages.announcements.campaign import CampaignError, Send, parse

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SOURCE = "campaigns/eco-wash-launch.yaml"


def campaign(**changes: Any) -> dict[str, Any]:
    """A valid campaign's fields, with `changes` (None removes a field)."""
    fields: dict[str, Any] = {
        "id": "eco-wash-launch",
        "name": "Eco wash launch",
        "channels": ["email", "sms"],
        "audience": {"stages": ["prospect", "active"]},
        "send": {"date": "2026-05-20", "local_time": "10:00"},
        "message": {"template": "campaign_eco_wash", "link": "https://freshfold.example/eco"},
        "variants": [
            {"name": "A", "share": 0.5},
            {"name": "B", "share": 0.5, "template": "campaign_eco_wash_b"},
        ],
        "holdout": 0.1,
    }
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


def problems(data: Any) -> list[str]:
    with pytest.raises(CampaignError) as raised:
        parse(data, source=SOURCE)
    return str(raised.value).splitlines()


def test_a_valid_campaign_is_read_with_its_variants_templates() -> None:
    parsed = parse(campaign(), source=SOURCE)

    assert parsed.channels == (Channel.EMAIL, Channel.SMS)
    assert parsed.send.local
    assert parsed.templates() == {"A": "campaign_eco_wash", "B": "campaign_eco_wash_b"}


def test_every_missing_field_is_named_at_once() -> None:
    found = problems({"id": "eco-wash-launch"})

    assert found == [
        f"{SOURCE}: name: missing",
        f"{SOURCE}: send: missing",
        f"{SOURCE}: message: missing",
    ]


def test_a_typo_is_not_a_campaign_field_wherever_it_is() -> None:
    found = problems(campaign(holdot=0.1, audience={"stage": ["active"]}))

    assert f"{SOURCE}: holdot: not a campaign field (a typo?)" in found
    assert f"{SOURCE}: audience.stage: not a campaign field (a typo?)" in found


def test_an_unknown_stage_channel_or_link_is_named_by_its_place() -> None:
    found = problems(
        campaign(
            channels=["email", "fax"],
            audience={"stages": ["loyal", "vip"]},
            message={"template": "campaign_eco_wash", "link": "http://freshfold.example/eco"},
        )
    )

    assert any(line.startswith(f"{SOURCE}: channels.1: ") for line in found)
    assert any(line.startswith(f"{SOURCE}: audience.stages.1: ") for line in found)
    assert any(line.startswith(f"{SOURCE}: message.link: ") for line in found)


def test_shares_that_do_not_add_up_to_one() -> None:
    found = problems(campaign(variants=[{"name": "A", "share": 0.5}, {"name": "B", "share": 0.6}]))

    assert found == [f"{SOURCE}: campaign: variants: shares add up to 1.1, not 1"]


def test_one_variant_or_two_of_the_same_name_is_no_split() -> None:
    assert problems(campaign(variants=[{"name": "A", "share": 1}])) == [
        f"{SOURCE}: campaign: variants: give 2 to 5, or none"
    ]
    same = [{"name": "A", "share": 0.5}, {"name": "A", "share": 0.5}]
    assert problems(campaign(variants=same)) == [
        f"{SOURCE}: campaign: variants: each needs its own name"
    ]


@pytest.mark.parametrize("bad", ["Eco-Wash", "eco_wash", "-eco", "", "e" * 64])
def test_an_id_that_cannot_be_a_key_or_a_file_name(bad: str) -> None:
    assert problems(campaign(id=bad)) == [
        f"{SOURCE}: id: lower-case letters, digits and dashes, up to 50 characters"
    ]


def test_a_template_that_is_no_campaign_folder() -> None:
    found = problems(campaign(message={"template": "winback_offer", "link": "https://x.example"}))

    assert [line.split(": ")[1] for line in found] == ["message.template"]


def test_an_instant_without_a_time_zone_offset() -> None:
    found = problems(campaign(send={"at": "2026-05-20T08:00:00"}))

    assert found == [
        f"{SOURCE}: send: at needs a time zone offset (2026-12-10T09:00:00Z)",
    ]


def test_an_instant_and_a_local_time_at_once_or_half_a_local_time() -> None:
    both = {"at": "2026-05-20T08:00:00Z", "date": "2026-05-20", "local_time": "10:00"}
    assert problems(campaign(send=both)) == [
        f"{SOURCE}: send: give either at, or date and local_time, not both"
    ]
    assert problems(campaign(send={"date": "2026-05-20"})) == [
        f"{SOURCE}: send: give at (an instant), or date and local_time"
    ]


def test_a_holdout_of_everyone_and_a_file_that_is_no_mapping() -> None:
    assert any(line.startswith(f"{SOURCE}: holdout: ") for line in problems(campaign(holdout=1)))
    assert problems(["id", "name"]) == [
        f"{SOURCE}: a campaign is a mapping of fields (id, name, send, ...)"
    ]


# ---------------------------------------------------------------------- local time
def local(day: date, at: time) -> Send:
    return Send(date=day, local_time=at)


def test_local_time_goes_at_ten_in_each_zone() -> None:
    send = local(date(2026, 5, 20), time(10, 0))

    assert send.instant_in(AMSTERDAM) == datetime(2026, 5, 20, 8, 0, tzinfo=UTC)
    assert send.instant_in(ZoneInfo("Asia/Taipei")) == datetime(2026, 5, 20, 2, 0, tzinfo=UTC)


def test_a_local_time_the_clocks_skip_goes_at_the_offset_before_the_jump() -> None:
    # 2026-03-29 in Amsterdam: 02:00 CET becomes 03:00 CEST, so 02:30 never happens
    send = local(date(2026, 3, 29), time(2, 30))

    moment = send.instant_in(AMSTERDAM)

    assert moment == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 at +01:00
    assert moment.astimezone(AMSTERDAM).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_local_time_that_happens_twice_goes_the_first_time() -> None:
    # 2026-10-25 in Amsterdam: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice
    send = local(date(2026, 10, 25), time(2, 30))

    moment = send.instant_in(AMSTERDAM)

    assert moment == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first, at +02:00
    assert moment.astimezone(AMSTERDAM).strftime("%H:%M %Z") == "02:30 CEST"


def test_one_schedule_per_distinct_moment_and_planning_begins_before_the_first_zone() -> None:
    parsed = parse(campaign(), source=SOURCE)
    zones = [AMSTERDAM, ZoneInfo("Europe/Brussels"), ZoneInfo("Europe/Istanbul")]

    assert parsed.instants(zones) == [
        datetime(2026, 5, 20, 7, 0, tzinfo=UTC),
        datetime(2026, 5, 20, 8, 0, tzinfo=UTC),
    ]
    assert parsed.latest_start() == datetime(2026, 5, 19, 20, 0, tzinfo=UTC)


def test_an_instant_is_the_same_moment_everywhere() -> None:
    parsed = parse(campaign(send={"at": "2026-05-20T10:00:00+02:00"}), source=SOURCE)

    assert parsed.send.instant_in(ZoneInfo("Asia/Taipei")) == datetime(
        2026, 5, 20, 8, 0, tzinfo=UTC
    )
