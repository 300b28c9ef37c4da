"""The handler kit: cold-start checks and ordered-stream semantics, with every port faked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pydantic import BaseModel

from lifecycle.local.stack import LOCAL_PARAMETERS, LocalContext, LocalStack
from lifecycle.messaging.message import Channel
from lifecycle.messaging.plan import EMPTY, Once, Plan, Send
from lifecycle.platform import composition, kit
from lifecycle.platform.effects import UndeclaredMessage
from lifecycle.platform.settings import CoreSettings, SettingsError
from lifecycle.stages.feedback import follow_up, request
from lifecycle.stages.feedback.messages import REFERRAL_ASK
from lifecycle.stages.welcome import handler as welcome_handler
from lifecycle.stages.welcome.messages import WELCOME
from tests.fakes import FakeLedger, FakeStreamFailures, VirtualTime, customer


@pytest.fixture
def environment_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set a function's environment as the template gives it (no AWS is touched)."""

    def apply(function: str, *, without: tuple[str, ...] = ()) -> None:
        spec = LocalStack.from_template(LOCAL_PARAMETERS).function(function)
        for name, value in spec.environment.items():
            monkeypatch.setenv(name, value)
        for name in without:
            monkeypatch.delenv(name, raising=False)

    yield apply
    composition.reset()


@pytest.mark.parametrize(
    ("function", "handler", "event"),
    [
        ("FeedbackFunction", request.handler, {"order_id": "o-1"}),
        ("RatingFollowUpFunction", follow_up.handler, {"Records": []}),
    ],
)
@pytest.mark.parametrize("missing", ["LINK_SIGNING_SECRET", "PREFERENCES_URL"])
def test_a_function_that_sends_topic_email_refuses_to_start_without_its_link_configuration(
    environment_of: Any, function: str, handler: Any, event: dict[str, Any], missing: str
) -> None:
    # given a function whose messages belong to a topic, deployed without part of its links
    environment_of(function, without=(missing,))

    # when it is first invoked, then it fails its cold start naming what is missing
    with pytest.raises(SettingsError, match=missing) as raised:
        handler(event, LocalContext(function_name=function))

    assert "unsubscribe links" in str(raised.value)


def test_a_function_without_topic_messages_needs_no_link_configuration(
    environment_of: Any,
) -> None:
    environment_of("WelcomeFunction", without=("LINK_SIGNING_SECRET", "PREFERENCES_URL"))
    unit: kit.Unit[None] = kit.Unit(stage="welcome", service="welcome-probe")

    stage = kit.context(unit)

    assert stage.ports.signer is None


def _record(sequence: str) -> dict[str, Any]:
    return {
        "eventID": f"e-{sequence}",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:stream",
        "dynamodb": {"SequenceNumber": sequence, "NewImage": {"id": {"S": sequence}}},
    }


def test_once_a_record_fails_no_later_record_of_the_batch_is_processed(
    environment_of: Any,
) -> None:
    # given a stream handler whose second record fails
    environment_of("WelcomeFunction")
    failures = FakeStreamFailures()
    composition.use(
        composition.Ports(CoreSettings.from_env(), ledger=FakeLedger(), stream_failures=failures)
    )
    seen: list[str] = []

    def on_record(record: kit.StreamRecord, stage: kit.Stage[None]) -> Plan:
        sequence = record.sequence_number
        seen.append(str(sequence))
        if sequence == "2":
            raise ConnectionError("provider unreachable")
        return EMPTY

    unit: kit.Unit[None] = kit.Unit(stage="probe", service="ordered-probe")
    handler = kit.stream(unit, on_record, events=frozenset({kit.StreamEvent.INSERT}))

    # when a batch of four arrives
    response = handler(
        {"Records": [_record(n) for n in ("1", "2", "3", "4")]},
        LocalContext(function_name="probe"),
    )

    # then the failed record and every later one are reported, and none after it ran
    assert seen == ["1", "2"]
    assert response == {"batchItemFailures": [{"itemIdentifier": n} for n in ("2", "3", "4")]}
    # and their keys are noted under the first failed one, for a replay
    assert list(failures.logged) == ["arn:stream#2"]
    assert [entry["sequence"] for entry in failures.logged["arn:stream#2"]] == ["2", "3", "4"]


def test_a_failed_batch_pauses_longer_each_time_until_it_goes_through(
    environment_of: Any,
) -> None:
    # given a stream handler whose record fails four times, then succeeds; pauses up to 5 s
    environment_of("WelcomeFunction")
    core = replace(CoreSettings.from_env(), stream_retry_pause_seconds=5)
    time = VirtualTime()
    composition.use(
        composition.Ports(core, stream_failures=FakeStreamFailures(), budget=time.budget())
    )
    outcomes = iter([ConnectionError] * 4 + [None])

    def on_record(record: kit.StreamRecord, stage: kit.Stage[None]) -> Plan:
        error = next(outcomes)
        if error:
            raise error("throttled")
        return EMPTY

    unit: kit.Unit[None] = kit.Unit(stage="probe", service="pause-probe")
    handler = kit.stream(unit, on_record, events=frozenset({kit.StreamEvent.INSERT}))

    # when Lambda redelivers it at once, each time
    for _ in range(5):
        handler({"Records": [_record("7")]}, LocalContext(function_name="probe"))

    # then each failed attempt paused before returning: 1, 2, 4, then the 5 s most
    assert time.slept == [1, 2, 4, 5]


class _Work(BaseModel):
    customer_id: str


def test_a_queue_batch_reports_only_the_messages_that_failed(environment_of: Any) -> None:
    # given a queue handler for which c-2 fails, and a message that is not work at all
    environment_of("WelcomeFunction")
    ledger = FakeLedger()
    composition.use(composition.Ports(CoreSettings.from_env(), ledger=ledger))
    done: list[str] = []

    def on_message(work: _Work, stage: kit.Stage[None]) -> Plan:
        if work.customer_id == "c-2":
            raise ConnectionError("provider unreachable")
        done.append(work.customer_id)
        return EMPTY

    unit: kit.Unit[None] = kit.Unit(stage="probe", service="queue-probe")
    handler = kit.queue(unit, on_message, _Work)
    bodies = ['{"customer_id": "c-1"}', '{"customer_id": "c-2"}', "not json", '{"x": 1}']
    records = [{"messageId": f"m-{i}", "body": body} for i, body in enumerate(bodies, 1)]

    # when the batch arrives
    response = handler({"Records": records}, LocalContext(function_name="probe"))

    # then the others were processed (SQS messages are independent), only m-2 comes back,
    # and the malformed ones are dropped rather than retried forever
    assert done == ["c-1"]
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert ledger.items["probe#message-m-3#rejected"]["reason"] == (
        "queue message is not _Work: JSONDecodeError"
    )
    assert ledger.items["probe#message-m-4#rejected"]["reason"] == (
        "queue message is not _Work: ValidationError"
    )


def test_a_message_cannot_be_sent_once_by_a_marker_taken_before_it() -> None:
    # a marker taken first and a send that then failed transiently would lose the message
    message = WELCOME.message("welcome#c-1#email", customer(), Channel.EMAIL, {"first_name": "A"})

    with pytest.raises(ValueError, match="their own keys"):
        Once("ses-feedback#1", "ses-feedback", (Send(message),), mark_first=True)


def test_a_function_cannot_send_a_message_its_unit_does_not_declare(
    environment_of: Any,
) -> None:
    # given the welcome function's context (it declares only the welcome message)
    environment_of("WelcomeFunction")
    composition.use(composition.Ports(CoreSettings.from_env(), ledger=FakeLedger()))
    stage = kit.context(welcome_handler.UNIT)
    ask = REFERRAL_ASK.message(
        "referral#c-1#o-1",
        customer(consent={"email_marketing": True}),
        Channel.EMAIL,
        {"first_name": "Ann", "referral_url": "https://freshfold.example/book?ref=c-1"},
    )

    # when a plan asks it to send the referral ask, then it refuses (its templates and links
    # were never checked at cold start)
    with pytest.raises(UndeclaredMessage, match="referral_ask"):
        stage.run(Plan((Send(ask),)))
