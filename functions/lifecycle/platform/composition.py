"""The composition root: every port, built on first use and kept for the life of the process.

A function builds only the ports it uses (the SES feedback function never builds a renderer),
and imports an adapter only when it builds it, so a cold start pays for what it needs. Unit
tests hand fakes in: `use(Ports(core, ledger=FakeLedger(), ...))`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lifecycle.messaging.message import LAYOUT_PARTS, LAYOUTS, MessageSpec
from lifecycle.platform.settings import CoreSettings, SettingsError

if TYPE_CHECKING:
    from botocore.config import Config

    from lifecycle.adapters.cases import DynamoCases
    from lifecycle.adapters.engagement import DynamoEngagement
    from lifecycle.adapters.orders import DynamoOrderHistory
    from lifecycle.adapters.preferences import DynamoPreferences
    from lifecycle.adapters.profiles import DynamoProfiles
    from lifecycle.adapters.promo import DynamoPromoCodes
    from lifecycle.adapters.ratings import DynamoRatings
    from lifecycle.adapters.scheduler import OneTimeSchedules
    from lifecycle.adapters.sns import SnsSmsSender, SnsTopicAlerts
    from lifecycle.adapters.suppressions import DynamoSuppressions
    from lifecycle.messaging.deferral import Deferrals
    from lifecycle.messaging.dispatcher import Dispatcher
    from lifecycle.messaging.ledger import (
        CapStore,
        Ledger,
        MarkerStore,
        ProgressStore,
        StreamFailures,
    )
    from lifecycle.messaging.links import LinkSigner
    from lifecycle.messaging.renderer import Renderer
    from lifecycle.messaging.timing import Budget
    from lifecycle.profiles.settings import ProfileSettings

Counter = Callable[[str], None]
Reader = Callable[[str], dict[str, Any] | None]

T = TypeVar("T")


def _no_count(_: str) -> None:
    return None


def _send_config() -> Config:
    # Sends are never retried by the SDK: a retried timeout could deliver a message twice.
    # The trigger retries instead, after the dispatcher has decided whether the claim may go.
    from botocore.config import Config

    from lifecycle.messaging.timing import SEND_CONNECT_SECONDS, SEND_READ_SECONDS

    return Config(
        # total_max_attempts counts the first attempt (botocore's max_attempts counts retries)
        retries={"total_max_attempts": 1},
        connect_timeout=SEND_CONNECT_SECONDS,
        read_timeout=SEND_READ_SECONDS,
    )


def _table_config() -> Config:
    # Table writes are conditional, so retrying them is safe. Short timeouts and few attempts
    # keep one call within TABLE_CALL_SECONDS, which the dispatcher budgets for; it retries a
    # lost `mark_sent` itself for as long as the invocation lasts.
    from botocore.config import Config

    from lifecycle.messaging.timing import (
        TABLE_ATTEMPTS,
        TABLE_CONNECT_SECONDS,
        TABLE_READ_SECONDS,
    )

    return Config(
        retries={"total_max_attempts": TABLE_ATTEMPTS, "mode": "standard"},
        connect_timeout=TABLE_CONNECT_SECONDS,
        read_timeout=TABLE_READ_SECONDS,
    )


def check_templates(templates_dir: Path, specs: tuple[MessageSpec, ...]) -> None:
    """Fail the cold start, not every message, when the templates are not where they should
    be (a deploy without the templates layer, a renamed file)."""
    required = [f"{LAYOUTS}/{part}" for part in LAYOUT_PARTS] if specs else []
    required += [f"{spec.template}/{part}" for spec in specs for part in spec.parts]
    missing = [name for name in required if not (templates_dir / name).is_file()]
    if missing:
        raise SettingsError(
            f"templates missing under {templates_dir}: {', '.join(missing)} "
            "(is the templates layer attached and TEMPLATES_DIR right?)"
        )


def check_links(core: CoreSettings, function: str, specs: tuple[MessageSpec, ...]) -> None:
    """A function that sends topic email (marketing, the feedback request) cannot start
    without its link configuration: every such email carries a signed unsubscribe link."""
    topical = sorted(spec.template for spec in specs if spec.topic is not None)
    missing = core.links.missing()
    if topical and missing:
        raise SettingsError(
            f"{function} sends topic email ({', '.join(topical)}) and needs "
            f"{' and '.join(missing)} for its unsubscribe links"
        )


def may_defer(spec: MessageSpec) -> bool:
    """Whether quiet hours or the marketing cap may hold this message back for later."""
    from lifecycle.messaging.message import Channel, Kind, Quiet

    if spec.kind is Kind.MARKETING:
        return True  # quiet hours (SMS, and email when configured) and the cap's deferrals
    return Channel.SMS in spec.channels and spec.quiet is Quiet.DEFER


def check_deferrals(core: CoreSettings, function: str, specs: tuple[MessageSpec, ...]) -> None:
    """A function whose messages may be deferred cannot start without somewhere to defer them
    to: a message in quiet hours would otherwise come back until the morning, then be parked."""
    deferred = sorted(spec.template for spec in specs if may_defer(spec))
    missing = core.deferrals.missing()
    if deferred and missing:
        raise SettingsError(
            f"{function} may defer messages ({', '.join(deferred)}) and needs "
            f"{' and '.join(missing)}"
        )


class Ports:
    """The product's ports for one process. Keyword arguments replace a port (fakes)."""

    def __init__(self, core: CoreSettings, *, count: Counter = _no_count, **fakes: Any) -> None:
        self.core = core
        self.count = count
        self._keyed: dict[tuple[str, str], Any] = {}
        unknown = [
            name
            for name in fakes
            if not isinstance(getattr(type(self), name, None), cached_property)
        ]
        if unknown:
            raise TypeError(f"no such port: {', '.join(unknown)}")
        self.__dict__.update(fakes)

    # ------------------------------------------------------------------ AWS clients
    def client(self, service: str, *, sending: bool = False) -> Any:
        """One boto3 client per service (and retry policy) for the process."""
        key = (service, "send" if sending else "table")
        if key not in self._keyed:
            import boto3

            config = _send_config() if sending else _table_config()
            self._keyed[key] = boto3.client(service, config=config)  # type: ignore[call-overload]
        return self._keyed[key]

    # ------------------------------------------------------------------ the ledger table
    @cached_property
    def ledger(self) -> Ledger:
        from lifecycle.adapters.ledger import DynamoLedger

        return DynamoLedger(
            self.client("dynamodb"),
            self.core.ledger_table,
            lease_seconds=self.core.claim_lease_seconds,
            retention_days=self.core.ledger_retention_days,
        )

    @cached_property
    def caps(self) -> CapStore:
        from lifecycle.adapters.ledger import DynamoCaps

        return DynamoCaps(
            self.client("dynamodb"), self.core.ledger_table, self.core.ledger_retention_days
        )

    @cached_property
    def progress(self) -> ProgressStore:
        from lifecycle.adapters.ledger import DynamoProgress

        return DynamoProgress(
            self.client("dynamodb"), self.core.ledger_table, self.core.ledger_retention_days
        )

    @cached_property
    def markers(self) -> MarkerStore:
        from lifecycle.adapters.ledger import DynamoMarkers

        return DynamoMarkers(
            self.client("dynamodb"), self.core.ledger_table, self.core.ledger_retention_days
        )

    @cached_property
    def stream_failures(self) -> StreamFailures:
        from lifecycle.adapters.ledger import DynamoStreamFailures

        return DynamoStreamFailures(
            self.client("dynamodb"), self.core.ledger_table, self.core.ledger_retention_days
        )

    # ------------------------------------------------------------------ other tables
    @cached_property
    def suppressions(self) -> DynamoSuppressions:
        from lifecycle.adapters.suppressions import DynamoSuppressions

        return DynamoSuppressions(self.client("dynamodb"), self.core.suppressions_table)

    @cached_property
    def preferences(self) -> DynamoPreferences:
        from lifecycle.adapters.preferences import DynamoPreferences

        return DynamoPreferences(self.client("dynamodb"), self.core.preferences_table)

    @cached_property
    def customers(self) -> Reader:
        from lifecycle.adapters.dynamo import ItemReader

        return ItemReader(self.client("dynamodb"), self.core.customers_table, "customer_id")

    @cached_property
    def orders(self) -> Reader:
        from lifecycle.adapters.dynamo import ItemReader

        return ItemReader(self.client("dynamodb"), self.core.orders_table, "order_id")

    @cached_property
    def page_customers(self) -> Callable[[str], dict[str, str]]:
        from lifecycle.adapters.dynamo import PageCustomers

        return PageCustomers(self.client("dynamodb"), self.core.customers_table)

    @cached_property
    def history(self) -> DynamoOrderHistory:
        from lifecycle.adapters.orders import DynamoOrderHistory

        return DynamoOrderHistory(self.client("dynamodb"), self.core.orders_table)

    def profiles(self, settings: ProfileSettings) -> DynamoProfiles:
        from lifecycle.adapters.profiles import DynamoProfiles

        return self._once(
            ("profiles", settings.table),
            lambda: DynamoProfiles(
                self.client("dynamodb"), settings.table, settings.loyalty, settings.stages
            ),
        )

    def promo_codes(self, table: str) -> DynamoPromoCodes:
        from lifecycle.adapters.promo import DynamoPromoCodes

        return self._once(
            ("promo_codes", table), lambda: DynamoPromoCodes(self.client("dynamodb"), table)
        )

    def engagement(self, table: str) -> DynamoEngagement:
        from lifecycle.adapters.engagement import DynamoEngagement

        return self._once(
            ("engagement", table),
            lambda: DynamoEngagement(self.client("dynamodb"), table, self.core.ledger_table),
        )

    def ratings(self, table: str) -> DynamoRatings:
        from lifecycle.adapters.ratings import DynamoRatings

        return self._once(("ratings", table), lambda: DynamoRatings(self.client("dynamodb"), table))

    def cases(self, table: str) -> DynamoCases:
        from lifecycle.adapters.cases import DynamoCases

        return self._once(("cases", table), lambda: DynamoCases(self.client("dynamodb"), table))

    # ------------------------------------------------------------------ sending
    @cached_property
    def budget(self) -> Budget:
        """The clock and the current invocation's time budget (the kit starts it)."""
        from lifecycle.messaging.timing import Budget

        return Budget()

    @cached_property
    def signer(self) -> LinkSigner | None:
        """The signer for unsubscribe, preference and rating links, where the function has
        the key. The key itself is read on first use."""
        links = self.core.links
        if not links.signing_secret:
            return None
        from lifecycle.adapters.secrets import secret_bytes
        from lifecycle.messaging.links import LinkSigner

        return LinkSigner(
            secret_bytes(self.client("secretsmanager"), links.signing_secret),
            links.preferences_url or "",
            valid_days=links.valid_days,
        )

    @cached_property
    def renderer(self) -> Renderer:
        from lifecycle.messaging.renderer import Renderer

        core = self.core
        return Renderer(core.templates_dir, core.default_locale, core.business)

    @cached_property
    def sms(self) -> SnsSmsSender:
        from lifecycle.adapters.sns import SnsSmsSender

        return SnsSmsSender(self.client("sns", sending=True), self.core.sms_sender_id)

    @cached_property
    def deferrals(self) -> Deferrals | None:
        """Where deferred messages wait, in functions configured to defer."""
        settings = self.core.deferrals
        if settings.missing():
            return None
        from lifecycle.adapters.scheduler import ScheduledDeferrals, Target

        group, function, role = (
            settings.schedule_group,
            settings.target_arn,
            settings.scheduler_role_arn,
        )
        assert group is not None
        assert function is not None
        assert role is not None
        target = Target(function, role, settings.dead_letter_arn)
        return ScheduledDeferrals(self.schedules(group), target)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from lifecycle.adapters.ses import SesEmailSender
        from lifecycle.messaging.dispatcher import Dispatcher
        from lifecycle.messaging.message import Channel
        from lifecycle.messaging.policy import ContactPolicy

        core = self.core
        return Dispatcher(
            policy=ContactPolicy(self.suppressions, self.preferences, self.sms),
            ledger=self.ledger,
            caps=self.caps,
            renderer=self.renderer,
            email=SesEmailSender(self.client("sesv2", sending=True), core.ses_configuration_set),
            sms=self.sms,
            business=core.business,
            unsubscribe_links=self.signer if core.links.preferences_url else None,
            budget=self.budget,
            marketing_caps={
                Channel(channel): (messages, days)
                for channel, messages, days in core.marketing_caps
            },
            # Through the attribute: the kit sets the function's metrics after building.
            count=lambda name: self.count(name),
            quiet_hours=core.deferrals.quiet_hours,
            deferrals=self.deferrals,
            default_timezone=core.default_timezone,
            quiet_max_delay=core.deferrals.quiet_max_delay,
            cap_max_delay=core.deferrals.cap_max_delay,
        )

    def schedules(self, group: str) -> OneTimeSchedules:
        from lifecycle.adapters.scheduler import OneTimeSchedules

        return self._once(
            ("schedules", group),
            lambda: OneTimeSchedules(self.client("scheduler", sending=True), group),
        )

    def alerts(self, topic_arn: str) -> SnsTopicAlerts:
        from lifecycle.adapters.sns import SnsTopicAlerts

        return self._once(
            ("alerts", topic_arn),
            lambda: SnsTopicAlerts(self.client("sns", sending=True), topic_arn),
        )

    def _once(self, key: tuple[str, str], build: Callable[[], T]) -> T:
        if key not in self._keyed:
            self._keyed[key] = build()
        built: T = self._keyed[key]
        return built


_installed: Ports | None = None
_resets: list[Callable[[], None]] = []


def ports(count: Counter = _no_count) -> Ports:
    """Ports from the current environment (or the ports a test installed with `use`): what a
    function builds at its cold start, and what tools use. One function per process in Lambda;
    the local stack runs several in one process, each with its own environment, so each
    builds its own."""
    if _installed is not None:
        return _installed
    return Ports(CoreSettings.from_env(), count=count)


def use(replacement: Ports | None) -> None:
    """Run every function with these ports (unit tests with fakes); None to stop."""
    global _installed  # one composition root per process, by design
    _installed = replacement
    reset_built()


def on_reset(forget: Callable[[], None]) -> None:
    """Register a cache of something built from the ports (a stage's context)."""
    _resets.append(forget)


def reset_built() -> None:
    for forget in _resets:
        forget()


def reset() -> None:
    """Forget every port and everything built from them (tests and local runs that swap the
    AWS behind them)."""
    global _installed
    _installed = None
    reset_built()
