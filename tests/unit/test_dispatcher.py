"""The one message path, with every port faked: decisions, ledger protocol, error kinds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from lifecycle.messaging.dispatcher import Dispatcher
from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.messaging.ledger import Claim
from lifecycle.messaging.message import (
    Cap,
    Channel,
    Kind,
    Message,
    MessageSpec,
    Outcome,
    Quiet,
    Status,
    WhenCapped,
)
from lifecycle.messaging.policy import ContactPolicy
from lifecycle.messaging.preferences import Preferences
from lifecycle.messaging.quiet import QuietHours
from lifecycle.messaging.renderer import Renderer
from lifecycle.messaging.timing import DISPATCH_SECONDS, RESERVE_SECONDS, TABLE_CALL_SECONDS
from lifecycle.models import Customer
from tests.conftest import ROOT
from tests.fakes import (
    BUSINESS,
    FakeCaps,
    FakeDeferrals,
    FakeEmail,
    FakeLedger,
    FakeLinks,
    FakePreferences,
    FakeSms,
    FakeSmsOptOuts,
    FakeSuppressions,
    VirtualTime,
    customer,
)


class World:
    def __init__(
        self,
        links: FakeLinks | None = None,
        marketing_caps: dict[Channel, tuple[int, int]] | None = None,
        quiet_hours: QuietHours | None = None,
        start: datetime | None = None,
        default_timezone: str = "Europe/Amsterdam",
    ) -> None:
        self.ledger = FakeLedger()
        self.caps = FakeCaps()
        self.suppressions = FakeSuppressions()
        self.preferences = FakePreferences()
        self.sms_opt_outs = FakeSmsOptOuts()
        self.email = FakeEmail()
        self.sms = FakeSms()
        self.counted: list[str] = []
        self.time = VirtualTime(start)
        self.deferrals = FakeDeferrals()
        self.dispatcher = Dispatcher(
            policy=ContactPolicy(self.suppressions, self.preferences, self.sms_opt_outs),
            ledger=self.ledger,
            caps=self.caps,
            renderer=Renderer(ROOT / "templates", "en", BUSINESS),
            email=self.email,
            sms=self.sms,
            business=BUSINESS,
            unsubscribe_links=links,
            budget=self.time.budget(),
            count=self.counted.append,
            marketing_caps=marketing_caps,
            quiet_hours=quiet_hours,
            deferrals=self.deferrals,
            default_timezone=default_timezone,
        )


def spec(
    kind: Kind = Kind.SERVICE,
    topic: str | None = None,
    stage: str = "welcome",
    *,
    fallback: bool = False,
    quiet: Quiet = Quiet.DEFER,
) -> MessageSpec:
    """A message on the welcome templates, of any kind and topic (by default without the
    other channel to fall back on, so policy decisions show as they are)."""
    return MessageSpec(
        template="welcome",
        stage=stage,
        kind=kind,
        channels=(Channel.EMAIL, Channel.SMS),
        variables=frozenset({"first_name"}),
        topic=topic,
        sms_segments=2,
        fallback=fallback,
        quiet=quiet,
    )


def message(
    channel: Channel = Channel.EMAIL, kind: Kind = Kind.SERVICE, who: Customer | None = None
) -> Message:
    target = who or customer()
    topic = "offers" if kind is Kind.MARKETING else None
    return spec(kind, topic).message(
        f"welcome#{target.customer_id}#{channel}",
        target,
        channel,
        {"first_name": target.first_name},
    )


def test_sends_once_and_marks_sent() -> None:
    world = World()

    first = world.dispatcher.dispatch(message())
    second = world.dispatcher.dispatch(message())

    assert first.status is Status.SENT
    assert second.status is Status.DUPLICATE
    assert len(world.email.sent) == 1
    assert world.ledger.items["welcome#c-1#email"]["status"] == "sent"
    assert world.counted == ["MessagesSent", "MessagesDuplicate"]


@pytest.mark.parametrize(
    ("channel", "kind", "consent", "reason"),
    [
        (Channel.SMS, Kind.SERVICE, {}, "no consent: sms_transactional"),
        (Channel.SMS, Kind.TRANSACTIONAL, {"sms_marketing": True}, "no consent: sms_transactional"),
        (Channel.SMS, Kind.MARKETING, {"sms_transactional": True}, "no consent: sms_marketing"),
        (Channel.EMAIL, Kind.MARKETING, {}, "no consent: email_marketing"),
    ],
)
def test_consent_is_per_channel_and_kind(
    channel: Channel, kind: Kind, consent: dict[str, bool], reason: str
) -> None:
    world = World(links=FakeLinks())

    outcome = world.dispatcher.dispatch(message(channel, kind, customer(consent=consent)))

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == reason
    assert world.email.sent == []
    assert world.sms.sent == []
    assert world.ledger.items[outcome.message_key] == {"status": "skipped", "reason": reason}


def test_service_email_needs_no_marketing_consent() -> None:
    world = World()

    outcome = world.dispatcher.dispatch(message(who=customer(consent={})))

    assert outcome.status is Status.SENT


def test_missing_channel_address_is_a_skip() -> None:
    world = World()

    outcome = world.dispatcher.dispatch(message(Channel.SMS, who=customer(phone=None)))

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "no phone number"


def test_suppressed_address_is_skipped_with_its_reason() -> None:
    world = World()
    world.suppressions.entries[(Channel.EMAIL, "ann@example.com")] = "permanent bounce"

    outcome = world.dispatcher.dispatch(message())

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "suppressed: permanent bounce"


def test_permanent_provider_error_is_recorded_not_raised() -> None:
    world = World()
    world.email.error = PermanentError("SES MessageRejected: bad content")

    outcome = world.dispatcher.dispatch(message())

    assert outcome.status is Status.FAILED
    assert world.ledger.items["welcome#c-1#email"]["reason"] == "SES MessageRejected: bad content"
    assert world.counted == ["MessagesFailed"]


def test_transient_error_releases_the_claim_and_propagates() -> None:
    world = World()
    world.sms.error = TransientError("SNS Throttling")

    with pytest.raises(TransientError):
        world.dispatcher.dispatch(message(Channel.SMS))

    assert "welcome#c-1#sms" not in world.ledger.items
    world.sms.error = None
    assert world.dispatcher.dispatch(message(Channel.SMS)).status is Status.SENT
    assert len(world.sms.sent) == 1


def test_sms_to_be_sent_is_transactional_unless_marketing() -> None:
    world = World()

    world.dispatcher.dispatch(message(Channel.SMS))

    (sms,) = world.sms.sent
    assert sms.marketing is False
    assert sms.phone == "+31612345678"
    assert sms.text.startswith("Welcome to Fresh Fold Laundry, Ann!")


def test_marketing_email_carries_one_click_unsubscribe_headers_and_link() -> None:
    world = World(links=FakeLinks())

    world.dispatcher.dispatch(
        message(kind=Kind.MARKETING, who=customer(consent={"email_marketing": True}))
    )

    (email,) = world.email.sent
    url = "https://freshfold.example/u/c-1/offers?sig=abc"
    assert email.headers == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert url.replace("&", "&amp;") in email.html
    assert url in email.text


def test_marketing_email_without_a_link_signer_is_retried_not_failed_for_good() -> None:
    # given a sender without the link key (ops can fix that; the cold start check stops it)
    world = World(links=None)
    offer = message(kind=Kind.MARKETING, who=customer(consent={"email_marketing": True}))

    # when the offer is dispatched, then it comes back as transient, nothing was sent
    with pytest.raises(TransientError, match="link signing key"):
        world.dispatcher.dispatch(offer)
    assert world.email.sent == []
    # and the key is free for the retry, not recorded as failed
    assert "welcome#c-1#email" not in world.ledger.items


class _UnreadableKey:
    def url_for(self, customer_id: str, topic: str | None) -> str:
        raise ConnectionError("secrets manager unreachable")


def test_a_link_key_that_cannot_be_read_at_send_time_is_transient() -> None:
    world = World(links=_UnreadableKey())  # type: ignore[arg-type]
    offer = message(kind=Kind.MARKETING, who=customer(consent={"email_marketing": True}))

    with pytest.raises(TransientError, match="link key unavailable"):
        world.dispatcher.dispatch(offer)

    assert world.email.sent == []
    assert "welcome#c-1#email" not in world.ledger.items


def test_service_email_has_no_unsubscribe_headers() -> None:
    world = World(links=FakeLinks())

    world.dispatcher.dispatch(message())

    assert world.email.sent[0].headers == {}


def test_ambiguous_error_keeps_the_claim_so_an_immediate_retry_sends_nothing() -> None:
    world = World()
    world.email.error = TransientError("SES ReadTimeoutError", ambiguous=True)

    with pytest.raises(TransientError):
        world.dispatcher.dispatch(message())

    # the claim is kept (its lease decides), so the record redelivered to an invocation with
    # no time to wait the lease out fails again, unsent
    assert world.ledger.items["welcome#c-1#email"]["status"] == "claimed"
    world.email.error = None
    world.dispatcher._budget.start(60)
    with pytest.raises(TransientError, match="claimed by another sender"):
        world.dispatcher.dispatch(message())
    assert world.email.sent == []


def test_a_live_claim_elsewhere_is_retried_not_treated_as_sent() -> None:
    world = World()
    world.ledger.items["welcome#c-1#email"] = {"status": "claimed", "token": "other"}

    with pytest.raises(TransientError):
        world.dispatcher.dispatch(message())

    assert world.email.sent == []
    assert world.counted == ["MessagesRetried"]


def test_sent_message_whose_mark_fails_is_still_reported_sent() -> None:
    world = World()

    def broken_mark(*_: object) -> None:
        raise RuntimeError("DynamoDB unavailable")

    world.ledger.mark_sent = broken_mark  # type: ignore[method-assign]

    outcome = world.dispatcher.dispatch(message())

    assert outcome.status is Status.SENT
    assert len(world.email.sent) == 1
    assert world.counted == ["MessagesSent", "MessagesSentUnmarked"]


def _topic_message(topic: str = "offers", channel: Channel = Channel.EMAIL) -> Message:
    who = customer(consent={"email_marketing": True, "sms_marketing": True})
    return spec(Kind.MARKETING, topic, "retention").message(
        f"offer#{who.customer_id}#{channel}", who, channel, {"first_name": who.first_name}
    )


@pytest.mark.parametrize(
    ("opt_outs", "reason"),
    [
        ({"email:offers"}, "unsubscribed: offers by email"),
        ({"email:*"}, "unsubscribed: all email marketing"),
    ],
)
def test_a_topic_the_customer_left_is_not_sent(opt_outs: set[str], reason: str) -> None:
    world = World(links=FakeLinks())
    world.preferences.state["c-1"] = Preferences(frozenset(opt_outs))

    outcome = world.dispatcher.dispatch(_topic_message())

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == reason
    assert world.email.sent == []


def test_leaving_one_topic_keeps_the_others() -> None:
    world = World(links=FakeLinks())
    world.preferences.state["c-1"] = Preferences(frozenset({"email:loyalty", "sms:*"}))

    assert world.dispatcher.dispatch(_topic_message("offers")).status is Status.SENT


def test_number_that_replied_stop_gets_no_sms() -> None:
    world = World()
    world.sms_opt_outs.numbers.add("+31612345678")

    outcome = world.dispatcher.dispatch(message(Channel.SMS))

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "opted out of SMS (replied STOP)"
    assert world.sms.sent == []


def test_marketing_sms_ends_with_the_opt_out_text() -> None:
    world = World()

    world.dispatcher.dispatch(_topic_message(channel=Channel.SMS))

    (sms,) = world.sms.sent
    assert sms.marketing is True
    assert sms.text.endswith("Reply STOP to opt out")


def test_service_email_with_a_topic_carries_the_unsubscribe_headers() -> None:
    # the feedback request is service mail, but it belongs to the feedback topic
    world = World(links=FakeLinks())
    feedback = spec(Kind.SERVICE, "feedback", "feedback").message(
        "feedback#o-1#email", customer(consent={}), Channel.EMAIL, {"first_name": "Ann"}
    )

    world.dispatcher.dispatch(feedback)

    (email,) = world.email.sent
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def capped(owner: str) -> Message:
    cap = Cap("quiet#c-1", owner, timedelta(days=14), "asked within the last 14 days")
    return replace(message(), key=f"feedback#{owner}", cap=cap)


def test_a_frequency_cap_holds_back_another_owners_message_within_its_window() -> None:
    world = World()

    first = world.dispatcher.dispatch(capped("o-1"))
    retried = world.dispatcher.dispatch(capped("o-1"))
    second = world.dispatcher.dispatch(capped("o-2"))

    assert first.status is Status.SENT
    assert retried.status is Status.DUPLICATE  # its own owner is not capped
    assert second.status is Status.SKIPPED
    assert second.reason == "asked within the last 14 days"
    assert world.ledger.items["feedback#o-2"]["status"] == "skipped"
    assert len(world.email.sent) == 1


def test_a_capped_message_that_did_not_go_out_gives_the_cap_back() -> None:
    world = World()
    world.email.error = PermanentError("SES MessageRejected: bad content")
    world.dispatcher.dispatch(capped("o-1"))
    world.email.error = None

    assert world.dispatcher.dispatch(capped("o-2")).status is Status.SENT


# ---------------------------------------------------------------- nothing doubled, nothing lost
def _flaky_mark(world: World, failures: int) -> list[str]:
    """Make the first `failures` "sent" marks fail; returns the log of attempts."""
    attempts: list[str] = []
    real = world.ledger.mark_sent

    def mark(claim: Claim, provider_id: str, at: datetime) -> None:
        attempts.append(claim.key)
        if len(attempts) <= failures:
            raise RuntimeError("DynamoDB throttled")
        real(claim, provider_id, at)

    world.ledger.mark_sent = mark  # type: ignore[method-assign]
    return attempts


def test_a_lost_sent_mark_is_retried_until_it_is_written() -> None:
    world = World()
    attempts = _flaky_mark(world, failures=4)

    outcome = world.dispatcher.dispatch(message())

    assert outcome.status is Status.SENT
    assert len(attempts) == 5
    assert world.ledger.items["welcome#c-1#email"]["status"] == "sent"
    assert world.time.slept == [0.05, 0.1, 0.2, 0.4]  # backing off, on the budget's clock
    # so a redelivery of the record finds it sent and sends nothing
    assert world.dispatcher.dispatch(message()).status is Status.DUPLICATE
    assert len(world.email.sent) == 1


def test_a_mark_lost_for_the_whole_budget_is_remembered_and_a_redelivery_marks_it() -> None:
    world = World()
    attempts = _flaky_mark(world, failures=10_000)
    world.dispatcher._budget.start(60)

    first = world.dispatcher.dispatch(message())

    assert first.status is Status.SENT
    # never past the invocation's budget, a whole table call kept back for the last attempt
    assert world.time.elapsed <= 60 - RESERVE_SECONDS - TABLE_CALL_SECONDS
    assert world.counted == ["MessagesSent", "MessagesSentUnmarked"]
    tried = len(attempts)
    # the table comes back; the record is redelivered to the same process after the lease
    world.time.sleep(120)
    world.ledger.mark_sent = FakeLedger.mark_sent.__get__(world.ledger)  # type: ignore[method-assign]
    world.dispatcher._budget.start(30)

    again = world.dispatcher.dispatch(message())

    assert again.status is Status.DUPLICATE
    assert len(world.email.sent) == 1
    assert world.ledger.items["welcome#c-1#email"]["status"] == "sent"
    assert tried > 5


def test_a_claim_in_doubt_is_waited_out_within_the_budget_then_decided() -> None:
    world = World()
    world.email.error = TransientError("SES ReadTimeoutError", ambiguous=True)
    with pytest.raises(TransientError):
        world.dispatcher.dispatch(message())
    world.email.error = None
    world.time.sleep(5)
    world.dispatcher._budget.start(120)  # a redelivery with time for the lease (45 s)

    outcome = world.dispatcher.dispatch(message())

    assert outcome.status is Status.SENT
    assert world.time.slept[-1] == pytest.approx(41)  # the rest of the lease, and a second
    assert len(world.email.sent) == 1


def test_a_claim_whose_lease_outlasts_the_budget_comes_back_later_without_waiting() -> None:
    world = World()
    world.ledger.items["welcome#c-1#email"] = {
        "status": "claimed",
        "token": "other",
        "lease_until": world.time.now() + timedelta(seconds=45),
    }
    world.dispatcher._budget.start(40)

    with pytest.raises(TransientError, match="until its lease runs out"):
        world.dispatcher.dispatch(message())

    assert world.time.slept == []
    assert world.email.sent == []


# ---------------------------------------------------------------- the channel a customer can get
def _order_message(who: Customer, channel: Channel = Channel.SMS) -> Message:
    return spec(Kind.TRANSACTIONAL, stage="order", fallback=True).message(
        "order#o-1#picked_up", who, channel, {"first_name": who.first_name}
    )


def test_an_update_refused_by_sms_goes_by_email_and_says_why() -> None:
    world = World()
    no_sms = customer(consent={})

    outcome = world.dispatcher.dispatch(_order_message(no_sms))

    assert outcome.status is Status.SENT
    assert outcome.channel is Channel.EMAIL
    assert outcome.reason == "sms refused: no consent: sms_transactional"
    assert len(world.email.sent) == 1
    assert world.sms.sent == []


def test_an_update_to_a_bounced_address_goes_by_sms_when_the_customer_consented() -> None:
    world = World()
    world.suppressions.entries[(Channel.EMAIL, "ann@example.com")] = "bounce"

    outcome = world.dispatcher.dispatch(_order_message(customer(), Channel.EMAIL))

    assert (outcome.status, outcome.channel) == (Status.SENT, Channel.SMS)
    assert outcome.reason == "email refused: suppressed: bounce"
    assert len(world.sms.sent) == 1


def test_with_no_channel_allowed_the_skip_names_every_refusal() -> None:
    world = World()
    world.suppressions.entries[(Channel.EMAIL, "ann@example.com")] = "bounce"

    outcome = world.dispatcher.dispatch(_order_message(customer(consent={}), Channel.EMAIL))

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "suppressed: bounce; sms: no consent: sms_transactional"
    assert world.email.sent == []
    assert world.sms.sent == []


def test_marketing_and_per_channel_messages_never_change_channel() -> None:
    world = World(links=FakeLinks())
    no_sms = customer(consent={"email_marketing": True})
    marketing = spec(Kind.MARKETING, "offers", fallback=True).message(
        "offer#c-1", no_sms, Channel.SMS, {"first_name": "Ann"}
    )
    welcome = spec().message("welcome#c-1#sms", no_sms, Channel.SMS, {"first_name": "Ann"})

    assert world.dispatcher.dispatch(marketing).status is Status.SKIPPED
    assert world.dispatcher.dispatch(welcome).status is Status.SKIPPED
    assert world.email.sent == []


def test_a_message_is_not_claimed_without_time_for_its_send_and_its_mark() -> None:
    world = World()
    world.dispatcher._budget.start(DISPATCH_SECONDS)  # less the reserve: not enough

    with pytest.raises(TransientError, match="too little time left"):
        world.dispatcher.dispatch(message())

    assert world.ledger.items == {}
    assert world.email.sent == []


# ---------------------------------------------------------------- the marketing cap
def _offer(number: int, channel: Channel = Channel.EMAIL) -> Message:
    who = customer(consent={"email_marketing": True, "sms_marketing": True})
    return spec(Kind.MARKETING, "offers", "retention").message(
        f"offer-{number}#{who.customer_id}#{channel}", who, channel, {"first_name": "Ann"}
    )


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_fifty_concurrent_marketing_messages_put_exactly_the_cap_through(limit: int) -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.EMAIL: (limit, 7)})

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(lambda n: world.dispatcher.dispatch(_offer(n)), range(50)))

    sent = [o for o in outcomes if o.status is Status.SENT]
    capped = [o for o in outcomes if o.status is Status.SKIPPED]
    assert len(sent) == limit
    assert len(world.email.sent) == limit
    assert len(capped) == 50 - limit
    assert {o.reason for o in capped} == {f"marketing cap: {limit} in 7 days"}


def test_service_messages_are_never_capped_and_never_count() -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.EMAIL: (1, 7)})

    assert world.dispatcher.dispatch(message()).status is Status.SENT  # a service email
    assert world.dispatcher.dispatch(_offer(1)).status is Status.SENT  # the one marketing
    assert world.dispatcher.dispatch(_offer(2)).status is Status.SKIPPED
    assert world.dispatcher.dispatch(replace(message(), key="welcome#c-1#again")).status is (
        Status.SENT
    )


def test_the_cap_is_per_channel_and_a_retry_is_not_capped_by_itself() -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.EMAIL: (1, 7), Channel.SMS: (1, 7)})

    assert world.dispatcher.dispatch(_offer(1)).status is Status.SENT
    assert world.dispatcher.dispatch(_offer(1, Channel.SMS)).status is Status.SENT
    # the same message again (a redelivery) finds it sent, not capped
    assert world.dispatcher.dispatch(_offer(1)).status is Status.DUPLICATE
    # and a week later another goes
    world.time.sleep(7 * 86400 + 1)
    world.dispatcher._budget.start(60)  # a new invocation
    assert world.dispatcher.dispatch(_offer(2)).status is Status.SENT


def test_a_marketing_message_that_failed_for_good_gives_its_place_back() -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.EMAIL: (1, 7)})
    world.email.error = PermanentError("SES MessageRejected: content")

    assert world.dispatcher.dispatch(_offer(1)).status is Status.FAILED
    world.email.error = None
    assert world.dispatcher.dispatch(_offer(2)).status is Status.SENT


# ---------------------------------------------------------------- the cap's "defer" option
def _waiting_offer(channel: Channel = Channel.SMS) -> Message:
    """A marketing message whose stage asks to wait for a slot when the cap holds it back."""
    offer = _offer(2, channel)
    return replace(offer, spec=replace(offer.spec, capped=WhenCapped.DEFER))


def _slot_taken(world: World, taken_at: datetime, channel: Channel = Channel.SMS) -> None:
    world.caps.items[f"marketing-cap#c-1#{channel}"] = {"owner": "offer-1", "taken_at": taken_at}


def test_a_capped_message_whose_stage_asks_waits_until_the_oldest_slot_frees() -> None:
    # given a cap of one a week, its slot taken five days ago at 09:00:30
    world = World(links=FakeLinks(), marketing_caps={Channel.SMS: (1, 7)})
    taken = world.time.now() - timedelta(days=5) + timedelta(seconds=30)
    _slot_taken(world, taken)

    outcome = world.dispatcher.dispatch(_waiting_offer())

    # then it is deferred to when that slot frees (strictly past the window, on the minute)
    assert outcome.status is Status.DEFERRED
    assert outcome.reason == "marketing cap: 1 in 7 days"
    assert outcome.deliver_at == taken + timedelta(days=7, seconds=30)
    assert world.counted == ["MessagesDeferred", "DeferredMarketingCap"]
    assert world.sms.sent == []


def test_a_slot_that_frees_in_quiet_hours_is_taken_when_they_end() -> None:
    # given the slot frees at 21:31 Amsterdam time, and quiet hours are on
    world = World(
        links=FakeLinks(),
        marketing_caps={Channel.SMS: (1, 7)},
        quiet_hours=QuietHours(time(21), time(8)),
    )
    frees = datetime(2026, 11, 22, 20, 30, 1, tzinfo=UTC)  # 21:30:01 in Amsterdam
    _slot_taken(world, frees - timedelta(days=7, seconds=1))

    outcome = world.dispatcher.dispatch(_waiting_offer())

    assert outcome.status is Status.DEFERRED
    assert outcome.deliver_at == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert outcome.reason == (
        "marketing cap: 1 in 7 days; then quiet hours until 08:00 Europe/Amsterdam "
        "(time zone from: phone)"
    )


def test_a_slot_that_frees_past_the_maximum_delay_means_the_message_is_skipped() -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.SMS: (1, 7)})
    _slot_taken(world, world.time.now() - timedelta(days=1))  # frees in six days

    outcome = world.dispatcher.dispatch(_waiting_offer())

    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "marketing cap: 1 in 7 days: past the maximum delay of 72 hours"
    assert world.counted == ["MessagesSkipped", "SkippedMarketingCap"]
    assert world.deferrals.schedules == {}


def test_a_capped_message_is_skipped_by_default_and_counted_by_its_reason() -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.SMS: (1, 7)})
    _slot_taken(world, world.time.now() - timedelta(days=5))

    outcome = world.dispatcher.dispatch(_offer(2, Channel.SMS))

    assert outcome.status is Status.SKIPPED
    assert world.counted == ["MessagesSkipped", "SkippedMarketingCap"]


def test_a_deferred_capped_message_goes_once_its_slot_has_freed() -> None:
    # given the message deferred until the slot frees
    world = World(links=FakeLinks(), marketing_caps={Channel.SMS: (1, 7)})
    _slot_taken(world, world.time.now() - timedelta(days=5))
    world.dispatcher.dispatch(_waiting_offer())
    ((deferred, until, since),) = world.deferrals.schedules.values()

    # when its schedule fires
    world.time.sleep((until - world.time.now()).total_seconds())
    world.dispatcher._budget.start(60)
    outcome = world.dispatcher.dispatch(
        replace(deferred, deferred_since=since, deferred_until=until)
    )

    # then it takes the freed slot and goes
    assert outcome.status is Status.SENT
    assert world.caps.items["marketing-cap#c-1#sms"]["owner"] == deferred.key


def test_a_deferral_that_must_wait_again_never_reuses_its_own_schedule() -> None:
    # given a deferred message firing while another took the slot it waited for
    world = World(links=FakeLinks(), marketing_caps={Channel.SMS: (1, 7)})
    now = world.time.now()
    _slot_taken(world, now - timedelta(days=7) + timedelta(seconds=1))  # frees at `now`
    message = replace(_waiting_offer(), deferred_since=now, deferred_until=now)

    outcome = world.dispatcher.dispatch(message)

    assert outcome.status is Status.DEFERRED
    assert outcome.deliver_at is not None
    assert outcome.deliver_at >= now + timedelta(minutes=1)


def test_only_marketing_may_wait_for_the_cap() -> None:
    with pytest.raises(ValueError, match="only marketing messages count against the cap"):
        replace(spec(Kind.SERVICE), capped=WhenCapped.DEFER)


def test_a_capped_message_without_deferrals_configured_comes_back() -> None:
    world = World(links=FakeLinks(), marketing_caps={Channel.SMS: (1, 7)})
    world.dispatcher._deferrals = None
    _slot_taken(world, world.time.now() - timedelta(days=5))

    with pytest.raises(TransientError, match="configuration"):
        world.dispatcher.dispatch(_waiting_offer())


def test_fifty_concurrent_messages_that_wait_for_the_cap_put_exactly_the_cap_through() -> None:
    # given a cap of 2 in 2 days (its slots free within the 72-hour limit)
    world = World(links=FakeLinks(), marketing_caps={Channel.EMAIL: (2, 2)})

    def send(number: int) -> Outcome:
        offer = _offer(number)
        return world.dispatcher.dispatch(replace(offer, spec=_waiting_offer().spec))

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(send, range(50)))

    statuses = [o.status for o in outcomes]
    assert statuses.count(Status.SENT) == 2
    assert statuses.count(Status.DEFERRED) == 48
    assert len(world.email.sent) == 2
    assert len(world.deferrals.schedules) == 48  # one each: each its own message
