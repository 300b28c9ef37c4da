"""Quiet hours on the recipient's clock: the window, its opening across daylight-saving changes
and odd offsets, the time zone fallback, and what the dispatcher does with a message in it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.message import Channel, Kind, Message, Quiet, Status
from lifecycle.messaging.quiet import QuietHours
from lifecycle.messaging.zones import ZoneSource, recipient_zone
from lifecycle.models import Customer
from lifecycle.stages.orders import journey as orders
from tests.fakes import FakeLinks, customer, order
from tests.unit.test_dispatcher import World, spec

DEFAULT = QuietHours(time(21), time(8))


def at(zone: str, text: str, fold: int = 0) -> datetime:
    """A wall-clock time in `zone` as the instant it is."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------- the window and its opening
@pytest.mark.parametrize(
    ("zone", "local", "opening"),
    [
        # an ordinary winter night in Amsterdam: 22:30 CET, opens 08:00 CET
        ("Europe/Amsterdam", "2026-12-01T22:30", "2026-12-02T07:00"),
        # just after midnight it is the same night's window
        ("Europe/Amsterdam", "2026-12-02T00:10", "2026-12-02T07:00"),
        # the clocks go forward at 02:00 on the last Sunday of March: the night is 10 hours
        ("Europe/Amsterdam", "2027-03-27T21:00", "2027-03-28T06:00"),
        ("Europe/Amsterdam", "2027-03-28T03:30", "2027-03-28T06:00"),
        # and back at 03:00 on the last Sunday of October: the night is 12 hours
        ("Europe/Amsterdam", "2026-10-24T21:00", "2026-10-25T07:00"),
        ("Europe/Amsterdam", "2026-10-25T07:59", "2026-10-25T07:00"),
        # New York: forward on the second Sunday of March, back on the first of November
        ("America/New_York", "2027-03-13T22:30", "2027-03-14T12:00"),
        ("America/New_York", "2026-10-31T23:00", "2026-11-01T13:00"),
        # half-hour and three-quarter-hour offsets
        ("Asia/Kolkata", "2026-12-01T23:00", "2026-12-02T02:30"),
        ("Asia/Kathmandu", "2026-12-02T07:59", "2026-12-02T02:15"),
        # Adelaide keeps summer time in December (+10:30) and leaves it on 4 April 2027
        ("Australia/Adelaide", "2026-12-01T21:30", "2026-12-01T21:30"),
        ("Australia/Adelaide", "2027-04-03T22:00", "2027-04-03T22:30"),
        ("Asia/Taipei", "2026-12-01T05:00", "2026-12-01T00:00"),
    ],
)
def test_a_moment_in_quiet_hours_waits_for_eight_oclock_on_the_recipients_clock(
    zone: str, local: str, opening: str
) -> None:
    # given a moment inside the default window, on the recipient's clock
    now = at(zone, local)

    # when the window's opening is asked for
    opens = DEFAULT.opening(now, zone)

    # then it is 08:00 there, as an instant in UTC, after now
    assert opens == utc(opening)
    assert opens is not None
    assert opens > now
    assert opens.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "08:00"


@pytest.mark.parametrize(
    ("zone", "local"),
    [
        ("Europe/Amsterdam", "2026-12-01T08:00"),  # the window has just opened
        ("Europe/Amsterdam", "2026-12-01T20:59"),  # and not yet closed
        ("Europe/Amsterdam", "2027-03-28T08:00"),
        ("America/New_York", "2026-11-01T12:00"),
        ("Asia/Kolkata", "2026-12-01T13:30"),
        ("Australia/Adelaide", "2026-12-01T08:00"),
    ],
)
def test_daytime_is_not_quiet(zone: str, local: str) -> None:
    assert DEFAULT.opening(at(zone, local), zone) is None


def test_the_window_starts_at_its_first_minute() -> None:
    assert DEFAULT.opening(at("Europe/Amsterdam", "2026-12-01T21:00"), "Europe/Amsterdam")


def test_one_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    # given 22:00 UTC on a December evening
    now = utc("2026-12-01T22:00")

    # then it is 23:00 in Amsterdam, 17:00 in New York and 06:00 in Taipei
    assert DEFAULT.opening(now, "Europe/Amsterdam") == utc("2026-12-02T07:00")
    assert DEFAULT.opening(now, "America/New_York") is None
    assert DEFAULT.opening(now, "Asia/Taipei") == utc("2026-12-02T00:00")


def test_an_opening_the_clocks_skip_is_the_moment_they_jump() -> None:
    # given a window ending at 02:30 on the night Amsterdam jumps from 02:00 to 03:00
    window = QuietHours(time(22), time(2, 30))

    # when it is 01:30 there
    opens = window.opening(at("Europe/Amsterdam", "2027-03-28T01:30"), "Europe/Amsterdam")

    # then the window ends at the jump: 03:00 CEST, 01:00 UTC
    assert opens == utc("2027-03-28T01:00")


def test_an_opening_the_clocks_pass_twice_is_its_first_occurrence() -> None:
    # given a window ending at 02:30 on the night Amsterdam goes back from 03:00 to 02:00
    window = QuietHours(time(22), time(2, 30))
    first_0215 = at("Europe/Amsterdam", "2026-10-25T02:15", fold=0)
    second_0215 = at("Europe/Amsterdam", "2026-10-25T02:15", fold=1)

    # then it ends at the first 02:30 (CEST, 00:30 UTC); the second pass is daytime
    assert window.opening(first_0215, "Europe/Amsterdam") == utc("2026-10-25T00:30")
    assert window.opening(second_0215, "Europe/Amsterdam") is None


def test_a_window_that_does_not_cross_midnight() -> None:
    siesta = QuietHours(time(13), time(15))

    assert siesta.opening(at("Europe/Madrid", "2026-07-01T14:00"), "Europe/Madrid") == utc(
        "2026-07-01T13:00"
    )
    assert siesta.opening(at("Europe/Madrid", "2026-07-01T15:00"), "Europe/Madrid") is None
    assert siesta.opening(at("Europe/Madrid", "2026-07-01T23:00"), "Europe/Madrid") is None


@pytest.mark.parametrize(
    ("channel", "kind", "marketing_email", "covered"),
    [
        (Channel.SMS, Kind.TRANSACTIONAL, False, True),
        (Channel.SMS, Kind.MARKETING, False, True),
        (Channel.EMAIL, Kind.MARKETING, False, False),
        (Channel.EMAIL, Kind.MARKETING, True, True),
        (Channel.EMAIL, Kind.SERVICE, True, False),
        (Channel.EMAIL, Kind.TRANSACTIONAL, True, False),
    ],
)
def test_quiet_hours_hold_sms_and_marketing_email_only_when_configured(
    channel: Channel, kind: Kind, marketing_email: bool, covered: bool
) -> None:
    rules = QuietHours(time(21), time(8), marketing_email=marketing_email)
    assert rules.covers(channel, kind) is covered


# ---------------------------------------------------------------- the recipient's time zone
@pytest.mark.parametrize(
    ("overrides", "default", "zone", "source"),
    [
        ({"timezone": "Asia/Kolkata"}, "Europe/Amsterdam", "Asia/Kolkata", ZoneSource.CUSTOMER),
        ({"phone": "+12125551234"}, "Europe/Amsterdam", "America/New_York", ZoneSource.PHONE),
        ({"phone": "+31612345678"}, "UTC", "Europe/Amsterdam", ZoneSource.PHONE),
        # a UK mobile maps to London, Guernsey, Jersey and the Isle of Man: the stack's default
        # if it is among them, else the first alphabetically
        ({"phone": "+447911123456"}, "Europe/London", "Europe/London", ZoneSource.PHONE),
        ({"phone": "+447911123456"}, "Europe/Amsterdam", "Europe/Guernsey", ZoneSource.PHONE),
        ({"phone": None}, "Europe/Lisbon", "Europe/Lisbon", ZoneSource.DEFAULT),
        # a zone the data contract cannot use counts as not given
        ({"timezone": "Mars/Olympus", "phone": None}, "UTC", "UTC", ZoneSource.DEFAULT),
    ],
)
def test_the_time_zone_is_the_customers_else_their_phones_else_the_stacks(
    overrides: dict[str, str | None], default: str, zone: str, source: ZoneSource
) -> None:
    found = recipient_zone(customer(**overrides), default)

    assert (found.name, found.source) == (zone, source)


# ---------------------------------------------------------------- the dispatcher in quiet hours
def text(
    who: Customer | None = None,
    *,
    kind: Kind = Kind.TRANSACTIONAL,
    quiet: Quiet = Quiet.DEFER,
    channel: Channel = Channel.SMS,
    deliver_by: datetime | None = None,
) -> Message:
    target = who or customer()
    topic = "offers" if kind is Kind.MARKETING else None
    return spec(kind, topic, "order", quiet=quiet).message(
        f"order#o-1#{channel}", target, channel, {"first_name": "Ann"}, deliver_by=deliver_by
    )


AMSTERDAM_2230 = at("Europe/Amsterdam", "2026-12-01T22:30")
AMSTERDAM_0800 = utc("2026-12-02T07:00")


def night(**kwargs: object) -> World:
    return World(quiet_hours=DEFAULT, start=AMSTERDAM_2230, **kwargs)  # type: ignore[arg-type]


def test_an_sms_in_quiet_hours_is_deferred_to_eight_and_recorded_with_why() -> None:
    # given 22:30 in Amsterdam for a customer with a Dutch number and no time zone of her own
    world = night()

    # when an order update goes by SMS
    outcome = world.dispatcher.dispatch(text())

    # then nothing is sent: it waits for 08:00 her time, in one schedule, and the ledger says so
    assert outcome.status is Status.DEFERRED
    reason = "quiet hours until 08:00 Europe/Amsterdam (time zone from: phone)"
    assert outcome.reason == reason
    assert outcome.deliver_at == AMSTERDAM_0800
    assert world.sms.sent == []
    ((deferred, until, since),) = world.deferrals.schedules.values()
    assert (deferred.key, until, since) == ("order#o-1#sms", AMSTERDAM_0800, AMSTERDAM_2230)
    assert world.ledger.items["order#o-1#sms"] == {
        "status": "deferred",
        "reason": reason,
        "deliver_at": AMSTERDAM_0800,
        "deferred_since": AMSTERDAM_2230,
        "timezone": "Europe/Amsterdam",
        "timezone_source": "phone",
    }
    assert world.counted == ["MessagesDeferred", "DeferredQuietHours"]


def test_deferring_the_same_message_again_makes_no_second_schedule() -> None:
    world = night()

    world.dispatcher.dispatch(text())
    world.time.sleep(40 * 60)  # a replayed trigger, later that night
    again = world.dispatcher.dispatch(text())

    assert again.status is Status.DEFERRED
    assert world.deferrals.calls == 2
    assert len(world.deferrals.schedules) == 1


def test_the_deferred_message_goes_when_its_schedule_fires_and_only_once() -> None:
    # given the update deferred at 22:30
    world = night()
    world.dispatcher.dispatch(text())
    ((deferred, until, since),) = world.deferrals.schedules.values()

    # when its schedule fires at 08:00 (twice: Scheduler delivers at least once)
    world.time.sleep((until - AMSTERDAM_2230).total_seconds())
    world.dispatcher._budget.start(60)
    again = replace(deferred, deferred_since=since, deferred_until=until)
    first = world.dispatcher.dispatch(again)
    second = world.dispatcher.dispatch(again)

    # then it is sent once
    assert first.status is Status.SENT
    assert second.status is Status.DUPLICATE
    assert len(world.sms.sent) == 1


def test_a_schedule_firing_a_moment_early_still_sends_instead_of_deferring_again() -> None:
    world = night()
    world.dispatcher.dispatch(text())
    ((deferred, until, since),) = world.deferrals.schedules.values()

    world.time.sleep((until - AMSTERDAM_2230).total_seconds() - 2)  # 07:59:58
    early = world.dispatcher.dispatch(replace(deferred, deferred_since=since, deferred_until=until))

    assert early.status is Status.SENT
    assert len(world.deferrals.schedules) == 1


def test_the_customers_own_time_zone_wins_and_is_named() -> None:
    # given 22:30 in Amsterdam, which is 16:30 for a customer who lives in New York
    world = night()

    outcome = world.dispatcher.dispatch(text(customer(timezone="America/New_York")))

    assert outcome.status is Status.SENT


def test_a_time_critical_update_goes_in_quiet_hours() -> None:
    world = night()

    outcome = world.dispatcher.dispatch(text(quiet=Quiet.SEND))

    assert outcome.status is Status.SENT
    assert len(world.sms.sent) == 1


def test_email_is_not_held_by_quiet_hours() -> None:
    world = night()

    outcome = world.dispatcher.dispatch(text(channel=Channel.EMAIL))

    assert outcome.status is Status.SENT


@pytest.mark.parametrize(("configured", "status"), [(False, Status.SENT), (True, Status.DEFERRED)])
def test_marketing_email_waits_only_when_configured(configured: bool, status: Status) -> None:
    world = World(
        links=FakeLinks(),
        quiet_hours=QuietHours(time(21), time(8), marketing_email=configured),
        start=AMSTERDAM_2230,
    )
    who = customer(consent={"email_marketing": True})

    outcome = world.dispatcher.dispatch(text(who, kind=Kind.MARKETING, channel=Channel.EMAIL))

    assert outcome.status is status


def test_marketing_never_goes_in_quiet_hours() -> None:
    with pytest.raises(ValueError, match="marketing never goes in quiet hours"):
        spec(Kind.MARKETING, "offers", quiet=Quiet.SEND)


def test_a_message_that_would_wait_past_the_maximum_delay_is_skipped_with_why() -> None:
    # given a message first held back at 19:00 for the marketing cap, then quiet hours
    world = night()
    since = AMSTERDAM_2230 - timedelta(hours=3, minutes=30)
    message = replace(text(), deferred_since=since, deferred_until=AMSTERDAM_2230)

    outcome = world.dispatcher.dispatch(message)

    # then 08:00 is past twelve hours since it was first held back
    assert outcome.status is Status.SKIPPED
    assert outcome.reason == (
        "quiet hours until 08:00 Europe/Amsterdam (time zone from: phone): past the maximum "
        "delay of 12 hours"
    )
    assert world.deferrals.schedules == {}
    assert world.counted == ["MessagesSkipped", "SkippedQuietHours"]


def test_the_longest_night_of_the_year_fits_the_default_maximum_delay() -> None:
    # given 21:00 on the night the clocks go back: twelve hours until 08:00
    world = World(quiet_hours=DEFAULT, start=at("Europe/Amsterdam", "2026-10-24T21:00"))

    outcome = world.dispatcher.dispatch(text())

    assert outcome.status is Status.DEFERRED
    assert outcome.deliver_at == utc("2026-10-25T07:00")


def test_a_message_that_must_arrive_before_the_window_opens_is_skipped() -> None:
    # given a pickup reminder that must arrive before a 07:30 pickup
    world = night()
    pickup = at("Europe/Amsterdam", "2026-12-02T07:30")

    outcome = world.dispatcher.dispatch(text(deliver_by=pickup))

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == (
        "quiet hours until 08:00 Europe/Amsterdam (time zone from: phone): it would arrive "
        "after its deadline 2026-12-02 07:30 Europe/Amsterdam"
    )
    assert world.counted == ["MessagesSkipped", "SkippedQuietHours"]


def test_one_that_can_still_arrive_in_time_is_deferred() -> None:
    world = night()

    outcome = world.dispatcher.dispatch(text(deliver_by=at("Europe/Amsterdam", "2026-12-02T09:00")))

    assert outcome.status is Status.DEFERRED


def test_a_message_past_its_deadline_is_never_sent() -> None:
    world = World(start=at("Europe/Amsterdam", "2026-12-02T09:05"))

    outcome = world.dispatcher.dispatch(text(deliver_by=at("Europe/Amsterdam", "2026-12-02T09:00")))

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "too late: it had to arrive by 2026-12-02 09:00 Europe/Amsterdam"
    assert world.counted == ["MessagesSkipped", "SkippedDeadline"]


def test_without_quiet_hours_everything_goes() -> None:
    world = World(quiet_hours=None, start=AMSTERDAM_2230)

    assert world.dispatcher.dispatch(text()).status is Status.SENT


def test_a_refused_message_is_skipped_not_deferred() -> None:
    # no point waiting for 08:00 for a customer who never consented to SMS
    world = night()

    outcome = world.dispatcher.dispatch(text(customer(consent={})))

    assert outcome.status is Status.SKIPPED
    assert world.deferrals.schedules == {}


# ---------------------------------------------------------------- the rule, message by message
def test_only_the_driver_on_the_way_goes_in_quiet_hours() -> None:
    # the README's table: every other service and transactional SMS waits for the morning
    sent_at_night = {s.template for s in CATALOG.values() if s.quiet is Quiet.SEND}
    assert sent_at_night == {"order_out_for_delivery"}
    for template in ("order_ready", "order_cancelled", "pickup_reminder", "welcome"):
        assert CATALOG[template].quiet is Quiet.DEFER


def test_the_pickup_reminder_must_arrive_before_the_pickup_begins() -> None:
    scheduled = order(
        pickup_window={"start": "2026-12-02T08:30:00+01:00", "end": "2026-12-02T10:30:00+01:00"}
    )
    rules = orders.OrderRules(default_timezone="Europe/Amsterdam")

    reminder = orders.reminder_message(scheduled, customer(), rules)

    assert reminder.deliver_by == at("Europe/Amsterdam", "2026-12-02T08:30")


@pytest.mark.parametrize(
    ("status", "template", "why"),
    [
        ("ready", "order_ready", None),
        ("out_for_delivery", "order_ready", "stale: order already out_for_delivery"),
        ("cancelled", "order_picked_up", "stale: order already cancelled"),
        ("scheduled", "pickup_reminder", None),
        ("cancelled", "pickup_reminder", "order is cancelled"),
    ],
)
def test_an_order_message_deferred_overnight_goes_only_if_the_order_has_not_moved_on(
    status: str, template: str, why: str | None
) -> None:
    start = "2026-12-02T09:00:00+01:00"
    now_is = order(
        status=status, pickup_window={"start": start, "end": "2026-12-02T11:00:00+01:00"}
    )

    assert orders.still_due(now_is, template, datetime.fromisoformat(start)) == why
    if template == "pickup_reminder" and why is None:
        moved = datetime.fromisoformat("2026-12-02T10:00:00+01:00")
        assert orders.still_due(now_is, template, moved) == "pickup was moved"
