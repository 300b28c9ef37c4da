"""Signed links: one-click unsubscribe, the preference centre, one-tap ratings, and the staff's
"I'm on it" / "resolved" links in complaint alerts.

A token carries its claims (the customer id and a topic, or an order, customer and score) and
an expiry, and an HMAC-SHA256 over them and the link's purpose with a key from Secrets
Manager. It reveals no address, cannot be guessed or altered, is bound to one customer, and
works only for the purpose it was made for. Layout: `1.<base64url(json)>.<base64url(mac)>`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

VERSION = "1"


class InvalidLink(ValueError):
    """The token cannot be trusted; `kind` is malformed, forged or expired."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} link")
        self.kind = kind


@dataclass(frozen=True)
class LinkClaims:
    customer_id: str
    topic: str  # a topic, or "*" for all marketing
    expires: datetime


@dataclass(frozen=True)
class RatingClaims:
    order_id: str
    customer_id: str
    score: int
    expires: datetime


RATING_SCORES = range(1, 6)

# What a staff link in a complaint alert does to its case.
CASE_ACTIONS = ("acknowledge", "resolve")


@dataclass(frozen=True)
class CaseClaims:
    case_id: str
    action: str  # one of CASE_ACTIONS
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LinkSigner:
    """Makes and checks tokens. The key is fetched on first use (senders of topic mail and the
    preference centre only), then kept for the life of the process."""

    def __init__(
        self,
        key_source: Callable[[], bytes],
        base_url: str,
        *,
        valid_days: int = 365,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._key_source = key_source
        self._base_url = base_url
        self._valid = timedelta(days=valid_days)
        self._clock = clock

    @cached_property
    def _key(self) -> bytes:
        key = self._key_source()
        if len(key) < 32:
            raise ValueError("the link signing key must be at least 32 bytes")
        return key

    def _mac(self, purpose: str, signed: str) -> bytes:
        return hmac.new(self._key, f"{purpose}:{signed}".encode(), hashlib.sha256).digest()

    def _sign(self, purpose: str, claims: dict[str, Any], valid: timedelta) -> str:
        expires = int((self._clock() + valid).timestamp())
        payload = _b64(json.dumps({**claims, "x": expires}, separators=(",", ":")).encode())
        signed = f"{VERSION}.{payload}"
        return f"{signed}.{_b64(self._mac(purpose, signed))}"

    def _open(
        self, purpose: str, token: str, *, allow_expired: bool
    ) -> tuple[dict[str, Any], datetime]:
        """The signed claims of a genuine token made for `purpose`; InvalidLink otherwise. A
        token made for another purpose (an unsubscribe link used as a rating) is forged."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION or len(token) > 1024:
            raise InvalidLink("malformed")
        signed = f"{parts[0]}.{parts[1]}"
        try:
            mac = _unb64(parts[2])
        except (binascii.Error, ValueError):
            raise InvalidLink("malformed") from None
        # Base64 lets the last character's spare bits vary: only the canonical spelling counts,
        # so any one-character change to a token is refused.
        if _b64(mac) != parts[2]:
            raise InvalidLink("forged")
        if not hmac.compare_digest(mac, self._mac(purpose, signed)):
            raise InvalidLink("forged")
        try:
            data = json.loads(_unb64(parts[1]))
            expires = datetime.fromtimestamp(int(data["x"]), UTC)
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidLink("malformed") from None
        if not isinstance(data, dict):
            raise InvalidLink("malformed")
        if expires <= self._clock() and not allow_expired:
            raise InvalidLink("expired")
        return data, expires

    def token(self, customer_id: str, topic: str | None) -> str:
        return self._sign("link", {"c": customer_id, "t": topic or "*"}, self._valid)

    def url_for(self, customer_id: str, topic: str | None) -> str:
        return f"{self._base_url}?{urlencode({'t': self.token(customer_id, topic)})}"

    def verify(self, token: str, *, allow_expired: bool = False) -> LinkClaims:
        """The claims of a genuine, unexpired token; InvalidLink otherwise. `allow_expired`
        is for one-click unsubscribes: an old but genuine link may still only unsubscribe."""
        data, expires = self._open("link", token, allow_expired=allow_expired)
        try:
            return LinkClaims(customer_id=str(data["c"]), topic=str(data["t"]), expires=expires)
        except KeyError:
            raise InvalidLink("malformed") from None

    def rating_token(self, order_id: str, customer_id: str, score: int, valid_days: int) -> str:
        """One tap in a feedback request: this score, for this order, by this customer."""
        if score not in RATING_SCORES:
            raise ValueError(f"a rating is 1 to 5, not {score}")
        claims = {"o": order_id, "c": customer_id, "s": score}
        return self._sign("rating", claims, timedelta(days=valid_days))

    def verify_rating(self, token: str) -> RatingClaims:
        """The rating a genuine, unexpired rating link stands for; InvalidLink otherwise."""
        data, expires = self._open("rating", token, allow_expired=False)
        try:
            score = int(str(data["s"]))
            claims = RatingClaims(
                order_id=str(data["o"]),
                customer_id=str(data["c"]),
                score=score,
                expires=expires,
            )
        except (KeyError, ValueError):
            raise InvalidLink("malformed") from None
        if score not in RATING_SCORES:
            raise InvalidLink("malformed")
        return claims

    def case_token(self, case_id: str, action: str, valid_days: int) -> str:
        """One staff link in a complaint alert: acknowledge or resolve this case. Its own
        purpose, so no customer's rating or unsubscribe link can stand in for it."""
        if action not in CASE_ACTIONS:
            raise ValueError(f"a case link acknowledges or resolves, not {action!r}")
        return self._sign("case", {"k": case_id, "a": action}, timedelta(days=valid_days))

    def verify_case(self, token: str) -> CaseClaims:
        """The case and action a genuine, unexpired case link stands for; InvalidLink
        otherwise."""
        data, expires = self._open("case", token, allow_expired=False)
        try:
            claims = CaseClaims(case_id=str(data["k"]), action=str(data["a"]), expires=expires)
        except KeyError:
            raise InvalidLink("malformed") from None
        if claims.action not in CASE_ACTIONS or not claims.case_id:
            raise InvalidLink("malformed")
        return claims

    def form_token(self, token: str) -> str:
        """A per-link token the preference centre's form must send back (no cross-site posts)."""
        return _b64(self._mac("form", token))[:32]

    def check_form_token(self, token: str, presented: str) -> bool:
        # Bytes, so a non-ASCII value is simply unequal rather than an error.
        return hmac.compare_digest(self.form_token(token).encode(), presented.encode())
