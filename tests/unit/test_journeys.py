from lifecycle.journeys import welcome
from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.message import Channel
from tests.fakes import customer


def test_welcome_context_is_exactly_what_the_catalog_declares() -> None:
    for message in welcome.messages(customer()):
        spec = CATALOG[message.template]
        assert set(message.context) == spec.variables
        assert message.kind is spec.kind
        assert message.channel in spec.channels


def test_welcome_goes_to_the_channels_the_customer_has_an_address_for() -> None:
    both = welcome.messages(customer())
    email_only = welcome.messages(customer(phone=None))
    sms_only = welcome.messages(customer(email=None))

    assert [m.channel for m in both] == [Channel.EMAIL, Channel.SMS]
    assert [m.channel for m in email_only] == [Channel.EMAIL]
    assert [m.channel for m in sms_only] == [Channel.SMS]
    assert [m.key for m in both] == ["welcome#c-1#email", "welcome#c-1#sms"]
