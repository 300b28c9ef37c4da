"""What one Pinpoint user becomes: addresses, consent and opt-outs, names and attributes per
the mapping, and the problems reported instead of guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lifecycle.local.pinpoint_samples import SAMPLE_FILE, SAMPLE_USERS, export_bytes
from lifecycle.pinpoint import endpoints as kinds
from lifecycle.pinpoint.endpoints import Line, read
from lifecycle.pinpoint.mapping import Mapping, MappingError, load, read_value, template_folder

EVENTS = Path(__file__).resolve().parents[2] / "events" / "pinpoint"


def _endpoint(**changes: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "Id": "e-1",
        "ChannelType": "EMAIL",
        "Address": "ann@example.com",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "EffectiveDate": "2025-05-01T10:00:00.000Z",
        "CreationDate": "2024-01-02T03:04:05.000Z",
        "Demographic": {"Locale": "en_US", "Timezone": "America/New_York"},
        "Location": {"City": "New York"},
        "Attributes": {"Interests": ["shirts", "duvets"]},
        "User": {"UserId": "u-1", "UserAttributes": {"FirstName": ["Ann"]}},
    }
    endpoint.update(changes)
    return endpoint


def _users(*endpoints: dict[str, Any], mapping: Mapping | None = None) -> Any:
    lines = [Line(f"part.gz:{n}", json.dumps(e)) for n, e in enumerate(endpoints, 1)]
    return read(lines, mapping or Mapping())


def test_the_sample_export_is_the_generators_output() -> None:
    # the committed sample is what pinpoint_samples makes (so both stay in step)
    assert (EVENTS / SAMPLE_FILE).read_bytes() == export_bytes(SAMPLE_USERS)


def test_a_users_endpoints_become_one_customer_with_consent_per_channel() -> None:
    found = _users(
        _endpoint(),
        _endpoint(Id="e-2", ChannelType="SMS", Address="+31612345678", OptOut="ALL"),
    )
    [customer] = found.customers()
    assert customer.customer_id == "u-1"
    assert customer.row["email"] == "ann@example.com"
    assert customer.row["phone"] == "+31612345678"
    assert customer.row["locale"] == "en-US"
    assert customer.row["timezone"] == "America/New_York"
    assert customer.row["city"] == "New York"
    assert customer.row["created_at"] == customer.row["welcomed_at"] == "2024-01-02T03:04:05+00:00"
    # the SMS endpoint opted out: no SMS consent at all, and an opt-out of SMS marketing
    assert customer.row["consent"] == {
        "email_marketing": True,
        "sms_marketing": False,
        "sms_transactional": False,
    }
    assert [(str(o.channel), o.at.year) for o in customer.opt_outs] == [("sms", 2025)]
    assert found.problems == []


def test_the_newest_endpoint_of_a_channel_wins_and_the_older_is_reported() -> None:
    found = _users(
        _endpoint(Address="old@example.com", EffectiveDate="2023-01-01T00:00:00Z"),
        _endpoint(Id="e-2", Address="new@example.com"),
    )
    [customer] = found.customers()
    assert customer.row["email"] == "new@example.com"
    assert [(p.kind, p.where) for p in found.problems] == [(kinds.OLDER_ENDPOINT, "part.gz:1")]


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"Address": "ann@@example.com"}, kinds.BAD_EMAIL),
        ({"ChannelType": "SMS", "Address": "0612345678"}, kinds.BAD_PHONE),
        ({"ChannelType": "GCM", "Address": "token"}, kinds.OTHER_CHANNEL),
        ({"EndpointStatus": "INACTIVE"}, kinds.INACTIVE),
    ],
)
def test_an_endpoint_that_cannot_be_carried_is_reported_and_its_user_too(
    changes: dict[str, Any], kind: str
) -> None:
    found = _users(_endpoint(**changes))
    assert found.customers() == []
    assert [p.kind for p in found.problems] == [kind, kinds.NO_ADDRESS]
    assert all("ann@@" not in p.detail and "0612" not in p.detail for p in found.problems)


def test_a_user_without_a_first_name_needs_the_mappings_default() -> None:
    nameless = _endpoint(User={"UserId": "u-1", "UserAttributes": {}})
    found = _users(nameless)
    assert found.customers() == []
    assert [p.kind for p in found.problems] == [kinds.NO_FIRST_NAME]
    [customer] = _users(nameless, mapping=Mapping(first_name_default="there")).customers()
    assert customer.row["first_name"] == "there"


def test_the_mapping_names_attributes_the_consent_field_and_an_id_prefix() -> None:
    mapping = Mapping(
        attributes={"Attributes.Interests": "interests"},
        consent_attribute="Attributes.MarketingOptIn",
        customer_id_prefix="pp-",
    )
    said_yes = _endpoint(Attributes={"Interests": ["shirts", "duvets"], "MarketingOptIn": ["Yes"]})
    [customer] = _users(said_yes, mapping=mapping).customers()
    assert customer.customer_id == "pp-u-1"
    assert customer.row["interests"] == "shirts, duvets"
    assert "city" not in customer.row
    assert customer.row["consent"]["email_marketing"] is True
    [silent] = _users(_endpoint(), mapping=mapping).customers()
    assert silent.row["consent"]["email_marketing"] is False


def test_an_unknown_zone_or_locale_falls_back_and_is_reported() -> None:
    found = _users(_endpoint(Demographic={"Locale": "en US!", "Timezone": "Mars/Olympus_Mons"}))
    [customer] = found.customers()
    assert "timezone" not in customer.row
    assert "locale" not in customer.row
    assert sorted(p.kind for p in found.problems) == [kinds.UNKNOWN_LOCALE, kinds.UNKNOWN_ZONE]


def test_read_value_joins_lists_and_skips_blanks() -> None:
    endpoint = _endpoint()
    assert read_value(endpoint, "Attributes.Interests") == "shirts, duvets"
    assert read_value(endpoint, "User.UserAttributes.FirstName") == "Ann"
    assert read_value(endpoint, "Location.Country") is None


def test_template_folders_are_campaign_folders() -> None:
    assert template_folder("Spring Offer (v2)") == "campaign_spring_offer_v2"
    assert template_folder("pickup-promo") == "campaign_pickup_promo"


def test_a_mapping_file_with_unknown_fields_names_them(tmp_path: Path) -> None:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps({"first_name": "Name", "colour": "blue"}))
    with pytest.raises(MappingError) as raised:
        load(path)
    assert "first_name" in str(raised.value)
    assert "colour" in str(raised.value)
    assert load(EVENTS / "mapping.yaml").attributes["Attributes.ServiceZone"] == "service_zone"


def test_an_email_endpoint_cannot_give_sms_consent() -> None:
    with pytest.raises(ValueError, match="not EMAIL's consent to give"):
        Mapping(consent={"EMAIL": ("sms_transactional",)})


def test_a_user_id_that_is_an_address_becomes_a_hashed_id() -> None:
    found = _users(_endpoint(User={"UserId": "ann@example.com", "UserAttributes": {}}))
    found.mapping = Mapping(first_name_default="there")
    [customer] = found.customers()
    assert customer.customer_id.startswith("pinpoint-")
    assert "ann@" not in customer.customer_id
    assert [p.kind for p in found.problems] == [kinds.ADDRESS_ID]
    assert all("ann@example.com" not in p.detail for p in found.problems)
