"""The recipient's time zone, and where it came from.

The data contract's fallback, in one place for every stage and for quiet hours: the customer's
own `timezone`, else the time zone of their phone number (libphonenumber's metadata for the
number, which for North America is per area code), else the stack's `DEFAULT_TIMEZONE`. When a
number maps to several zones (a UK mobile: London, Guernsey, Jersey, Isle of Man; a Russian
one: eleven zones), the stack's default wins if it is among them, else the first in
alphabetical order, so the answer never depends on the library's ordering. The source is kept
with the zone, so every decision made in it can say why (`time zone from: phone`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from lifecycle.models import Customer

# libphonenumber's answer for a number it cannot place.
_UNKNOWN = "Etc/Unknown"


class ZoneSource(StrEnum):
    CUSTOMER = "customer"  # the customer's own `timezone`
    PHONE = "phone"  # the time zone of their phone number
    DEFAULT = "default"  # the stack's DEFAULT_TIMEZONE


@dataclass(frozen=True)
class RecipientZone:
    name: str  # an IANA zone ZoneInfo knows
    source: ZoneSource

    @property
    def info(self) -> ZoneInfo:
        return ZoneInfo(self.name)


def recipient_zone(customer: Customer, default: str) -> RecipientZone:
    """Where the customer's clock is: their `timezone`, their phone's, or the default."""
    if customer.timezone:
        return RecipientZone(customer.timezone, ZoneSource.CUSTOMER)
    if customer.phone:
        zone = phone_zone(customer.phone, default)
        if zone is not None:
            return RecipientZone(zone, ZoneSource.PHONE)
    return RecipientZone(default, ZoneSource.DEFAULT)


@lru_cache(maxsize=4096)
def phone_zone(phone: str, default: str) -> str | None:
    """The time zone of an E.164 number, or None when the metadata cannot place it."""
    # Loaded with the first customer who needs it (about 130 kB of prefix data).
    import phonenumbers
    from phonenumbers.timezone import time_zones_for_number

    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    zones = sorted(z for z in time_zones_for_number(parsed) if z != _UNKNOWN and _known(z))
    if not zones:
        return None
    return default if default in zones else zones[0]


def _known(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
