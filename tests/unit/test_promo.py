"""Promo codes: their format and entropy, what a customer may type, and the redemption
decision (pure: no AWS)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.models import Order, OrderStatus
from lifecycle.profiles.model import LoyaltyRules, contribution
from lifecycle.profiles.promo import (
    ALPHABET,
    BITS,
    LENGTH,
    GiveBack,
    PromoState,
    Refusal,
    Use,
    actions,
    display,
    give_back,
    issued,
    new_code,
    normalise,
    redeem,
)

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
CODE = issued("7K2M9QXD4TFF", "c-1", "winback#s1#2", 30, NOW)


def test_the_alphabet_has_no_look_alikes_and_each_symbol_once() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)
    assert set(ALPHABET) == set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_a_code_carries_at_least_50_bits_from_its_alphabet() -> None:
    code = new_code()
    assert len(code) == LENGTH
    assert set(code) <= set(ALPHABET)
    bits = len(code) * math.log2(len(set(ALPHABET)))
    assert bits == BITS == 60
    assert bits >= 50


def test_ten_thousand_codes_are_all_different() -> None:
    codes = {new_code() for _ in range(10_000)}
    assert len(codes) == 10_000
    # and every symbol turns up (a biased draw would show here first)
    assert set("".join(codes)) == set(ALPHABET)


def test_a_code_is_shown_in_groups_of_four() -> None:
    assert display("7K2M9QXD4TFF") == "7K2M-9QXD-4TFF"


@pytest.mark.parametrize(
    "typed",
    ["7K2M-9QXD-4TFF", "7k2m 9qxd 4tff", " 7K2M9QXD4TFF ", "7k2m_9qxd_4tff", "7K2M.9QXD.4TFF"],
)
def test_what_a_customer_types_is_read_leniently(typed: str) -> None:
    assert normalise(typed) == "7K2M9QXD4TFF"


def test_look_alikes_read_as_the_symbol_they_resemble() -> None:
    assert normalise("O1IL-0000-0000") == "0111" + "0" * 8
    assert normalise("oiLl-0000-0000") == "0111" + "0" * 8


@pytest.mark.parametrize(
    "typed", ["", "7K2M-9QXD-4TF", "7K2M-9QXD-4TFFF", "7K2M-9QXD-4TFU", "7K2M-9QXD-4TF!"]
)
def test_what_cannot_be_a_code_is_refused(typed: str) -> None:
    assert normalise(typed) is None


def test_a_code_expires_after_its_days() -> None:
    assert CODE.expires_at == NOW + timedelta(days=30)
    assert not CODE.expired(NOW + timedelta(days=30))
    assert CODE.expired(NOW + timedelta(days=30, seconds=1))
    with pytest.raises(ValueError, match="at least a day"):
        issued("7K2M9QXD4TFF", "c-1", "p", 0, NOW)


# ------------------------------------------------------------------ the redemption decision

LATER = NOW + timedelta(days=3)


def test_a_code_is_redeemed_once_by_its_customer() -> None:
    decision = redeem(CODE, "c-1", "o-1", LATER)
    assert decision.ok
    assert not decision.again
    assert decision.code is not None
    assert decision.code.state is PromoState.REDEEMED
    assert (decision.code.redeemed_order, decision.code.redeemed_at) == ("o-1", LATER)


def test_the_same_order_again_is_the_same_success() -> None:
    once = redeem(CODE, "c-1", "o-1", LATER).code
    again = redeem(once, "c-1", "o-1", LATER + timedelta(hours=1))
    assert again.ok
    assert again.again
    assert again.code == once  # nothing changes: not redeemed a second time


def test_a_second_order_is_refused() -> None:
    once = redeem(CODE, "c-1", "o-1", LATER).code
    assert redeem(once, "c-1", "o-2", LATER).refused is Refusal.REDEEMED


def test_another_customers_code_is_refused_whatever_its_state() -> None:
    assert redeem(CODE, "c-2", "o-9", LATER).refused is Refusal.OTHER_CUSTOMER
    used = redeem(CODE, "c-1", "o-1", LATER).code
    assert redeem(used, "c-2", "o-9", LATER).refused is Refusal.OTHER_CUSTOMER
    expired = NOW + timedelta(days=60)
    assert redeem(CODE, "c-2", "o-9", expired).refused is Refusal.OTHER_CUSTOMER


def test_an_expired_code_is_refused() -> None:
    assert redeem(CODE, "c-1", "o-1", NOW + timedelta(days=31)).refused is Refusal.EXPIRED


def test_an_unknown_code_is_refused() -> None:
    decision = redeem(None, "c-1", "o-1", LATER)
    assert decision.refused is Refusal.UNKNOWN
    assert str(decision.refused) == "not a code this product issued"


def test_a_cancelled_order_gives_its_code_back_and_only_its_own() -> None:
    used = redeem(CODE, "c-1", "o-1", LATER).code
    assert used is not None
    assert give_back(used, "o-2") is None
    freed = give_back(used, "o-1")
    assert freed == CODE
    assert give_back(CODE, "o-1") is None  # given back already


# ------------------------------------------------------------------ what an image means


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ((None, False), ("A", False), (Use("A"),)),  # first image with a code
        ((None, False), ("A", True), ()),  # cancelled at once: never redeemed
        (("A", False), ("A", False), ()),  # the same code on a later image
        (("A", False), ("A", True), (GiveBack("A"),)),  # cancelled after redeeming
        (("A", True), ("A", True), ()),  # cancelled again
        (("A", False), ("B", False), (GiveBack("A"), Use("B"))),  # code changed
        (("A", False), (None, False), (GiveBack("A"),)),  # code removed
        ((None, False), (None, False), ()),
    ],
)
def test_only_a_change_of_code_or_cancellation_acts(
    before: tuple[str | None, bool],
    after: tuple[str | None, bool],
    expected: tuple[Use | GiveBack, ...],
) -> None:
    assert actions(*before, *after) == expected


def test_an_orders_contribution_keeps_its_code_compact() -> None:
    order = Order(
        order_id="o-1",
        customer_id="c-1",
        status=OrderStatus.SCHEDULED,
        updated_at=NOW,
        promo_code="7k2m-9qxd-4tff",
    )
    assert contribution(order, None, LoyaltyRules()).promo_code == "7K2M9QXD4TFF"
    typo = order.model_copy(update={"promo_code": "NOT-A-CODE"})
    assert contribution(typo, None, LoyaltyRules()).promo_code == "NOT-A-CODE"
    blank = Order.model_validate({**order.model_dump(), "promo_code": "  "})
    assert blank.promo_code is None
