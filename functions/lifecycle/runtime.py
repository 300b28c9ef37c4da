"""Wiring: real adapters built once per cold start and shared by every invocation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from lifecycle.adapters.dynamo import (
    DynamoLedger,
    DynamoOrderHistory,
    DynamoPreferences,
    DynamoRatings,
    DynamoSuppressions,
)
from lifecycle.adapters.scheduler import OneTimeSchedules
from lifecycle.adapters.secrets import secret_bytes
from lifecycle.adapters.ses import SesEmailSender
from lifecycle.adapters.sns import SnsSmsSender, SnsTopicAlerts
from lifecycle.messaging.catalog import CATALOG
from lifecycle.messaging.dispatcher import Counter, Dispatcher
from lifecycle.messaging.links import LinkSigner
from lifecycle.messaging.policy import ContactPolicy
from lifecycle.messaging.renderer import LAYOUT_PARTS, LAYOUTS, Renderer
from lifecycle.settings import Settings, SettingsError

# Sends are never retried by the SDK: a retried timeout could deliver a message twice. The
# trigger retries instead (with bisection and a dead-letter queue), after the dispatcher has
# decided whether the claim may be released.
_SEND_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10)
# Ledger writes are conditional, so retrying them is safe; a lost `mark_sent` is costly.
_TABLE_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=3, read_timeout=5
)


def check_templates(templates_dir: Path) -> None:
    """Fail the cold start, not every message, when the templates are not where they should
    be (a deploy without the templates layer, a renamed file)."""
    required = [f"{LAYOUTS}/{part}" for part in LAYOUT_PARTS]
    required += [f"{spec.template}/{part}" for spec in CATALOG.values() for part in spec.parts]
    missing = [name for name in required if not (templates_dir / name).is_file()]
    if missing:
        raise SettingsError(
            f"templates missing under {templates_dir}: {', '.join(missing)} "
            "(is the templates layer attached and TEMPLATES_DIR right?)"
        )


def link_signer(settings: Settings) -> LinkSigner | None:
    """The signer for unsubscribe and preference links, where the function has the key."""
    if not settings.link_signing_secret:
        return None
    client = boto3.client("secretsmanager", config=_TABLE_CONFIG)
    return LinkSigner(
        secret_bytes(client, settings.link_signing_secret),
        settings.preferences_url or "",
        valid_days=settings.link_valid_days,
    )


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    ledger: DynamoLedger
    dispatcher: Dispatcher
    customers: Callable[[str], dict[str, Any] | None]
    orders: Callable[[str], dict[str, Any] | None]
    schedules: OneTimeSchedules | None
    signer: LinkSigner | None  # where the function has the link key
    ratings: DynamoRatings | None  # the feedback functions only
    history: DynamoOrderHistory
    alerts: SnsTopicAlerts | None  # where complaints go (the rating follow-up only)


def build(settings: Settings, count: Counter) -> Runtime:
    """Create clients and the dispatcher for these settings."""
    check_templates(settings.templates_dir)
    dynamodb = boto3.client("dynamodb", config=_TABLE_CONFIG)
    ledger = DynamoLedger(
        dynamodb,
        settings.ledger_table,
        lease_seconds=settings.claim_lease_seconds,
        retention_days=settings.ledger_retention_days,
    )
    sns = boto3.client("sns", config=_SEND_CONFIG)
    sms = SnsSmsSender(sns, settings.sms_sender_id)
    signer = link_signer(settings)
    dispatcher = Dispatcher(
        policy=ContactPolicy(
            DynamoSuppressions(dynamodb, settings.suppressions_table),
            DynamoPreferences(dynamodb, settings.preferences_table),
            sms,
        ),
        ledger=ledger,
        renderer=Renderer(settings.templates_dir, settings.default_locale, settings.business),
        email=SesEmailSender(
            boto3.client("sesv2", config=_SEND_CONFIG), settings.ses_configuration_set
        ),
        sms=sms,
        business=settings.business,
        unsubscribe_links=signer if settings.preferences_url else None,
        count=count,
    )
    deserializer = TypeDeserializer()

    def reader(table: str, key: str) -> Callable[[str], dict[str, Any] | None]:
        def read(value: str) -> dict[str, Any] | None:
            item = dynamodb.get_item(
                TableName=table, Key={key: {"S": value}}, ConsistentRead=True
            ).get("Item")
            return {k: deserializer.deserialize(v) for k, v in item.items()} if item else None

        return read

    group = settings.schedules.group
    feedback = settings.feedback
    return Runtime(
        settings=settings,
        ledger=ledger,
        dispatcher=dispatcher,
        customers=reader(settings.customers_table, "customer_id"),
        orders=reader(settings.orders_table, "order_id"),
        schedules=(
            OneTimeSchedules(boto3.client("scheduler", config=_SEND_CONFIG), group)
            if group
            else None
        ),
        signer=signer,
        ratings=(
            DynamoRatings(dynamodb, feedback.ratings_table) if feedback.ratings_table else None
        ),
        history=DynamoOrderHistory(dynamodb, settings.orders_table),
        alerts=(
            SnsTopicAlerts(sns, feedback.complaints_topic_arn)
            if feedback.complaints_topic_arn
            else None
        ),
    )


@cache
def current(count: Counter) -> Runtime:
    """The runtime for this process, built on first use from the environment."""
    return build(Settings.from_env(), count)


@dataclass(frozen=True)
class PreferenceCentre:
    """What the preference centre's handler needs, built once per cold start."""

    settings: Settings
    signer: LinkSigner
    preferences: DynamoPreferences
    renderer: Renderer
    customers: Callable[[str], dict[str, str]]


@cache
def preference_centre() -> PreferenceCentre:
    settings = Settings.from_env()
    signer = link_signer(settings)
    if signer is None:
        raise SettingsError("LINK_SIGNING_SECRET is required by the preference centre")
    dynamodb = boto3.client("dynamodb", config=_TABLE_CONFIG)
    return PreferenceCentre(
        settings=settings,
        signer=signer,
        preferences=DynamoPreferences(dynamodb, settings.preferences_table),
        renderer=Renderer(settings.templates_dir, settings.default_locale, settings.business),
        customers=_page_customer(dynamodb, settings.customers_table),
    )


def _page_customer(dynamodb: Any, table: str) -> Callable[[str], dict[str, str]]:
    def customer(customer_id: str) -> dict[str, str]:
        # Only what a page shows; a forgotten or unknown customer still gets the page.
        item = dynamodb.get_item(
            TableName=table,
            Key={"customer_id": {"S": customer_id}},
            ProjectionExpression="first_name, locale",
        ).get("Item", {})
        return {k: v["S"] for k, v in item.items() if "S" in v}

    return customer


@dataclass(frozen=True)
class RatingDesk:
    """What the rating endpoint needs, built once per cold start."""

    settings: Settings
    signer: LinkSigner
    ratings: DynamoRatings
    renderer: Renderer
    customers: Callable[[str], dict[str, str]]


@cache
def rating_desk() -> RatingDesk:
    settings = Settings.from_env()
    signer = link_signer(settings)
    table = settings.feedback.ratings_table
    if signer is None or table is None:
        raise SettingsError("LINK_SIGNING_SECRET and RATINGS_TABLE are required by the ratings")
    dynamodb = boto3.client("dynamodb", config=_TABLE_CONFIG)
    return RatingDesk(
        settings=settings,
        signer=signer,
        ratings=DynamoRatings(dynamodb, table),
        renderer=Renderer(settings.templates_dir, settings.default_locale, settings.business),
        customers=_page_customer(dynamodb, settings.customers_table),
    )


@dataclass(frozen=True)
class Stores:
    """The product's own tables, for functions that keep records but send nothing."""

    ledger: DynamoLedger
    suppressions: DynamoSuppressions
    preferences: DynamoPreferences


@cache
def stores() -> Stores:
    settings = Settings.from_env()
    client = boto3.client("dynamodb", config=_TABLE_CONFIG)
    return Stores(
        ledger=DynamoLedger(client, settings.ledger_table),
        suppressions=DynamoSuppressions(client, settings.suppressions_table),
        preferences=DynamoPreferences(client, settings.preferences_table),
    )


def reset() -> None:
    """Forget every cached runtime (tests and local runs that swap the AWS behind them)."""
    current.cache_clear()
    preference_centre.cache_clear()
    rating_desk.cache_clear()
    stores.cache_clear()
