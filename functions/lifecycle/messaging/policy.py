"""Contact policy: may this message go to this customer on this channel at all?

Decided before the ledger is claimed, so a refusal costs one lookup and is recorded as a skip
with its reason. Rules that hold for every stage live here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from lifecycle.messaging.message import Channel, Kind, Message
from lifecycle.messaging.preferences import PreferenceStore

if TYPE_CHECKING:
    from lifecycle.models import Consent


class SuppressionList(Protocol):
    def reason_for(self, channel: Channel, address: str) -> str | None:
        """Why this address must not be contacted on this channel, or None if it may be."""
        ...


def address_of(message: Message) -> str | None:
    """The customer's address on the message's channel, if they gave one."""
    customer = message.customer
    return customer.email if message.channel is Channel.EMAIL else customer.phone


def consent_refusal(message: Message) -> str | None:
    """Why the customer's consent does not cover this message, or None when it does."""
    return consent_gap(message.customer.consent, message.channel, message.kind)


def consent_gap(consent: Consent, channel: Channel, kind: Kind) -> str | None:
    """Why `consent` does not cover messages of `kind` on `channel`, or None when it does
    (the preference centre asks this too, so the page shows what the policy would send).

    Email that is not marketing (welcome, order updates, feedback requests) needs no opt-in;
    marketing email needs `email_marketing`. SMS always needs an opt-in: `sms_marketing` for
    marketing, `sms_transactional` for everything else.
    """
    if channel is Channel.EMAIL:
        if kind is Kind.MARKETING and not consent.email_marketing:
            return "no consent: email_marketing"
        return None
    if kind is Kind.MARKETING:
        return None if consent.sms_marketing else "no consent: sms_marketing"
    return None if consent.sms_transactional else "no consent: sms_transactional"


class SmsOptOutList(Protocol):
    def is_opted_out(self, phone: str) -> bool:
        """True if the number replied STOP (the provider's own opt-out list)."""
        ...


class ContactPolicy:
    def __init__(
        self,
        suppressions: SuppressionList,
        preferences: PreferenceStore,
        sms_opt_outs: SmsOptOutList,
    ) -> None:
        self._suppressions = suppressions
        self._preferences = preferences
        self._sms_opt_outs = sms_opt_outs

    def prefetch(self, messages: list[Message]) -> None:
        """Read ahead, in batches, what `refusal` will look up for a page of messages (the
        customers' topics, the addresses' suppressions), where the stores can."""
        read_topics = getattr(self._preferences, "prefetch", None)
        if read_topics is not None:
            read_topics([m.customer.customer_id for m in messages if m.topic is not None])
        read_suppressions = getattr(self._suppressions, "prefetch", None)
        if read_suppressions is not None:
            addresses = [(m.channel, a) for m in messages if (a := address_of(m)) is not None]
            read_suppressions(addresses)

    def forget_ahead(self) -> None:
        for store in (self._preferences, self._suppressions):
            forget = getattr(store, "forget_ahead", None)
            if forget is not None:
                forget()

    def refusal(self, message: Message) -> str | None:
        """The reason this message must not be sent, or None when it may be."""
        address = address_of(message)
        if address is None:
            return f"no {'email address' if message.channel is Channel.EMAIL else 'phone number'}"
        refused = consent_refusal(message)
        if refused:
            return refused
        if message.topic is not None:
            # Only topic messages pay for this lookup; transactional ones have no topic.
            left = self._preferences.get(message.customer.customer_id).refusal(
                message.channel, message.topic
            )
            if left:
                return left
        return self.blocked(message.channel, address)

    def blocked(self, channel: Channel, address: str) -> str | None:
        """Why nothing at all may go to this address on this channel (it bounced or
        complained, or the number replied STOP), or None. The preference centre shows it."""
        suppressed = self._suppressions.reason_for(channel, address)
        if suppressed:
            return f"suppressed: {suppressed}"
        if channel is Channel.SMS and self._sms_opt_outs.is_opted_out(address):
            return "opted out of SMS (replied STOP)"
        return None
