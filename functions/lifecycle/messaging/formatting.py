"""Formatting shared by every stage: dates, times, windows, money and quantities, with Babel.

One message is one language: its copy and its values come from the same locale. So journeys
never format: they put raw values in a message's context (aware datetimes and `Span`s already
in the customer's time zone, `Money`, `Decimal` quantities) and the renderer formats them while
rendering, with a `Formatter` for the locale whose templates supplied the copy (after
fallback: a French customer reading English copy gets English dates) and for the channel (what
the product inserts into an SMS keeps GSM-7 copy in GSM-7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import (
    PATTERN_CHAR_ORDER,
    DateTimeFormat,
    format_interval,
    format_skeleton,
    format_time,
    parse_pattern,
)
from babel.numbers import format_currency, format_decimal, get_currency_precision

from lifecycle.messaging.sms import gsm_twins, non_gsm

FALLBACK_LOCALE = "en"
DAY_SKELETON = "MMMEd"  # `Sat, Dec 12`, `za 12 dec`, `12月12日 週六`
NO_WINDOW = "-"  # an order without a window yet


class Window(Protocol):
    """A time window: an order's pickup or delivery window (`lifecycle.models.Window`), or a
    `Span`. Only its shape is needed here, so rendering never loads the data models."""

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


@dataclass(frozen=True)
class Span:
    """A window with both ends in the time zone it is shown in."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Money:
    """An amount in a currency (ISO 4217 code), formatted only when rendered."""

    amount: Decimal
    currency: str


def babel_locale(tag: str | None) -> Locale:
    """The Babel locale of a BCP 47 tag (`zh-TW`, `nl-BE`), else English."""
    if tag:
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse(FALLBACK_LOCALE)


def writes_in_gsm7(tag: str) -> bool:
    """Whether the language can be written in GSM-7 (English, Dutch, German: their month and
    day names are), so an SMS in it that becomes UCS-2 is worth a look; Turkish, French and
    Chinese need characters outside GSM-7."""
    locale = babel_locale(tag)
    words = [*locale.months["format"]["wide"].values(), *locale.days["format"]["wide"].values()]
    return not non_gsm("".join(words))


def in_zone(window: Window, zone: str) -> Span:
    """The window with both ends in the customer's time zone (the renderer formats a datetime in
    its own zone)."""
    tz = ZoneInfo(zone)
    return Span(start=window.start.astimezone(tz), end=window.end.astimezone(tz))


class Formatter:
    """Formats raw values for one message: in the locale of its copy, for its channel."""

    def __init__(self, locale: str, *, sms: bool = False) -> None:
        self.locale = babel_locale(locale)
        self.sms = sms

    def date(self, value: date, skeleton: str = DAY_SKELETON) -> str:
        return self._out(format_skeleton(skeleton, value, locale=self.locale))

    def time(self, value: datetime) -> str:
        return self._out(format_time(value, "short", locale=self.locale))

    def window(self, value: Window | None) -> str:
        """`Sat, Dec 12, 9:00 - 11:00 AM` in English, `12月12日週六 上午9:00至11:00` in
        Traditional Chinese: the day, then the times as the locale writes an interval (the day
        period once)."""
        if value is None:
            return NO_WINDOW
        start, end = value.start, value.end
        if start.date() == end.date():
            text = self._date_time(self._day(start), _time_interval(start, end, self.locale))
        else:
            both = (self._date_time(self._day(t), self._clock(t)) for t in (start, end))
            text = str(self.locale.interval_formats.get(None, "{0} - {1}")).format(*both)
        return self._out(text)

    def money(self, value: Money) -> str:
        """Rounded half up to the currency's minor unit, as a till does (`4.485` -> `4.49`;
        Babel alone would round half to even)."""
        places = get_currency_precision(value.currency)
        amount = Decimal(value.amount).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
        return self._out(format_currency(amount, value.currency, locale=self.locale))

    def quantity(self, value: Decimal | int | float) -> str:
        """`2`, `4.5` in English, `4,5` in Dutch: whole quantities without decimals, and as
        many decimals as the quantity has (`1.2345` stays `1.2345`)."""
        exponent = Decimal(str(value)).normalize().as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
        return self._out(format_decimal(value, format=pattern, locale=self.locale))

    def value(self, value: Any) -> Any:
        """A raw value printed without a filter, formatted as its filter would."""
        if isinstance(value, Money):
            return self.money(value)
        if isinstance(value, Span):
            return self.window(value)
        if isinstance(value, datetime):
            return f"{self.date(value)} {self.time(value)}"
        if isinstance(value, date):
            return self.date(value)
        if isinstance(value, Decimal):
            return self.quantity(value)
        return value

    def _day(self, value: datetime) -> str:
        return format_skeleton(DAY_SKELETON, value, locale=self.locale)

    def _clock(self, value: datetime) -> str:
        return format_time(value, "short", locale=self.locale)

    def _date_time(self, day: str, time: str) -> str:
        pattern = str(self.locale.datetime_formats.get("medium", "{1} {0}"))
        return pattern.replace("{1}", day).replace("{0}", time)

    def _out(self, text: str) -> str:
        return gsm_twins(text) if self.sms else text


def _time_interval(start: datetime, end: datetime, locale: Locale) -> str:
    """Two times of one day as the locale writes an interval, on its own hour cycle."""
    short = locale.time_formats["short"].pattern
    skeleton = "Hm" if "H" in short or "k" in short else "hm"
    try:
        return format_interval(start, end, skeleton, locale=locale)
    except NotImplementedError:
        # Babel 2.19 cannot compare the flexible day period ('B', which zh-Hant uses for
        # 上午/下午) of two times: pick the greatest differing field as CLDR says, comparing
        # each field as formatted.
        formats = locale.interval_formats[skeleton]
        first, second = DateTimeFormat(start, locale=locale), DateTimeFormat(end, locale=locale)
        for field in PATTERN_CHAR_ORDER:
            if field in formats and first[field] != second[field]:
                return "".join(
                    parse_pattern(pattern).apply(moment, locale)
                    for pattern, moment in zip(formats[field], (start, end), strict=True)
                )
        return format_skeleton(skeleton, start, locale=locale)
