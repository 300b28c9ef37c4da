"""The dispatcher: the one path every message takes, whatever the stage.

    contact policy (-> the other channel) -> deadline -> quiet hours -> frequency caps
    -> claim in the ledger -> render -> channel adapter -> mark sent

A message in the recipient's quiet hours, or held back by the marketing cap where its spec
asks for that, is deferred: a one-time schedule dispatches it again when the window ends or a
slot frees, through this same path, so every rule is checked again when it goes. One that
could no longer arrive in time (past the maximum delay, counted from when it was first held
back, or past its own `deliver_by`) is skipped with its reason instead.

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
from enum import StrEnum
from typing import TYPE_CHECKING

from lifecycle.messaging.channels import (
    EmailSender,
    OutboundEmail,
    OutboundSms,
    SmsSender,
    UnsubscribeLinks,
)
from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.messaging.ledger import (
    SLOT_TAKEN,
    CapStore,
    Claim,
    Held,
    Ledger,
    LedgerState,
    Marker,
    SlotTaken,
)
from lifecycle.messaging.message import (
    Business,
    Cap,
    Channel,
    Kind,
    Message,
    Outcome,
    Quiet,
    Status,
    WhenCapped,
)
from lifecycle.messaging.policy import ContactPolicy, address_of
from lifecycle.messaging.quiet import QuietHours, local_clock
from lifecycle.messaging.renderer import Renderer
from lifecycle.messaging.timing import DISPATCH_SECONDS, Budget
from lifecycle.messaging.zones import RecipientZone, recipient_zone
from lifecycle.observability import logger

if TYPE_CHECKING:
    from lifecycle.messaging.deferral import Deferrals

Counter = Callable[[str], None]


class Hold(StrEnum):
    """Why a message was held back, as its metrics name it (`DeferredQuietHours`,
    `SkippedMarketingCap`...), beside `MessagesDeferred` and `MessagesSkipped`."""

    QUIET_HOURS = "QuietHours"
    MARKETING_CAP = "MarketingCap"
    FREQUENCY_CAP = "FrequencyCap"  # a message's own cap (one feedback request a fortnight)
    DEADLINE = "Deadline"  # past its `deliver_by`


# A deferral fired by its own schedule that must wait again never reuses that schedule (it is
# deleted once it has run): it goes at least this much later.
_AGAIN = timedelta(minutes=1)


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
        quiet_hours: QuietHours | None = None,
        deferrals: Deferrals | None = None,
        default_timezone: str = "UTC",
        quiet_max_delay: timedelta = timedelta(hours=12),
        cap_max_delay: timedelta = timedelta(hours=72),
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
        self._quiet_hours = quiet_hours
        self._deferrals = deferrals
        self._default_timezone = default_timezone
        self._max_delay = {Hold.QUIET_HOURS: quiet_max_delay, Hold.MARKETING_CAP: cap_max_delay}
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
        if message.deliver_by is not None and self._clock() >= message.deliver_by:
            reason = f"too late: it had to arrive by {self._by(message)}"
            return self.skip(message, reason, Hold.DEADLINE)
        zone = recipient_zone(message.customer, self._default_timezone)
        quiet = self._quiet(message, zone)
        if quiet is not None:
            return quiet
        log = _log(message)
        marketing = self._marketing_cap(message)
        caps = [cap for cap in (message.cap, marketing) if cap is not None]
        fused = self._fused(message, caps, marketing)
        if isinstance(fused, datetime):
            assert marketing is not None
            return self._capped(message, marketing, fused, zone)
        claim: Claim | Outcome | SlotTaken = SLOT_TAKEN
        taken: list[Cap] = []
        if fused is not None:
            # The cap's marker, read ahead and free, is taken by the claim's own write.
            claim = self._claim(message, log, fused)
            taken = [marketing] if marketing is not None else []
        if isinstance(claim, SlotTaken):
            took = self._take_caps(message, caps, marketing, zone)
            if isinstance(took, Outcome):
                return took
            taken = took
            claim = self._claim(message, log)
        if isinstance(claim, Outcome):
            return claim
        assert isinstance(claim, Claim)

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

    def _take_caps(
        self, message: Message, caps: list[Cap], marketing: Cap | None, zone: RecipientZone
    ) -> list[Cap] | Outcome:
        """Take each cap's marker; the outcome (skipped, deferred) of the first that holds
        the message back, after giving back what the others took."""
        taken: list[Cap] = []
        for cap in caps:
            held_since = self._caps.take(cap, message.customer.customer_id, self._clock())
            if held_since:
                for held in taken:  # nothing goes out: what it took must not hold others off
                    self._caps.give_back(held)
                if cap is not marketing:
                    return self.skip(message, cap.reason, Hold.FREQUENCY_CAP)
                return self._capped(message, cap, held_since, zone)
            taken.append(cap)
        return taken

    def _capped(
        self, message: Message, cap: Cap, held_since: datetime, zone: RecipientZone
    ) -> Outcome:
        """The marketing cap holds the message back: deferred until a slot frees, or skipped,
        as its spec says."""
        if message.spec.capped is WhenCapped.DEFER:
            return self._defer(message, cap.frees(held_since), cap.reason, zone, Hold.MARKETING_CAP)
        return self.skip(message, cap.reason, Hold.MARKETING_CAP)

    def _fused(
        self, message: Message, caps: list[Cap], marketing: Cap | None
    ) -> Marker | datetime | None:
        """Where the marketing cap alone applies and its markers were read ahead (`prepare`):
        the free marker the claim takes with it, or when the cap's earliest marker was taken
        if it holds the message back; None to take the caps the usual way."""
        free_slot = getattr(self._caps, "free_slot", None)
        if marketing is None or caps != [marketing] or free_slot is None:
            return None
        found = free_slot(marketing, self._clock())
        if isinstance(found, str):
            return Marker(found, marketing, message.customer.customer_id)
        return found if isinstance(found, datetime) else None

    def prepare(self, messages: list[Message]) -> None:
        """Read ahead, in a few batch calls, what dispatching a page of messages will ask of
        the tables (topics, suppressions, marketing cap markers), so each message then costs
        only its own writes and its send. Until `forget_prepared`: a page's reads are
        seconds old when its messages go, never a page's older."""
        self._policy.prefetch(messages)
        read_caps = getattr(self._caps, "prefetch", None)
        if read_caps is not None:
            read_caps([cap for m in messages if (cap := self._marketing_cap(m)) is not None])

    def forget_prepared(self) -> None:
        self._policy.forget_ahead()
        forget = getattr(self._caps, "forget_ahead", None)
        if forget is not None:
            forget()

    def refusal(self, message: Message) -> str | None:
        """Why the contact policy would refuse `message` (consent, the customer's topics, a
        suppression), without sending or recording anything: who a holdout would have
        reached."""
        return self._policy.refusal(message)

    def skip(self, message: Message, reason: str, hold: Hold | None = None) -> Outcome:
        """Record that `message` is not sent and why (the contact policy, a cap, quiet hours,
        or a rule of the stage's, such as a stale order update), count and log it."""
        self._ledger.record_skip(message, reason, self._clock())
        self._count("MessagesSkipped")
        if hold is not None:
            self._count(f"Skipped{hold}")
        logger.info("message skipped", extra={**_log(message), "reason": reason})
        return self._outcome(message, Status.SKIPPED, reason=reason)

    # ------------------------------------------------------------------ holding back
    def _quiet(self, message: Message, zone: RecipientZone) -> Outcome | None:
        """Defer (or, too late, skip) a message that would arrive in the recipient's quiet
        hours; None when it may go now."""
        rules = self._quiet_hours
        if rules is None or not rules.covers(message.channel, message.kind):
            return None
        if message.spec.quiet is Quiet.SEND and message.kind is not Kind.MARKETING:
            return None  # time-critical: it is about something happening now
        opening = rules.opening(self._clock(), zone.name)
        if opening is None:
            return None
        if message.deferred_until is not None and opening <= message.deferred_until:
            # This is that very deferral, its schedule firing a moment early: it goes.
            return None
        return self._defer(message, opening, _quiet_reason(opening, zone), zone, Hold.QUIET_HOURS)

    def _defer(
        self, message: Message, until: datetime, reason: str, zone: RecipientZone, hold: Hold
    ) -> Outcome:
        """Schedule the message for `until`, or skip it when it could not arrive in time. A
        marketing cap slot that frees in the recipient's quiet hours is taken when they end."""
        now = self._clock()
        since = message.deferred_since or now
        if message.deferred_until is not None and until < message.deferred_until + _AGAIN:
            until = message.deferred_until + _AGAIN
        if hold is Hold.MARKETING_CAP:
            until = _next_minute(until)
            rules = self._quiet_hours
            opening = None
            if rules is not None and rules.covers(message.channel, message.kind):
                opening = rules.opening(until, zone.name)
            if opening is not None:
                until = opening
                reason = f"{reason}; then {_quiet_reason(opening, zone)}"
        limit = self._max_delay[hold]
        if until - since > limit:
            hours = limit.total_seconds() / 3600
            return self.skip(message, f"{reason}: past the maximum delay of {hours:g} hours", hold)
        if message.deliver_by is not None and until >= message.deliver_by:
            return self.skip(
                message, f"{reason}: it would arrive after its deadline {self._by(message)}", hold
            )
        if self._deferrals is None:
            # Configuration ops can fix (the kit refuses to start without it): come back.
            raise TransientError("configuration: deferring a message needs its schedule group")
        log = _log(message)
        # The schedule first: a ledger write that fails leaves a schedule whose send finds the
        # key unsent, never a "deferred" record with nothing to send it.
        self._deferrals.defer(message, until, since)
        recorded = self._ledger.record_deferred(
            message,
            reason,
            until,
            since,
            now,
            {"timezone": zone.name, "timezone_source": str(zone.source)},
        )
        if not recorded:
            # Sent, or being sent, already: its deferral will find it so and send nothing.
            return self._duplicate(message, log)
        self._count("MessagesDeferred")
        self._count(f"Deferred{hold}")
        logger.info(
            "message deferred",
            extra={**log, "reason": reason, "deliver_at": until.isoformat()},
        )
        return self._outcome(message, Status.DEFERRED, reason=reason, deliver_at=until)

    def _by(self, message: Message) -> str:
        """A message's deadline as the recipient's clock reads it, for its reason."""
        assert message.deliver_by is not None
        zone = recipient_zone(message.customer, self._default_timezone)
        return f"{message.deliver_by.astimezone(zone.info):%Y-%m-%d %H:%M} {zone.name}"

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

    def _claim(
        self, message: Message, log: dict[str, str], marker: Marker | None = None
    ) -> Claim | Outcome | SlotTaken:
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
            if marker is None:
                taken = self._ledger.claim(message, self._clock())
            else:
                taken = self._ledger.claim(message, self._clock(), marker)
            if isinstance(taken, Claim | SlotTaken):
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
                tags=_tags(message),
            )
        )

    @staticmethod
    def _outcome(
        message: Message,
        status: Status,
        *,
        reason: str | None = None,
        provider_id: str | None = None,
        deliver_at: datetime | None = None,
    ) -> Outcome:
        return Outcome(
            message_key=message.key,
            stage=message.stage,
            channel=message.channel,
            customer_id=message.customer.customer_id,
            status=status,
            reason=reason,
            provider_id=provider_id,
            deliver_at=deliver_at,
        )


def _tags(message: Message) -> dict[str, str]:
    """The SES tags of an email: they come back on every event SES publishes about it. The
    customer ties a complaint to its customer; the ledger key (`message`) ties a delivery,
    open or click to its ledger item; stage, campaign and variant (the message's sequence: a
    campaign's A/B variant, a retention programme) are what engagement is counted by. Ids
    only, never an address."""
    tags = {
        "stage": message.stage,
        "kind": str(message.kind),
        "customer": message.customer.customer_id,
        "message": message.key,
    }
    if message.campaign:
        tags["campaign"] = message.campaign
    if message.sequence:
        tags["variant"] = message.sequence
    return tags


def _quiet_reason(opening: datetime, zone: RecipientZone) -> str:
    """`quiet hours until 08:00 Europe/Amsterdam (time zone from: phone)`."""
    clock = local_clock(opening, zone.name)
    return f"quiet hours until {clock} {zone.name} (time zone from: {zone.source})"


def _next_minute(moment: datetime) -> datetime:
    """The moment, or the next whole minute after it (schedules read better on the minute)."""
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)
