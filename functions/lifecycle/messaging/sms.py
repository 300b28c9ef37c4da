"""How many billed segments an SMS takes (GSM 03.38 / UCS-2)."""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet, and the extension table whose characters take two septets.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    @property
    def single_limit(self) -> int:
        return 160 if self.encoding == "GSM-7" else 70


def measure(text: str) -> SmsSize:
    """Encoding, length in that encoding's units, and segment count of `text`.

    One segment holds 160 GSM-7 septets or 70 UCS-2 units; a longer message is split into
    segments of 153 or 67, the rest being the concatenation header.
    """
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SmsSize(encoding, 0, 0)
    segments = 1 if units <= single else -(-units // multi)
    return SmsSize(encoding, units, segments)
