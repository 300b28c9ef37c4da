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
    if not non_gsm(text):
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SmsSize(encoding, 0, 0)
    segments = 1 if units <= single else -(-units // multi)
    return SmsSize(encoding, units, segments)


# Typography Babel and CLDR use (dashes, no-break and thin spaces, curly quotes) that has a
# plain GSM-7 twin. One of these in an otherwise GSM-7 SMS would turn it into UCS-2 and halve
# what a segment holds, so what the product inserts into an SMS is written with the twin.
_GSM_TWINS = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f", " "),
        **dict.fromkeys("\u2018\u2019\u201a\u2032", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u2033", '"'),
        "\u2026": "...",
        # direction marks some locales put around numbers: invisible, and not in GSM-7
        **dict.fromkeys("\u200e\u200f\u061c", None),
    }
)


def gsm_twins(text: str) -> str:
    """`text` with each typographic character that has a GSM-7 twin replaced by it; any other
    character (a letter of a non-GSM script, say) is left as it is."""
    return text.translate(_GSM_TWINS)


def non_gsm(text: str) -> list[str]:
    """The characters of `text` outside GSM-7, each once, in order of appearance: any one of
    them makes the whole SMS UCS-2."""
    return list(dict.fromkeys(c for c in text if c not in _GSM_BASIC and c not in _GSM_EXTENSION))


def ucs2_culprit(text: str, copy: str = "") -> str | None:
    """The character that makes `text` UCS-2, if any: the first one the template's own `copy`
    holds (what a marketer can change), else the first one of all."""
    found = non_gsm(text)
    return next((c for c in found if c in copy), found[0] if found else None)


def describe(character: str) -> str:
    """`'ş' (U+015F)`: a character and its code point, for lint and preview."""
    return f"{character!r} (U+{ord(character):04X})"
