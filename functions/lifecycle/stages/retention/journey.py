"""Retention decisions. Pure: which win-back step a lapsed customer is due, and who is held
out of a programme.

A customer lapses when they first become at risk (`Profile.lapsed_since`); the win-back
sequence's steps go on fixed days after that (default 0, 14 and 30). One lapse is one
sequence, named after the day it began, so a customer who orders, then lapses again, gets a
new sequence, and each step's ledger key (`winback#<customer>#<sequence>#<step>`) goes at most
once. An order ends the lapse (the customer is no longer at risk or dormant), and with it the
sequence: nothing is due after it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date

from lifecycle.profiles.model import Profile
from lifecycle.profiles.stages import LAPSED, StageRules

# The holdout is decided from 64 bits of a keyed hash: shares are exact to 1 in 2**64.
_HASH_BITS = 64


@dataclass(frozen=True)
class WinbackStep:
    sequence: str  # the day the lapse began, e.g. 2026-03-23
    step: int  # 0-based: the reminder, the offer, the last chance
    due_on: date

    def key(self, customer_id: str) -> str:
        return f"winback#{customer_id}#{self.sequence}#{self.step}"


def winback_step(
    profile: Profile, today: date, steps: tuple[int, ...], rules: StageRules
) -> WinbackStep | None:
    """The win-back step the customer is due today, if any: the latest whose day has come
    (a day the daily run missed sends that step late, and never an earlier one after a later
    one). None unless the customer is lapsed (at risk or dormant) now."""
    if profile.stage not in LAPSED or profile.lapsed_since is None:
        return None
    began = rules.day_of(profile.lapsed_since)
    days = (today - began).days
    reached = [number for number, offset in enumerate(steps) if offset <= days]
    if not reached:
        return None
    step = reached[-1]
    return WinbackStep(began.isoformat(), step, date.fromordinal(began.toordinal() + steps[step]))


def held_out(key: bytes, programme: str, customer_id: str, share: float) -> bool:
    """True for the `share` of customers a programme holds out (they receive nothing from it,
    so its lift can be measured). A keyed hash of the programme and the customer: stable
    across runs, different per programme, and not guessable without the key."""
    if not 0 <= share < 1:
        raise ValueError(f"a holdout share must be at least 0 and below 1, got {share}")
    digest = hmac.new(key, f"{programme}\x00{customer_id}".encode(), hashlib.sha256).digest()
    point = int.from_bytes(digest[: _HASH_BITS // 8], "big")
    return point < share * (1 << _HASH_BITS)
