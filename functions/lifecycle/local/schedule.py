"""When EventBridge would fire: `rate(...)`, `cron(...)` and `at(...)` expressions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_RATE = re.compile(r"^rate\((?P<n>\d+) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^)]+)\)$")
_AT = re.compile(r"^at\((?P<when>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {
    name: n
    for n, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}


class ScheduleError(ValueError):
    """An expression the local runner cannot evaluate; the message quotes it."""


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    if text in ("*", "?"):
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, raw_step = part.split("/", 1)
            step = int(raw_step)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    if not values or min(values) < low or max(values) > high:
        raise ScheduleError(f"cron field {text!r} is outside {low}-{high}")
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"cron value {text!r} is not supported locally")
    return int(text)


def occurrences(
    expression: str, timezone: str, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Every firing time in [start, end), as aware datetimes in `timezone`."""
    zone = ZoneInfo(timezone)
    start, end = start.astimezone(zone), end.astimezone(zone)
    if rate := _RATE.match(expression):
        unit = rate["unit"].rstrip("s")
        step = timedelta(**{f"{unit}s": int(rate["n"])})
        if step <= timedelta(0):
            raise ScheduleError(f"{expression}: the rate must be positive")
        moment = start + step
        while moment < end:
            yield moment
            moment += step
        return
    if at := _AT.match(expression):
        moment = datetime.fromisoformat(at["when"]).replace(tzinfo=zone)
        if start <= moment < end:
            yield moment
        return
    cron = _CRON.match(expression)
    if not cron:
        raise ScheduleError(f"{expression!r} is not a rate(), cron() or at() expression")
    fields = cron["fields"].split()
    if len(fields) != 6:
        raise ScheduleError(f"{expression}: cron needs 6 fields (min hour day month weekday year)")
    minutes = _field(fields[0], 0, 59)
    hours = _field(fields[1], 0, 23)
    days = _field(fields[2], 1, 31)
    months = _field(fields[3], 1, 12, _MONTHS)
    weekdays = _field(fields[4], 1, 7, _DAYS)
    years = None if fields[5] in ("*", "?") else _field(fields[5], 1970, 2199)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        aws_weekday = day.isoweekday() % 7 + 1  # AWS: 1 = Sunday
        if (
            day.day in days
            and day.month in months
            and aws_weekday in weekdays
            and (years is None or day.year in years)
        ):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    moment = day.replace(hour=hour, minute=minute)
                    if start <= moment < end:
                        yield moment
        day = (day + timedelta(days=1)).replace(hour=0, minute=0)
