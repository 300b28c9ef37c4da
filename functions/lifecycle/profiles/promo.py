"""Single-use promo codes: their format, and the decision to redeem one. Pure (no AWS).

A code is 12 symbols of Crockford's base32 without I, L, O and U (32 symbols, 5 bits each:
60 bits from `secrets`), shown in groups of four (`7K2M-9QXD-4TFF`). What a customer types is
read leniently: any case, spaces and dashes, and the look-alikes O for 0 and I or L for 1.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
GROUP = 4
BITS = LENGTH * math.log2(len(ALPHABET))

# What a customer may type for a symbol that is not in the alphabet but looks like one.
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = str.maketrans("", "", " -_.\t")


def new_code() -> str:
    """A fresh code, compact (as stored): LENGTH symbols from a cryptographic source."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(typed: str) -> str | None:
    """The compact code a customer meant, or None if what they typed cannot be one."""
    code = typed.upper().translate(_SEPARATORS).translate(_LOOK_ALIKES)
    if len(code) != LENGTH or any(symbol not in ALPHABET for symbol in code):
        return None
    return code


def display(code: str) -> str:
    """The code as a customer reads it: groups of four joined by dashes."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


class PromoState(StrEnum):
    ISSUED = "issued"
    REDEEMED = "redeemed"


@dataclass(frozen=True)
class PromoCode:
    """One code: whose it is, what it was issued for (the programme and step, which is also
    what makes issuing it again return the same code), and whether an order has used it."""

    code: str  # compact
    customer_id: str
    programme: str  # e.g. `winback#s1#2`: one code per customer and programme
    issued_at: datetime
    expires_at: datetime
    state: PromoState = PromoState.ISSUED
    redeemed_at: datetime | None = None
    redeemed_order: str | None = None

    def expired(self, at: datetime) -> bool:
        return at > self.expires_at


def issued(
    code: str, customer_id: str, programme: str, valid_days: int, now: datetime
) -> PromoCode:
    if valid_days < 1:
        raise ValueError("a promo code must be valid for at least a day")
    return PromoCode(code, customer_id, programme, now, now + timedelta(days=valid_days))


class Refusal(StrEnum):
    """Why an order may not use a code; the value is the reason recorded."""

    UNKNOWN = "not a code this product issued"
    OTHER_CUSTOMER = "issued to another customer"
    REDEEMED = "already redeemed on another order"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Redemption:
    """The decision on one order's use of a code: `code` as it should now be stored, or why
    not (`refused`). `again`: this order had already redeemed it (a redelivery)."""

    code: PromoCode | None
    refused: Refusal | None = None
    again: bool = False

    @property
    def ok(self) -> bool:
        return self.refused is None


def redeem(code: PromoCode | None, customer_id: str, order_id: str, at: datetime) -> Redemption:
    """May order `order_id` of `customer_id`, placed at `at`, use `code` (None: not found)?

    The owner is checked first, so another customer's code reads the same whatever its state.
    The same order again is the same success, so a redelivered image changes nothing.
    """
    if code is None:
        return Redemption(None, Refusal.UNKNOWN)
    if code.customer_id != customer_id:
        return Redemption(code, Refusal.OTHER_CUSTOMER)
    if code.state is PromoState.REDEEMED:
        if code.redeemed_order == order_id:
            return Redemption(code, again=True)
        return Redemption(code, Refusal.REDEEMED)
    if code.expired(at):
        return Redemption(code, Refusal.EXPIRED)
    return Redemption(
        replace(code, state=PromoState.REDEEMED, redeemed_at=at, redeemed_order=order_id)
    )


def give_back(code: PromoCode, order_id: str) -> PromoCode | None:
    """The code free again after order `order_id`, which redeemed it, was cancelled; None when
    that order does not hold it (it was refused, or already given back)."""
    if code.state is not PromoState.REDEEMED or code.redeemed_order != order_id:
        return None
    return replace(code, state=PromoState.ISSUED, redeemed_at=None, redeemed_order=None)


@dataclass(frozen=True)
class Use:
    """Redeem `code` for an order."""

    code: str


@dataclass(frozen=True)
class GiveBack:
    """Free `code` again: the order that redeemed it was cancelled, or now carries another."""

    code: str


def actions(
    before_code: str | None,
    before_cancelled: bool,
    after_code: str | None,
    after_cancelled: bool,
) -> tuple[Use | GiveBack, ...]:
    """What folding an order image means for its codes, given the code (compact, as typed on
    the order, possibly malformed) and cancellation of the last image folded (`before_*`, None
    for a first image) and of this one. Only a change acts, so a later image of the same
    order carrying the same code redeems nothing again."""
    held = before_code if before_code is not None and not before_cancelled else None
    wanted = after_code if not after_cancelled else None
    if held == wanted:
        return ()
    steps: list[Use | GiveBack] = []
    if held is not None:
        steps.append(GiveBack(held))
    if wanted is not None:
        steps.append(Use(wanted))
    return tuple(steps)
