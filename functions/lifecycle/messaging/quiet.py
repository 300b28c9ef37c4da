"""Quiet hours: when a message may not arrive on the recipient's clock, and when it next may.

The window is wall-clock time in the recipient's zone (21:00-08:00 by default). Each night's
window is a pair of instants, its start and its end, each the local time on its own date
converted to UTC, so a daylight-saving change inside the window is counted as the clocks
count it (a night in spring is an hour shorter, one in autumn an hour longer), and `now` is
quiet exactly when it falls between the instants of tonight's window or last night's.

A wall-clock time that does not exist that day (the clocks jump past it) is taken as the moment
they jump: a window ending at 02:30 on a night the clocks go from 02:00 to 03:00 ends at 03:00.
One that happens twice (the clocks go back over it) is its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lifecycle.messaging.message import Channel, Kind


@dataclass(frozen=True)
class QuietHours:
    """No SMS (and, when `marketing_email`, no marketing email) between `start` and `end`."""

    start: time
    end: time
    marketing_email: bool = False

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def covers(self, channel: Channel, kind: Kind) -> bool:
        """Whether messages on this channel and of this kind wait for the window to end."""
        if channel is Channel.SMS:
            return True
        return self.marketing_email and kind is Kind.MARKETING

    def opening(self, now: datetime, zone: str) -> datetime | None:
        """When the window `now` falls in ends (UTC), or None when `now` is not quiet."""
        tz = ZoneInfo(zone)
        today = now.astimezone(tz).date()
        for first in (today - timedelta(days=1), today):
            begins, ends = self.window(first, tz)
            if begins <= now < ends:
                return ends
        return None

    def window(self, night: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The instants (UTC) of the window that starts on local date `night`."""
        wraps = self.end < self.start  # 21:00-08:00 ends the next morning
        ends_on = night + timedelta(days=1) if wraps else night
        return instant(night, self.start, tz), instant(ends_on, self.end, tz)


def instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the clocks in `tz` read `clock` on `day` (its first occurrence
    if they read it twice; the moment they jump if they skip it)."""
    wall = datetime.combine(day, clock)
    # A skipped time does not survive the round trip; the first minute that does is the jump.
    # (Gaps are whole minutes long; one day, as Samoa skipped in 2011, is the longest known.)
    for minutes in range(0, 24 * 60 + 1):
        candidate = wall + timedelta(minutes=minutes)
        moment = candidate.replace(tzinfo=tz, fold=0)
        if moment.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == candidate:
            return moment.astimezone(UTC)
    raise ValueError(f"{clock} on {day} never happens in {tz.key}")  # pragma: no cover


def local_clock(moment: datetime, zone: str) -> str:
    """`08:00` for an instant, as the recipient's clock reads it (for reasons in the ledger)."""
    return f"{moment.astimezone(ZoneInfo(zone)):%H:%M}"
