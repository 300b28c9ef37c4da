"""Shared fixtures: moto-backed stack built from infra/template.yaml, sample events, fakes."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from lifecycle.local.mailbox import SentEmail, sent_emails, sent_sms
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    LocalContext,
    LocalStack,
    moto_environment,
)
from lifecycle.platform import composition

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

# The suite runs at any hour: its stack keeps quiet hours off, so a test that sends an SMS at
# 23:00 sends it. Tests of quiet hours switch them on and set the clock.
PARAMETERS = {**LOCAL_PARAMETERS, "QuietHours": "off"}


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/, as a fresh copy a test may change."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return copy.deepcopy(loaded)


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach a real account: fake credentials, fixed region, fresh runtime."""
    for key in list(os.environ):
        if key.startswith("AWS_") and key != "AWS_ACCOUNT_ID_ENDPOINT_MODE":
            monkeypatch.delenv(key, raising=False)
    for key, value in moto_environment().items():
        monkeypatch.setenv(key, value)
    composition.reset()
    yield
    composition.reset()


@dataclass
class Aws:
    stack: LocalStack

    def invoke(
        self,
        function: str,
        event: dict[str, Any],
        *,
        seconds_left: int | None = None,
        **environment: str,
    ) -> Any:
        """Call the handler the template names for `function`, with its environment (plus
        any overrides given), and its whole timeout left (or `seconds_left`)."""
        spec = self.stack.function(function)
        spec.environment.update(environment)
        context = LocalContext.for_function(spec)
        if seconds_left is not None:
            context = replace(context, timeout_seconds=seconds_left)
        with self.stack.environment_of(spec):
            return spec.load()(event, context)

    def emails(self) -> list[SentEmail]:
        return sent_emails()

    def sms(self) -> list[tuple[str, str]]:
        return sent_sms()

    def ledger(self, key: str) -> dict[str, Any] | None:
        item = (
            boto3.client("dynamodb")
            .get_item(TableName="LedgerTable", Key={"message_key": {"S": key}}, ConsistentRead=True)
            .get("Item")
        )
        if item is None:
            return None
        return {name: next(iter(value.values())) for name, value in item.items()}

    def fail_sends(
        self,
        service: str,
        operation: str,
        code: str,
        when: Callable[[dict[str, Any]], bool],
        message: str = "Rate exceeded",
    ) -> list[dict[str, Any]]:
        """Make the provider answer `code` to the first call whose parameters match."""
        from botocore.exceptions import ClientError

        return self.fail_calls(
            service,
            operation,
            lambda: ClientError({"Error": {"Code": code, "Message": message}}, operation),
            when,
        )

    def fail_calls(
        self,
        service: str,
        operation: str,
        error: Callable[[], Exception],
        when: Callable[[dict[str, Any]], bool] = lambda _: True,
        times: int = 1,
    ) -> list[dict[str, Any]]:
        """Make the first `times` calls whose parameters match raise `error()` before they
        reach the provider (so it never saw them); returns the parameters of those calls.
        Clients copy the session's hooks when they are made, so the next invocation is a cold
        start."""
        failed: list[dict[str, Any]] = []
        session = boto3.DEFAULT_SESSION
        assert session is not None

        def hook(params: dict[str, Any], **_: Any) -> None:
            if when(params) and len(failed) < times:
                failed.append(copy.deepcopy(params))
                raise error()

        session.events.register(f"before-parameter-build.{service}.{operation}", hook)
        composition.reset()
        return failed


# botocore's service models and endpoint rules, read once for the whole run: each test still
# gets a session (and clients) of its own.
_MODELS = botocore.loaders.create_loader()


def fresh_session() -> None:
    core = botocore.session.get_session()
    core.register_component("data_loader", _MODELS)
    boto3.setup_default_session(botocore_session=core)


@pytest.fixture
def aws() -> Iterator[Aws]:
    """Moto with the template's tables, a verified sender domain, fresh clients."""
    with mock_aws():
        fresh_session()
        yield Aws(LocalStack.deployed(PARAMETERS))
