"""Phone numbers: the one check the data contract and the SMS reply handler share."""

from __future__ import annotations

import phonenumbers


def e164(value: str) -> str:
    """Accept only a phone number already written in E.164 (`+` country code, digits)."""
    if not value.startswith("+"):
        raise ValueError("not an E.164 phone number (must start with + and the country code)")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("not an E.164 phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if formatted != value:
        raise ValueError("not in E.164 form (digits only after the +)")
    return formatted
