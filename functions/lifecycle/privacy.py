"""Keep personal data out of logs, ledger reasons and printed reports."""

from __future__ import annotations

import hashlib
import re

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def mask_email(address: str) -> str:
    """`ann.smith@example.com` -> `a***@example.com`."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    """`+31612345678` -> `+31*******78`: country code and last two digits only."""
    if len(number) <= 5:
        return "***"
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def redact(text: str) -> str:
    """Mask every email address and phone number in free text (provider error messages)."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(re.sub(r"[^\d+]", "", m.group(0))), text)


def address_hash(channel: str, address: str) -> str:
    """Suppressions are keyed by a hash so the list itself holds no readable addresses."""
    normalised = address.strip().lower() if channel == "email" else address.strip()
    return hashlib.sha256(f"{channel}:{normalised}".encode()).hexdigest()
