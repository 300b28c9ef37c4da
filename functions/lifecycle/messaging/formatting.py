"""Formatting shared by every stage: dates, windows, money and quantities, in the customer's
language and time zone, with Babel. One message is one language: its copy and its values come
from the same locale."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, format_time
from babel.numbers import format_currency

from lifecycle.models import Window

EN_DASH = "\u2013"


def babel_locale(tag: str | None, default_locale: str) -> Locale:
    """The customer's locale, else the stack's default, else English."""
    for candidate in (tag, default_locale, "en"):
        if not candidate:
            continue
        try:
            return Locale.parse(candidate.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


def window_text(window: Window, zone: str, locale: Locale) -> str:
    """`Tue 24 Nov 09:00-11:00` (with an en dash) in the customer's language and time zone."""
    start = window.start.astimezone(ZoneInfo(zone))
    end = window.end.astimezone(ZoneInfo(zone))
    day = format_skeleton("MMMEd", start, locale=locale)
    return f"{day} {format_time(start, 'short', locale=locale)}{EN_DASH}" + format_time(
        end, "short", locale=locale
    )


def money(amount: Decimal, currency: str, locale: Locale) -> str:
    return format_currency(amount, currency, locale=locale)


def quantity(value: Decimal) -> str:
    """`2`, `1.5`: whole quantities without decimals."""
    return str(value.normalize()) if value % 1 else str(int(value))
