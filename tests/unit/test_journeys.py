from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.message import Channel, Message
from lifecycle.messaging.plan import Send
from lifecycle.models import Customer
from lifecycle.stages.welcome import journey as welcome
from tests.fakes import customer


def sends(who: Customer) -> list[Message]:
    """The messages of the welcome plan; every step of it is a send."""
    steps = welcome.plan(who).steps
    assert all(isinstance(step, Send) for step in steps)
    return [step.message for step in steps if isinstance(step, Send)]


def test_welcome_context_is_exactly_what_the_catalog_declares() -> None:
    for message in sends(customer()):
        spec = CATALOG[message.template]
        assert set(message.context) == spec.variables
        assert message.kind is spec.kind
        assert message.channel in spec.channels


def test_welcome_goes_to_the_channels_the_customer_has_an_address_for() -> None:
    both = sends(customer())
    email_only = sends(customer(phone=None))
    sms_only = sends(customer(email=None))

    assert [m.channel for m in both] == [Channel.EMAIL, Channel.SMS]
    assert [m.channel for m in email_only] == [Channel.EMAIL]
    assert [m.channel for m in sms_only] == [Channel.SMS]
    assert [m.key for m in both] == ["welcome#c-1#email", "welcome#c-1#sms"]
