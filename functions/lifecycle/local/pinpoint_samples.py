"""Pinpoint export files made up for tests and the import benchmark: endpoints in the shape
GetEndpoint answers (and CreateExportJob writes, one a line, gzipped), for a laundry and
dry-cleaning pickup business. Deterministic for a seed, so `events/pinpoint/endpoints/` is
this module's output (`python -m lifecycle.local.pinpoint_samples` writes it again; a test
checks the two are in step).

Per user, with the seed's draws: an EMAIL endpoint (most), an SMS endpoint (some; a few users
have only one), sometimes a push endpoint the import does not carry, sometimes an older second
email. Shares of opt-outs (OptOut ALL), INACTIVE endpoints, invalid addresses and numbers, users
with no first name and time zones Pinpoint accepted but no one knows are mixed in, so every
problem the import reports turns up.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SAMPLE_USERS = 240
SAMPLE_SEED = 2026
SAMPLE_FILE = "endpoints/part-00000.gz"  # under events/pinpoint/
APPLICATION_ID = "7c1f0a9e4b2d4e6f8a1b2c3d4e5f6a7b"

# First name, locale, zone, city, country, and a mobile number's prefix and digits after it.
_PEOPLE = (
    ("Ann", "en_US", "America/New_York", "New York", "US", ("+12025550", 3)),
    ("Brian", "en_GB", "Europe/London", "London", "GB", ("+447400", 6)),
    ("Sanne", "nl_NL", "Europe/Amsterdam", "Amsterdam", "NL", ("+31612", 6)),
    ("Lotte", "nl_BE", "Europe/Brussels", "Antwerpen", "BE", ("+32470", 6)),
    ("Elif", "tr_TR", "Europe/Istanbul", "İstanbul", "TR", ("+90532", 7)),
    ("Mei-ling", "zh_TW", "Asia/Taipei", "台北", "TW", ("+886912", 6)),
)
_ZONES_NOBODY_KNOWS = ("Mars/Olympus_Mons", "GMT+25")
_BAD_EMAILS = ("not-an-email", "anna@@example.com", "ann@", "bob@example..com")
_BAD_PHONES = ("0612345678", "+1555", "+31 6 1234 5678", "+999123456789")
_ZONES_AND_PLANS = (("North", "weekly"), ("South", "biweekly"), ("Centre", "on demand"))

# Shares, each drawn per user.
SMS_SHARE = 0.45
ONLY_SMS_SHARE = 0.05
EMAIL_OPT_OUT_SHARE = 0.08
SMS_OPT_OUT_SHARE = 0.1
INACTIVE_SHARE = 0.03
BAD_ADDRESS_SHARE = 0.03
PUSH_SHARE = 0.05
SECOND_EMAIL_SHARE = 0.03
NO_FIRST_NAME_SHARE = 0.02
UNKNOWN_ZONE_SHARE = 0.04


def endpoints(users: int, seed: int = SAMPLE_SEED) -> Iterator[dict[str, Any]]:
    """The endpoints of `users` users, user by user (an export is in no order: the import
    must not rely on one, so the caller may shuffle)."""
    draw = random.Random(seed)  # noqa: S311 - sample data, repeatable by seed
    start = datetime(2023, 3, 1, tzinfo=UTC)
    for number in range(users):
        first_name, locale, zone, city, country, (prefix, digits) = draw.choice(_PEOPLE)
        user_id = f"cust-{number:06d}"
        created = start + timedelta(minutes=draw.randrange(0, 60 * 24 * 900))
        effective = created + timedelta(days=draw.randrange(0, 300))
        service_zone, plan = draw.choice(_ZONES_AND_PLANS)
        user_attributes: dict[str, list[str]] = {"Plan": [plan]}
        if draw.random() >= NO_FIRST_NAME_SHARE:
            user_attributes["FirstName"] = [first_name]
        if draw.random() < UNKNOWN_ZONE_SHARE:
            zone = draw.choice(_ZONES_NOBODY_KNOWS)
        common = {
            "ApplicationId": APPLICATION_ID,
            "Attributes": _attributes(number, service_zone, effective),
            "CohortId": str(draw.randrange(0, 100)),
            "CreationDate": _iso(created),
            "Demographic": {"Locale": locale, "Timezone": zone, "Platform": "web"},
            "EffectiveDate": _iso(effective),
            "Location": {"City": city, "Country": country},
            "Metrics": {"orders": float(draw.randrange(0, 30))},
            "User": {"UserAttributes": user_attributes, "UserId": user_id},
        }
        only_sms = draw.random() < ONLY_SMS_SHARE
        has_sms = only_sms or draw.random() < SMS_SHARE
        if not only_sms:
            address = f"{first_name.lower()}.{number}@example.com"
            if draw.random() < BAD_ADDRESS_SHARE:
                address = draw.choice(_BAD_EMAILS)
            yield _endpoint(common, f"{user_id}-email", "EMAIL", address, draw, EMAIL_OPT_OUT_SHARE)
            if draw.random() < SECOND_EMAIL_SHARE:
                older = {**common, "EffectiveDate": _iso(created)}
                old = f"old.{number}@example.com"
                yield _endpoint(older, f"{user_id}-email-old", "EMAIL", old, draw, 0.0)
        if has_sms:
            phone = f"{prefix}{draw.randrange(10**digits):0{digits}d}"
            if draw.random() < BAD_ADDRESS_SHARE:
                phone = draw.choice(_BAD_PHONES)
            yield _endpoint(common, f"{user_id}-sms", "SMS", phone, draw, SMS_OPT_OUT_SHARE)
        if draw.random() < PUSH_SHARE:
            token = f"{draw.getrandbits(128):032x}"
            yield _endpoint(common, f"{user_id}-push", "APNS", token, draw, 0.0)


_TIERS = ("bronze", "silver", "gold")
_SERVICES = (["wash & fold"], ["wash & fold", "dry cleaning"], ["dry cleaning", "ironing"])


def _attributes(number: int, service_zone: str, effective: datetime) -> dict[str, list[str]]:
    """Custom attributes the sample templates use (derived from the user's number, so the
    draws, and with them the rest of the sample, stay as they are)."""
    attributes = {
        "ServiceZone": [service_zone],
        "LoyaltyTier": [_TIERS[number % 3]],
        "Services": _SERVICES[number % 3],
        "NextPickup": [(effective + timedelta(days=7)).date().isoformat()],
    }
    if number % 4 == 0:
        attributes["PromoCode"] = ["spring20"]
    return attributes


def _endpoint(
    common: dict[str, Any],
    endpoint_id: str,
    channel: str,
    address: str,
    draw: random.Random,
    opt_out_share: float,
) -> dict[str, Any]:
    status = "INACTIVE" if draw.random() < INACTIVE_SHARE else "ACTIVE"
    return {
        **common,
        "Address": address,
        "ChannelType": channel,
        "EndpointStatus": status,
        "Id": endpoint_id,
        "OptOut": "ALL" if draw.random() < opt_out_share else "NONE",
        "RequestId": f"req-{endpoint_id}",
    }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def export_bytes(users: int, seed: int = SAMPLE_SEED) -> bytes:
    """An export file: the endpoints shuffled (an export is in no user order), one JSON line
    each, gzipped with no timestamp (so the same seed gives the same bytes)."""
    lines = [
        json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in endpoints(users, seed)
    ]
    random.Random(seed + 1).shuffle(lines)  # noqa: S311 - sample order, repeatable
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)


def write_samples(events_dir: Path) -> Path:
    """The sample export under `events_dir/pinpoint/`."""
    path = events_dir / "pinpoint" / SAMPLE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(export_bytes(SAMPLE_USERS))
    return path


if __name__ == "__main__":
    print(write_samples(Path(__file__).resolve().parents[3] / "events"))
