"""Wiring: real adapters built once per cold start and shared by every invocation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import boto3
from botocore.config import Config

from lifecycle.adapters.dynamo import DynamoLedger, DynamoSuppressions
from lifecycle.adapters.ses import SesEmailSender
from lifecycle.adapters.sns import SnsSmsSender
from lifecycle.messaging.dispatcher import Counter, Dispatcher
from lifecycle.messaging.policy import ContactPolicy
from lifecycle.messaging.renderer import Renderer
from lifecycle.settings import Settings

# Let the trigger do the retrying (it has bisection and a dead-letter queue); a Lambda spending
# its time in SDK back-off holds up the whole shard.
_SDK_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3, read_timeout=10
)


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    ledger: DynamoLedger
    dispatcher: Dispatcher


def build(settings: Settings, count: Counter) -> Runtime:
    """Create clients and the dispatcher for these settings."""
    dynamodb = boto3.client("dynamodb", config=_SDK_CONFIG)
    ledger = DynamoLedger(
        dynamodb,
        settings.ledger_table,
        lease_seconds=settings.claim_lease_seconds,
        retention_days=settings.ledger_retention_days,
    )
    dispatcher = Dispatcher(
        policy=ContactPolicy(DynamoSuppressions(dynamodb, settings.suppressions_table)),
        ledger=ledger,
        renderer=Renderer(settings.templates_dir, settings.default_locale, settings.business),
        email=SesEmailSender(
            boto3.client("sesv2", config=_SDK_CONFIG), settings.ses_configuration_set
        ),
        sms=SnsSmsSender(boto3.client("sns", config=_SDK_CONFIG), settings.sms_sender_id),
        business=settings.business,
        count=count,
    )
    return Runtime(settings=settings, ledger=ledger, dispatcher=dispatcher)


@cache
def current(count: Counter) -> Runtime:
    """The runtime for this process, built on first use from the environment."""
    return build(Settings.from_env(), count)
