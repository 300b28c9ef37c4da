"""Signed links: forged, truncated, expired and cross-customer tokens are refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.messaging.links import InvalidLink, LinkSigner

KEY = b"k" * 48
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def signer(at: datetime = NOW, key: bytes = KEY) -> LinkSigner:
    return LinkSigner(lambda: key, "https://prefs.example/preferences", clock=lambda: at)


def test_a_genuine_token_names_its_customer_and_topic() -> None:
    claims = signer().verify(signer().token("c-1", "offers"))

    assert (claims.customer_id, claims.topic) == ("c-1", "offers")


def test_url_reveals_no_address_and_tokens_are_unique_per_customer() -> None:
    url = signer().url_for("c-1", None)

    assert url.startswith("https://prefs.example/preferences?t=1.")
    assert "@" not in url
    assert signer().token("c-1", "offers") != signer().token("c-2", "offers")


@pytest.mark.parametrize("position", [3, 20, -1])
def test_a_token_changed_by_one_character_is_forged(position: int) -> None:
    token = signer().token("c-1", "offers")
    changed = token[position]
    flipped = token[:position] + ("A" if changed != "A" else "B") + token[position + 1 :]
    if position == -1:
        flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    with pytest.raises(InvalidLink) as raised:
        signer().verify(flipped)

    assert raised.value.kind in ("forged", "malformed")


def test_truncated_token_is_refused() -> None:
    token = signer().token("c-1", "offers")

    for cut in (token[:-5], token.rsplit(".", 1)[0], token[:10], ""):
        with pytest.raises(InvalidLink):
            signer().verify(cut)


def test_expired_token_is_refused() -> None:
    token = signer().token("c-1", "offers")

    with pytest.raises(InvalidLink) as raised:
        signer(NOW + timedelta(days=366)).verify(token)

    assert raised.value.kind == "expired"


def test_customer_id_swapped_inside_the_token_is_forged() -> None:
    version, payload, mac = signer().token("c-1", "offers").split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["c"] = "c-2"
    other = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    with pytest.raises(InvalidLink) as raised:
        signer().verify(f"{version}.{other}.{mac}")

    assert raised.value.kind == "forged"


def test_token_signed_with_another_key_is_forged() -> None:
    token = signer(key=b"x" * 48).token("c-1", "offers")

    with pytest.raises(InvalidLink):
        signer().verify(token)


def test_form_token_is_bound_to_its_link() -> None:
    one, two = signer().token("c-1", None), signer().token("c-2", None)

    assert signer().check_form_token(one, signer().form_token(one))
    assert not signer().check_form_token(two, signer().form_token(one))


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        signer(key=b"short").token("c-1", None)


def test_a_rating_token_names_its_order_customer_and_score() -> None:
    token = signer().rating_token("o-1", "c-1", 4, valid_days=30)

    claims = signer().verify_rating(token)

    assert (claims.order_id, claims.customer_id, claims.score) == ("o-1", "c-1", 4)


def test_rating_and_unsubscribe_tokens_do_not_stand_in_for_each_other() -> None:
    rating = signer().rating_token("o-1", "c-1", 5, valid_days=30)
    unsubscribe = signer().token("c-1", "offers")

    with pytest.raises(InvalidLink) as as_unsubscribe:
        signer().verify(rating)
    with pytest.raises(InvalidLink) as as_rating:
        signer().verify_rating(unsubscribe)

    assert as_unsubscribe.value.kind == as_rating.value.kind == "forged"


def test_a_rating_outside_one_to_five_is_never_signed() -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        signer().rating_token("o-1", "c-1", 6, valid_days=30)
