"""The SDK's own retries, as the composition root configures them: a send is attempted once
(a retried timeout could deliver a message twice), a table call at most TABLE_ATTEMPTS times
and within TABLE_CALL_SECONDS, which the dispatcher budgets for."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from lifecycle.messaging.timing import (
    TABLE_ATTEMPTS,
    TABLE_CALL_SECONDS,
    TABLE_CONNECT_SECONDS,
    TABLE_READ_SECONDS,
)
from lifecycle.platform import composition


def _attempts(client: Any, call: Any) -> int:
    """How many times the client sends a request that times out every time."""
    sent: list[str] = []

    def timing_out(request: Any, **_: Any) -> None:
        sent.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send", timing_out)
    with pytest.raises(ReadTimeoutError):
        call()
    return len(sent)


def test_a_send_that_times_out_is_not_retried_by_the_sdk() -> None:
    ses = boto3.client("sesv2", config=composition._send_config())
    sns = boto3.client("sns", config=composition._send_config())

    assert _attempts(ses, lambda: ses.list_email_identities()) == 1
    assert _attempts(sns, lambda: sns.publish(PhoneNumber="+31612345678", Message="x")) == 1


def test_a_table_call_is_tried_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.sleep", lambda _: None)  # the SDK's backoff, not under test
    table = boto3.client("dynamodb", config=composition._table_config())

    assert _attempts(table, lambda: table.describe_limits()) == TABLE_ATTEMPTS
    assert TABLE_CALL_SECONDS >= TABLE_ATTEMPTS * (TABLE_CONNECT_SECONDS + TABLE_READ_SECONDS)
