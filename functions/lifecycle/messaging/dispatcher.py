"""The dispatcher: the one path every message takes, whatever the stage.

    contact policy (-> the other channel) -> frequency cap -> claim in the ledger -> render
    -> channel adapter -> mark sent

Permanent problems (no consent, suppressed, broken template, rejected address) are recorded in
the ledger with their reason and returned as an Outcome. Transient ones release the claim (or,
when the provider may have taken the message, keep it for its lease) and propagate, so the
trigger redelivers the record.

What the provider accepted is never sent again by a redelivery: a message is only claimed when
the invocation has time for its send and its mark, the "sent" mark is retried for as long as
the invocation's budget lasts, and a mark that still could not be written is kept in the
process, so a redelivery to the same process marks it instead of sending it. A key can be sent
again only when the provider accepted the message and the process never learned it: it died
between the acceptance and the mark, the table stayed unreachable for the whole budget and a
new process took over, or the send ended in a timeout or a 5xx after the provider had taken it
(the claim is kept for its lease; the retry after it sends again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from lifecycle.messaging.channels import (
    EmailSender,
    OutboundEmail,
    OutboundSms,
    SmsSender,
    UnsubscribeLinks,
)
from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.messaging.ledger import CapStore, Claim, Held, Ledger, LedgerState
from lifecycle.messaging.message import (
    Business,
    Cap,
    Channel,
    Kind,
    Message,
    Outcome,
    Status,
)
from lifecycle.messaging.policy import ContactPolicy, address_of
from lifecycle.messaging.renderer import Renderer
from lifecycle.messaging.timing import DISPATCH_SECONDS, Budget
from lifecycle.observability import logger

Counter = Callable[[str], None]


def _no_count(_: str) -> None:
    return None


def _log(message: Message) -> dict[str, str]:
    """What every log line about a message carries (ids only, never an address)."""
    return {
        "message_key": message.key,
        "stage": message.stage,
        "channel": str(message.channel),
        "customer_id": message.customer.customer_id,
    }


class Dispatcher:
    def __init__(
        self,
        *,
        policy: ContactPolicy,
        ledger: Ledger,
        caps: CapStore,
        renderer: Renderer,
        email: EmailSender,
        sms: SmsSender,
        business: Business,
        unsubscribe_links: UnsubscribeLinks | None = None,
        budget: Budget | None = None,
        count: Counter = _no_count,
        marketing_caps: Mapping[Channel, tuple[int, int]] | None = None,
    ) -> None:
        self._policy = policy
        self._ledger = ledger
        self._caps = caps
        self._renderer = renderer
        self._email = email
        self._sms = sms
        self._business = business
        self._links = unsubscribe_links
        self._budget = budget or Budget()
        self._count = count
        # Marketing messages per customer and channel, across every stage: (messages, days).
        self._marketing_caps = dict(marketing_caps or {})
        # Sent, but the mark could not be written within the budget: key -> (claim, provider id).
        self._unmarked: dict[str, tuple[Claim, str]] = {}

    def _clock(self) -> datetime:
        return self._budget.now()

    def dispatch(self, message: Message) -> Outcome:
        """Send one message at most once, or record why it was not sent."""
        refusal = self._policy.refusal(message)
        if refusal:
            other = self._other_channel(message, refusal)
            if isinstance(other, str):
                return self.skip(message, other)
            message = other
        log = _log(message)
        caps = [cap for cap in (message.cap, self._marketing_cap(message)) if cap is not None]
        taken: list[Cap] = []
        for cap in caps:
            if self._caps.take(cap, message.customer.customer_id, self._clock()):
                for held in taken:  # nothing goes out: what it took must not hold others off
                    self._caps.give_back(held)
                return self.skip(message, cap.reason)
            taken.append(cap)

        claim = self._claim(message, log)
        if isinstance(claim, Outcome):
            return claim

        try:
            provider_id = self._deliver(message)
        except PermanentError as error:
            self._ledger.mark_failed(claim, error.reason, self._clock())
            for cap in taken:  # nothing went out: the caps must not hold off the next one
                self._caps.give_back(cap)
            self._count("MessagesFailed")
            logger.error("message failed permanently", extra={**log, "reason": error.reason})
            return self._outcome(message, Status.FAILED, reason=error.reason)
        except BaseException as error:
            self._count("MessagesRetried")
            transient = error if isinstance(error, TransientError) else None
            reason = transient.reason if transient else type(error).__name__
            if transient is not None and not transient.ambiguous:
                # The provider certainly did not take it: give the key back for the retry.
                self._ledger.release(claim)
            else:
                # It may have been sent: keep the claim so no retry sends it within the lease.
                self._ledger.mark_uncertain(claim, reason, self._clock())
            logger.warning("message will be retried", extra={**log, "reason": reason})
            raise

        self._count("MessagesSent")
        if self._mark_sent(claim, provider_id, log):
            logger.info("message sent", extra={**log, "provider_id": provider_id})
        return self._outcome(message, Status.SENT, reason=message.fallback, provider_id=provider_id)

    def skip(self, message: Message, reason: str) -> Outcome:
        """Record that `message` is not sent and why (the contact policy, a cap, or a rule of
        the stage's, such as a stale order update), count and log it."""
        self._ledger.record_skip(message, reason, self._clock())
        self._count("MessagesSkipped")
        logger.info("message skipped", extra={**_log(message), "reason": reason})
        return self._outcome(message, Status.SKIPPED, reason=reason)

    def _marketing_cap(self, message: Message) -> Cap | None:
        """The cap every marketing message shares, whatever its stage: at most so many per
        customer and channel in so many days. Service and transactional ones never count."""
        limits = self._marketing_caps.get(message.channel)
        if message.kind is not Kind.MARKETING or limits is None:
            return None
        messages, days = limits
        return Cap(
            key=f"marketing-cap#{message.customer.customer_id}#{message.channel}",
            owner=message.key,
            window=timedelta(days=days),
            reason=f"marketing cap: {messages} in {days} days",
            limit=messages,
        )

    def _other_channel(self, message: Message, refusal: str) -> Message | str:
        """A service or transactional message the policy refuses on its channel goes by
        another channel of its spec that the policy allows (same key: it is one message);
        otherwise the reasons it goes by none, to record. Marketing never changes channel:
        its consent is given per channel."""
        if message.kind is Kind.MARKETING or not message.spec.fallback:
            return refusal
        reasons = [refusal]
        for channel in message.spec.channels:
            if channel is message.channel:
                continue
            other = message.by(channel, fallback=f"{message.channel} refused: {refusal}")
            refused = self._policy.refusal(other)
            if refused is None:
                return other
            reasons.append(f"{channel}: {refused}")
        return "; ".join(reasons)

    def _claim(self, message: Message, log: dict[str, str]) -> Claim | Outcome:
        """Take the message's key. A key already sent is a duplicate. A key a live claim holds
        (another sender, or a send in doubt) is waited out here when its lease ends within the
        budget, so the retry that decides comes from this invocation and the record is never
        parked before the lease let anyone decide; otherwise the record comes back later."""
        unmarked = self._unmarked.pop(message.key, None)
        if unmarked is not None:
            # This process sent it and could not mark it: mark it now (it stays remembered if
            # the table still refuses), never send it again.
            self._mark_sent(*unmarked, log)
            return self._duplicate(message, log)
        if not self._budget.allows(DISPATCH_SECONDS):
            # Lambda would stop the function between the send and its mark: nothing is claimed
            # yet, so the record simply comes back to an invocation with time for it.
            self._count("MessagesRetried")
            raise TransientError(f"{message.key}: too little time left in this invocation")
        waited = False
        while True:
            taken = self._ledger.claim(message, self._clock())
            if isinstance(taken, Claim):
                return taken
            if taken is LedgerState.SENT:
                return self._duplicate(message, log)
            assert isinstance(taken, Held)
            wait = self._until(taken)
            if waited or wait is None or not self._budget.allows(wait + DISPATCH_SECONDS):
                self._count("MessagesRetried")
                logger.warning("message claimed by another sender", extra=log)
                raise TransientError(
                    f"{message.key} is claimed by another sender (or a send in doubt) "
                    "until its lease runs out"
                )
            logger.info("waiting out the lease of a claim", extra={**log, "seconds": wait})
            self._budget.wait(wait)
            waited = True

    def _until(self, held: Held) -> float | None:
        """Seconds until the held lease can be taken over (leases are whole seconds)."""
        if held.lease_until is None:
            return None
        return max((held.lease_until - self._clock()).total_seconds(), 0.0) + 1.0

    def _duplicate(self, message: Message, log: dict[str, str]) -> Outcome:
        self._count("MessagesDuplicate")
        logger.info("message already sent", extra=log)
        return self._outcome(message, Status.DUPLICATE, reason="already sent")

    def _mark_sent(self, claim: Claim, provider_id: str, log: dict[str, str]) -> bool:
        """Write the "sent" mark, retrying while the budget lasts: the provider accepted the
        message, so failing the record now would send it again."""
        error = self._budget.persist(
            lambda: self._ledger.mark_sent(claim, provider_id, self._clock())
        )
        if error is None:
            return True
        self._unmarked[claim.key] = (claim, provider_id)
        self._count("MessagesSentUnmarked")
        logger.error(
            "message sent but not marked",
            extra={**log, "provider_id": provider_id, "error": type(error).__name__},
        )
        return False

    def _deliver(self, message: Message) -> str:
        address = address_of(message)
        if address is None:  # the policy refuses this first; kept for the type checker
            raise PermanentError("no address")
        if message.channel is Channel.SMS:
            sms = self._renderer.sms(
                message.template,
                message.customer.locale,
                message.context,
                opt_out=message.kind is Kind.MARKETING,
            )
            return self._sms.send(
                OutboundSms(
                    phone=address,
                    text=sms.text,
                    marketing=message.kind is Kind.MARKETING,
                    message_key=message.key,
                )
            )

        context = dict(message.context)
        headers: dict[str, str] = {}
        if message.topic is not None:
            # Every email that belongs to a topic can be left in one click (RFC 8058).
            if self._links is None:
                # Configuration ops can fix (the composition root refuses to start without
                # it): the message must come back, not be failed for good.
                raise TransientError("configuration: topic email needs the link signing key")
            try:
                url = self._links.url_for(message.customer.customer_id, message.topic)
            except Exception as error:
                # The key could not be read (Secrets Manager throttled or down): nothing was
                # sent, so the claim is released and the message comes back.
                raise TransientError(f"link key unavailable: {type(error).__name__}") from None
            context["unsubscribe_url"] = url
            # RFC 8058 one-click unsubscribe: mailbox providers POST to the URL.
            headers["List-Unsubscribe"] = f"<{url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        rendered = self._renderer.email(message.template, message.customer.locale, context)
        return self._email.send(
            OutboundEmail(
                to=address,
                sender=self._business.sender_email,
                sender_name=self._business.name,
                subject=rendered.subject,
                html=rendered.html,
                text=rendered.text,
                message_key=message.key,
                headers=headers,
                # The customer tag comes back on bounce and complaint notifications.
                tags={
                    "stage": message.stage,
                    "kind": str(message.kind),
                    "customer": message.customer.customer_id,
                },
            )
        )

    @staticmethod
    def _outcome(
        message: Message,
        status: Status,
        *,
        reason: str | None = None,
        provider_id: str | None = None,
    ) -> Outcome:
        return Outcome(
            message_key=message.key,
            stage=message.stage,
            channel=message.channel,
            customer_id=message.customer.customer_id,
            status=status,
            reason=reason,
            provider_id=provider_id,
        )
