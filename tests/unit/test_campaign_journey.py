"""The announcement journey, pure: the audience's conditions, the variant and holdout draws
(stable, within a point of their shares), and each recipient's send instant in their zone."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.stages.announcements import journey
from lifecycle.stages.announcements.campaign import parse

KEY = b"lifecycle-holdout-1"


def _campaign(**changes: Any) -> Any:
    data: dict[str, Any] = {
        "id": "spring",
        "name": "Spring",
        "send": {"at": "2026-03-02T09:00:00Z"},
        "message": {"template": "campaign_test", "link": "https://freshfold.example/x"},
    }
    data.update(changes)
    return parse(data)


def test_variant_shares_hold_within_a_point_at_ten_thousand_and_the_holdout_gets_none() -> None:
    # given a three-way split with a tenth held out
    campaign = _campaign(
        variants=[
            {"name": "A", "share": 0.5},
            {"name": "B", "share": 0.3},
            {"name": "C", "share": 0.2},
        ],
        holdout=0.1,
    )
    ids = [f"c-{n}" for n in range(10_000)]

    # when each recipient is drawn
    drawn = Counter(journey.variant_of(campaign, KEY, c) for c in ids)

    # then the holdout is a tenth, and the split holds among the rest, within a point
    assert abs(drawn[None] / 10_000 - 0.1) <= 0.01
    treated = 10_000 - drawn[None]
    for name, share in (("A", 0.5), ("B", 0.3), ("C", 0.2)):
        assert abs(drawn[name] / treated - share) <= 0.01, name
    # and the draw is stable: the same customer lands in the same place every time
    assert [journey.variant_of(campaign, KEY, c) for c in ids[:200]] == [
        journey.variant_of(campaign, KEY, c) for c in ids[:200]
    ]


def test_draws_differ_between_campaigns() -> None:
    ids = [f"c-{n}" for n in range(2_000)]
    one, two = _campaign(holdout=0.2), _campaign(id="autumn", holdout=0.2)
    held_one = {c for c in ids if journey.variant_of(one, KEY, c) is None}
    held_two = {c for c in ids if journey.variant_of(two, KEY, c) is None}
    # independent draws overlap about as chance says (0.2 * 0.2), not wholly
    assert len(held_one & held_two) < 0.3 * len(held_one)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Amsterdam", "2026-03-29T08:00:00+00:00"),  # the clocks went forward at 02:00
        ("Europe/London", "2026-03-29T09:00:00+00:00"),  # and here at 01:00
        ("America/New_York", "2026-03-29T14:00:00+00:00"),  # summer time since 8 March
        ("Asia/Taipei", "2026-03-29T02:00:00+00:00"),
        ("Australia/Sydney", "2026-03-28T23:00:00+00:00"),  # still summer time (to 5 April)
        ("Pacific/Kiritimati", "2026-03-28T20:00:00+00:00"),  # UTC+14: the first to get it
    ],
)
def test_local_time_is_each_zones_own_clock_on_a_daylight_saving_day(
    zone: str, expected: str
) -> None:
    campaign = _campaign(send={"date": "2026-03-29", "local_time": "10:00"})
    instant = campaign.send.instant_in(ZoneInfo(zone))
    assert instant.isoformat() == expected
    assert instant.astimezone(ZoneInfo(zone)).hour == 10
    assert campaign.latest_start() <= instant


def test_one_instant_per_distinct_offset_not_per_recipient() -> None:
    campaign = _campaign(send={"date": "2026-03-29", "local_time": "10:00"})
    zones = [ZoneInfo(z) for z in ("Europe/Amsterdam", "Europe/Berlin", "Europe/Paris")] * 50
    assert campaign.instants(zones) == [datetime(2026, 3, 29, 8, tzinfo=UTC)]


def test_the_audience_reads_stage_locale_attributes_and_orders() -> None:
    campaign = _campaign(
        audience={
            "stages": ["prospect", "active"],
            "locales": ["nl"],
            "attributes": {"city": ["Utrecht"]},
            "orders": {"max": 3},
            "last_order": {"not_within_days": 30},
        }
    )
    today = date(2026, 3, 1)
    row = {"customer_id": "c-1", "locale": "nl-BE", "city": "Utrecht"}
    prospect = journey.Standing()
    active = journey.Standing("active", 2, datetime(2026, 1, 2, tzinfo=UTC))
    recent = journey.Standing("active", 2, datetime(2026, 2, 20, tzinfo=UTC))
    audience = campaign.audience
    assert journey.outside(audience, row, prospect, today, "en") is None
    assert journey.outside(audience, row, active, today, "en") is None
    assert journey.outside(audience, row, recent, today, "en") == "ordered in the last 30 days"
    loyal = journey.Standing("loyal", 9, None)
    assert journey.outside(audience, row, loyal, today, "en") == "stage loyal not in the audience"
    assert journey.outside(audience, {**row, "locale": "en"}, prospect, today, "en") == (
        "locale not in the audience"
    )
    assert journey.outside(audience, {**row, "city": "Delft"}, prospect, today, "en") == (
        "city not in the audience"
    )


def test_a_message_carries_only_the_attributes_its_templates_read(tmp_path: Path) -> None:
    from lifecycle.stages.announcements.messages import attributes_used

    # given a campaign folder reading city three ways, and tier in a locale folder
    folder = tmp_path / "campaign_x"
    (folder / "nl").mkdir(parents=True)
    (folder / "email.subject.j2").write_text('{{ attributes.get("city", "") }} {{ first_name }}')
    (folder / "email.txt.j2").write_text('{{ attributes.city }} {{ attributes["zone"] }}')
    (folder / "nl" / "sms.txt.j2").write_text("{% if attributes.get('tier') %}x{% endif %}")
    used = attributes_used(tmp_path, "campaign_x")
    assert used == {"city", "zone", "tier"}

    # when a row's attributes are taken for a message
    row = {
        "customer_id": "c-1",
        "email": "ann@example.com",
        "first_name": "Ann",
        "city": "Utrecht",
        "tier": "gold",
        "alt_email": "ann.other@example.com",
        "street": "Oudegracht 1",
    }

    # then only those the templates read, never the rest of the row
    assert journey.attributes_of(row, used) == {"city": "Utrecht", "tier": "gold"}
