from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lifecycle.models import Customer, describe

BASE: dict[str, Any] = {
    "customer_id": "c-1",
    "first_name": "Ann",
    "created_at": "2026-11-22T09:00:00+00:00",
    "email": "Ann@Example.com",
}


def test_valid_customer_is_normalised_and_consent_defaults_to_no() -> None:
    customer = Customer.model_validate({**BASE, "locale": "nl_NL", "phone": "+31612345678"})

    assert customer.email == "Ann@example.com"
    assert customer.locale == "nl-NL"
    assert customer.consent.sms_transactional is False
    assert customer.consent.email_marketing is False


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"email": "ann.example.com"}, "email: not a valid email address"),
        ({"phone": "0612345678"}, "phone: not an E.164 phone number"),
        ({"phone": "+31 6 1234 5678"}, "phone: not in E.164 form"),
        ({"phone": "+3161234"}, "phone: not a valid phone number"),
        ({"first_name": None}, "first_name"),
        ({"email": None}, "needs an email or a phone"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_bad_attributes_are_named_without_their_values(
    change: dict[str, Any], expected: str
) -> None:
    values = {**BASE, **change}
    values = {k: v for k, v in values.items() if v is not None}

    with pytest.raises(ValidationError) as raised:
        Customer.model_validate(values)

    reason = describe(raised.value)
    assert expected in reason
    for value in change.values():
        if value:
            assert str(value) not in reason


def test_missing_attribute_is_reported_as_missing() -> None:
    with pytest.raises(ValidationError) as raised:
        Customer.model_validate({k: v for k, v in BASE.items() if k != "first_name"})

    assert describe(raised.value) == "missing required attribute first_name"


def test_blank_optional_attributes_mean_not_given() -> None:
    customer = Customer.model_validate({**BASE, "phone": " ", "locale": ""})

    assert customer.phone is None
    assert customer.locale is None


def test_unusable_optional_locale_and_timezone_fall_back_to_the_defaults() -> None:
    customer = Customer.model_validate({**BASE, "timezone": "Mars/Base", "locale": "en US"})

    assert customer.timezone is None
    assert customer.locale is None


def test_timezone_is_trimmed() -> None:
    assert Customer.model_validate({**BASE, "timezone": "Europe/Amsterdam "}).timezone == (
        "Europe/Amsterdam"
    )


def test_international_domain_is_kept_in_its_deliverable_ascii_form() -> None:
    customer = Customer.model_validate({**BASE, "email": "ann@bücher.de"})

    assert customer.email == "ann@xn--bcher-kva.de"


def test_address_needing_smtputf8_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        Customer.model_validate({**BASE, "email": "ännchen@example.com"})

    assert describe(raised.value) == "email: not a valid email address"
