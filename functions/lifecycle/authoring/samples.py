"""Sample data that lives beside the templates, for preview, lint and test sends.

templates/_layouts/sample.json    business details and a sample unsubscribe URL
templates/<message>/sample.json   {"context": {...}, "locales": {"nl": {...}, ...}}

Samples hold raw values, as a journey puts them in a real message's context, never text typed
to look formatted: the renderer formats them with the same code as a real send, in the locale
of the copy. In sample.json:

    "2026-11-24T09:00:00+01:00"                       an ISO 8601 datetime (with its offset)
    {"start": "<ISO datetime>", "end": "<ISO datetime>"}   a window
    {"amount": "3.50", "currency": "EUR"}             money (ISO 4217 currency code)
    4.5                                               a number (exact, as a Decimal)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lifecycle.messaging.formatting import Money, Span
from lifecycle.messaging.message import Business, MessageSpec

SAMPLE_FILE = "sample.json"
LAYOUTS = "_layouts"


class SampleError(ValueError):
    """A sample file is missing or malformed; the message names the file."""


# A datetime has a date and a time (a date alone, or a code like FF-10482, stays text).
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def raw_value(value: Any, where: str) -> Any:
    """A sample value as a journey would pass it: datetimes, windows, money and numbers become
    the types the renderer formats; anything else stays as it is."""
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise SampleError(f"{where}: {value!r} is not an ISO 8601 datetime") from None
    if isinstance(value, list):
        return [raw_value(item, where) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"amount", "currency"}:
        try:
            return Money(Decimal(str(value["amount"])), str(value["currency"]))
        except InvalidOperation:
            raise SampleError(f"{where}: amount {value['amount']!r} is not a number") from None
    if set(value) == {"start", "end"}:
        start, end = (raw_value(value[key], where) for key in ("start", "end"))
        if not (isinstance(start, datetime) and isinstance(end, datetime)):
            raise SampleError(f"{where}: a window needs ISO 8601 start and end")
        return Span(start=start, end=end)
    return {key: raw_value(item, where) for key, item in value.items()}


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except FileNotFoundError:
        raise SampleError(f"{path}: sample file is missing") from None
    except json.JSONDecodeError as exc:
        raise SampleError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise SampleError(f"{path}: not UTF-8 text") from None
    if not isinstance(loaded, dict):
        raise SampleError(f"{path}: must hold a JSON object")
    return loaded


@dataclass(frozen=True)
class Samples:
    templates_dir: Path
    business: Business
    unsubscribe_url: str

    @classmethod
    def load(cls, templates_dir: Path) -> Samples:
        path = templates_dir / LAYOUTS / SAMPLE_FILE
        data = _read(path)
        try:
            business = Business(**data["business"])
            url = str(data["unsubscribe_url"])
        except (KeyError, TypeError) as exc:
            raise SampleError(
                f"{path}: needs business (name, postal_address, sender_email, website) "
                f"and unsubscribe_url ({exc})"
            ) from None
        return cls(templates_dir=templates_dir, business=business, unsubscribe_url=url)

    def context(self, spec: MessageSpec, locale: str) -> dict[str, Any]:
        """The sample context for one message in one locale (locale values win), as raw
        values."""
        path = self.templates_dir / spec.template / SAMPLE_FILE
        data = _read(path)
        base = data.get("context", {})
        per_locale = data.get("locales", {})
        if not isinstance(base, dict) or not isinstance(per_locale, dict):
            raise SampleError(f"{path}: context and locales must be JSON objects")
        own = per_locale.get(locale, {})
        if not isinstance(own, dict):
            raise SampleError(f"{path}: locales.{locale} must be a JSON object")
        context = {**base, **own}
        missing = spec.variables - set(context)
        if missing:
            raise SampleError(
                f"{path}: no sample value for {', '.join(sorted(missing))} (locale {locale})"
            )
        return {name: raw_value(value, f"{path} ({name})") for name, value in context.items()}
