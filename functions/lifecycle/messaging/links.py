"""Signed links: one-click unsubscribe and the preference centre.

A token carries the customer id, the topic (or `*`) and an expiry, and an HMAC-SHA256 over
them with a key from Secrets Manager. It reveals no address, cannot be guessed or altered, and
is bound to one customer. Layout: `1.<base64url(json)>.<base64url(mac)>`.
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

    def token(self, customer_id: str, topic: str | None) -> str:
        expires = int((self._clock() + self._valid).timestamp())
        payload = _b64(
            json.dumps(
                {"c": customer_id, "t": topic or "*", "x": expires}, separators=(",", ":")
            ).encode()
        )
        signed = f"{VERSION}.{payload}"
        return f"{signed}.{_b64(self._mac('link', signed))}"

    def url_for(self, customer_id: str, topic: str | None) -> str:
        return f"{self._base_url}?{urlencode({'t': self.token(customer_id, topic)})}"

    def verify(self, token: str, *, allow_expired: bool = False) -> LinkClaims:
        """The claims of a genuine, unexpired token; InvalidLink otherwise. `allow_expired`
        is for one-click unsubscribes: an old but genuine link may still only unsubscribe."""
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
        if not hmac.compare_digest(mac, self._mac("link", signed)):
            raise InvalidLink("forged")
        try:
            data = json.loads(_unb64(parts[1]))
            claims = LinkClaims(
                customer_id=str(data["c"]),
                topic=str(data["t"]),
                expires=datetime.fromtimestamp(int(data["x"]), UTC),
            )
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidLink("malformed") from None
        if claims.expires <= self._clock() and not allow_expired:
            raise InvalidLink("expired")
        return claims

    def form_token(self, token: str) -> str:
        """A per-link token the preference centre's form must send back (no cross-site posts)."""
        return _b64(self._mac("form", token))[:32]

    def check_form_token(self, token: str, presented: str) -> bool:
        # Bytes, so a non-ASCII value is simply unequal rather than an error.
        return hmac.compare_digest(self.form_token(token).encode(), presented.encode())
