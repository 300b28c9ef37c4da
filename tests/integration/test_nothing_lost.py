"""The two ways messages were lost or doubled under faults, through the real handlers with
Lambda-shaped events, and what now holds instead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import time_machine
from botocore.exceptions import ClientError, EndpointConnectionError

from lifecycle.platform.composition import Ports
from tests.conftest import Aws, load_event
from tests.fakes import VirtualTime
from tests.integration.test_welcome_handler import _insert

ORDERS = "OrdersFunction"
WELCOME = "WelcomeFunction"


def _record(status: str) -> dict[str, Any]:
    record: dict[str, Any] = load_event(f"orders-{status.replace('_', '-')}.json")["Records"][0]
    return record


def _failed(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def _redeliver(batch: list[dict[str, Any]], response: dict[str, Any]) -> list[dict[str, Any]]:
    """What Lambda sends next: the batch from its lowest failed sequence number on."""
    lowest = min(_failed(response), key=int)
    return [r for r in batch if int(r["dynamodb"]["SequenceNumber"]) >= int(lowest)]


@pytest.fixture
def shop(aws: Aws) -> Iterator[Aws]:
    """Sanne (nl-NL, SMS consent) has order o-5001, confirmed; the clock stands before pickup."""
    sanne = load_event("customers-insert.json")["Records"][1]["dynamodb"]["NewImage"]
    boto3.client("dynamodb").put_item(TableName="CustomersTable", Item=sanne)
    with time_machine.travel(datetime(2026, 11, 22, 10, 5, tzinfo=UTC), tick=False):
        aws.invoke(ORDERS, load_event("orders-scheduled.json"))
        yield aws


@pytest.mark.parametrize("later", ["in_process", "ready"])
def test_an_update_that_failed_is_not_overtaken_by_a_later_one_of_its_batch(
    shop: Aws, later: str
) -> None:
    # given [picked_up, later] for one order, and an SNS that refuses the first connection
    batch = [_record("picked_up"), _record(later)]
    shop.fail_calls("sns", "Publish", lambda: EndpointConnectionError(endpoint_url="sns"))

    first = shop.invoke(ORDERS, {"Records": batch}, SEND_IN_PROCESS="true")

    # then both are reported, and the later one did not move the order's progress on
    assert _failed(first) == [r["dynamodb"]["SequenceNumber"] for r in batch]
    assert shop.sms() == []
    assert shop.ledger(f"order#o-5001#{later}") is None

    # when Lambda redelivers from the failed record
    again = shop.invoke(ORDERS, {"Records": _redeliver(batch, first)}, SEND_IN_PROCESS="true")

    # then the customer hears both, in order, once each
    assert again == {"batchItemFailures": []}
    texts = [text for _, text in shop.sms()]
    assert len(texts) == 2
    assert shop.ledger("order#o-5001#picked_up")["status"] == "sent"
    assert shop.ledger(f"order#o-5001#{later}")["status"] == "sent"


def _marks_sent(params: dict[str, Any]) -> bool:
    state = params.get("ExpressionAttributeValues", {}).get(":state", {})
    return bool(state == {"S": "sent"} and params.get("TableName") == "LedgerTable")


def _throttled() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "UpdateItem",
    )


def test_a_message_whose_sent_mark_fails_is_never_sent_again(aws: Aws) -> None:
    # given [c-1, c-2]: c-1's send is throttled, and the first marks of c-2's send fail
    batch = [
        _insert("c-1", "101", email="one@example.com"),
        _insert("c-2", "102", email="two@example.com"),
    ]
    aws.fail_sends("sesv2", "SendEmail", "TooManyRequestsException", lambda p: True)
    marks = aws.fail_calls("dynamodb", "UpdateItem", _throttled, _marks_sent, times=3)

    first = aws.invoke(WELCOME, {"Records": batch})
    # c-1 failed, so c-2 was not even tried
    assert _failed(first) == ["101", "102"]
    second = aws.invoke(WELCOME, {"Records": _redeliver(batch, first)})

    # then c-2's mark was retried until it was written, and the record succeeded
    assert second == {"batchItemFailures": []}
    assert len(marks) == 3
    assert aws.ledger("welcome#c-2#email")["status"] == "sent"

    # and a third delivery (a shard restarted from an older checkpoint) sends nothing
    assert aws.invoke(WELCOME, {"Records": batch}) == {"batchItemFailures": []}
    assert sorted(email.to for email in aws.emails()) == ["one@example.com", "two@example.com"]


def test_a_mark_refused_for_the_whole_invocation_is_written_by_the_next_delivery(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a table that refuses every "sent" mark while it is down, on a virtual clock
    time = VirtualTime(datetime.now(UTC))
    budget = time.budget()
    monkeypatch.setattr(Ports, "budget", property(lambda _: budget))
    batch = [_insert("c-2", "102", email="two@example.com")]
    down = [True]
    marks = aws.fail_calls(
        "dynamodb", "UpdateItem", _throttled, lambda p: down[0] and _marks_sent(p), times=10_000
    )

    first = aws.invoke(WELCOME, {"Records": batch})

    # the provider took it: the record is a success, the mark was retried for the whole
    # invocation (never past it), and the key stays claimed
    assert first == {"batchItemFailures": []}
    assert aws.ledger("welcome#c-2#email")["status"] == "claimed"
    assert len(marks) > 10
    assert time.elapsed < 90

    # when the table is back and the batch comes again, long after the lease (same process)
    down[0] = False
    time.sleep(600)
    again = aws.invoke(WELCOME, {"Records": batch})

    # then it is marked, not sent again
    assert again == {"batchItemFailures": []}
    assert aws.ledger("welcome#c-2#email")["status"] == "sent"
    assert len(aws.emails()) == 1
