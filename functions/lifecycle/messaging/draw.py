"""Stable keyed draws: which customers a programme holds out, which variant of a campaign a
recipient gets. A keyed hash of the scope (a programme, a campaign) and the customer id:
the same customer lands in the same place on every run and every redelivery, the draws of
different scopes are independent, and a new key (HoldoutKey) redraws them all. The key is
not a secret: nobody chooses their customer id, so knowing the draw lets no one game it."""

from __future__ import annotations

import hashlib
import hmac

# A draw is made from 64 bits of the hash: shares are exact to 1 in 2**64.
_HASH_BITS = 64
_SCALE = 1 << _HASH_BITS


def point(key: bytes, scope: str, customer_id: str) -> int:
    """The customer's point in [0, 2**64) for this scope."""
    digest = hmac.new(key, f"{scope}\x00{customer_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[: _HASH_BITS // 8], "big")


def below(key: bytes, scope: str, customer_id: str, share: float) -> bool:
    """True for the `share` of customers whose point falls below it."""
    if not 0 <= share < 1:
        raise ValueError(f"a share must be at least 0 and below 1, got {share}")
    return point(key, scope, customer_id) < share * _SCALE


def pick(key: bytes, scope: str, customer_id: str, shares: list[float]) -> int | None:
    """The index of the share the customer's point falls in, the shares laid end to end from
    0 (they add up to at most 1); None past the last one."""
    at = point(key, scope, customer_id) / _SCALE
    edge = 0.0
    for index, share in enumerate(shares):
        edge += share
        if at < edge:
            return index
    return None
