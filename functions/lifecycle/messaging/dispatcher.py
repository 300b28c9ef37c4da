"""The dispatcher: the one path every message takes, whatever the stage.

    contact policy -> frequency cap -> claim in the ledger -> render -> channel adapter -> mark sent

Permanent problems (no consent, suppressed, broken template, rejected address) are recorded in
the ledger with their reason and returned as an Outcome. Transient ones release the claim and
propagate, so the trigger redelivers the record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from lifecycle.messaging.channels import (
    EmailSender,
    OutboundEmail,
    OutboundSms,
    SmsSender,
    UnsubscribeLinks,
)
from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.messaging.ledger import CapStore, Claim, Ledger, LedgerState
from lifecycle.messaging.message import Business, Channel, Kind, Message, Outcome, Status
from lifecycle.messaging.policy import ContactPolicy, address_of
from lifecycle.messaging.renderer import Renderer
from lifecycle.observability import logger

Counter = Callable[[str], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        clock: Callable[[], datetime] = _utcnow,
        count: Counter = _no_count,
    ) -> None:
        self._policy = policy
        self._ledger = ledger
        self._caps = caps
        self._renderer = renderer
        self._email = email
        self._sms = sms
        self._business = business
        self._links = unsubscribe_links
        self._clock = clock
        self._count = count

    def dispatch(self, message: Message) -> Outcome:
        """Send one message at most once, or record why it was not sent."""
        log = _log(message)
        refusal = self._policy.refusal(message)
        if refusal:
            return self.skip(message, refusal)
        cap = message.cap
        if cap is not None and self._caps.take(cap, message.customer.customer_id, self._clock()):
            return self.skip(message, cap.reason)

        claim = self._ledger.claim(message, self._clock())
        if claim is LedgerState.SENT:
            self._count("MessagesDuplicate")
            logger.info("message already sent", extra=log)
            return self._outcome(message, Status.DUPLICATE, reason="already sent")
        if not isinstance(claim, Claim):
            # Another sender holds a live claim (or died holding it): come back after its lease.
            self._count("MessagesRetried")
            logger.warning("message claimed by another sender", extra=log)
            raise TransientError(f"{message.key} is claimed by another sender")

        try:
            provider_id = self._deliver(message)
        except PermanentError as error:
            self._ledger.mark_failed(claim, error.reason, self._clock())
            if cap is not None:  # nothing went out: the cap must not hold off the next one
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

        self._record_sent(claim, provider_id, log)
        return self._outcome(message, Status.SENT, provider_id=provider_id)

    def skip(self, message: Message, reason: str) -> Outcome:
        """Record that `message` is not sent and why (the contact policy, a cap, or a rule of
        the stage's, such as a stale order update), count and log it."""
        self._ledger.record_skip(message, reason, self._clock())
        self._count("MessagesSkipped")
        logger.info("message skipped", extra={**_log(message), "reason": reason})
        return self._outcome(message, Status.SKIPPED, reason=reason)

    def _record_sent(self, claim: Claim, provider_id: str, log: dict[str, str]) -> None:
        self._count("MessagesSent")
        try:
            self._ledger.mark_sent(claim, provider_id, self._clock())
        except Exception:
            # The provider accepted the message: failing the record now would send it again.
            # The key stays claimed; ops can find it by the log line and the metric.
            self._count("MessagesSentUnmarked")
            logger.exception(
                "message sent but not marked", extra={**log, "provider_id": provider_id}
            )
            return
        logger.info("message sent", extra={**log, "provider_id": provider_id})

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
