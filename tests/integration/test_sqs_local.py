"""The local stack's SQS event sources: queues from the template, Lambda's SQS event shape,
partial batch responses, redrive to the dead-letter queue, maximum concurrency."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine
from aws_lambda_powertools.utilities.parser.models import SqsModel
from moto import mock_aws

from lifecycle.local.simulate import simulate
from lifecycle.local.stack import (
    TEMPLATE,
    FailureRecord,
    Invocation,
    LocalContext,
    LocalStack,
    TemplateError,
    load_template,
)
from tests import sqs_probe_handler
from tests.conftest import PARAMETERS, ROOT

PROBE_RESOURCES = """
  ProbeQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt ProbeDeadLetterQueue.Arn
        maxReceiveCount: 2

  ProbeDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600

  ProbeOrderedQueue:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      VisibilityTimeout: 45

  PlainProbeQueue:
    Type: AWS::SQS::Queue

  SqsProbeFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.sqs_probe_handler.handler
      Role: !GetAtt WelcomeRole.Arn
      Timeout: 30  # within its queue's VisibilityTimeout
      Environment:
        Variables:
          QUEUE_URL: !Ref ProbeQueue
          QUEUE_ARN: !GetAtt ProbeQueue.Arn
          ORDERED_QUEUE_NAME: !GetAtt ProbeOrderedQueue.QueueName
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt ProbeQueue.Arn
            BatchSize: 3
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig:
              MaximumConcurrency: 2
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 3 * * ? *)
            ScheduleExpressionTimezone: Europe/Amsterdam

  PlainProbeFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.sqs_probe_handler.handler
      Role: !GetAtt WelcomeRole.Arn
      Timeout: 30  # within its queue's VisibilityTimeout
      Environment:
        Variables:
          QUEUE_URL: !Ref PlainProbeQueue
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt PlainProbeQueue.Arn
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["work"]}}'
"""

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VISIBILITY_TIMEOUT = 60  # ProbeQueue's


def at(seconds: int) -> AbstractContextManager[Any]:
    """The clock `seconds` after START, standing still: a failed message stays in flight until
    its queue's visibility timeout has passed on it."""
    return time_machine.travel(START + timedelta(seconds=seconds), tick=False)


@pytest.fixture
def template_with_queues(tmp_path: Path) -> Iterator[Path]:
    """infra/template.yaml plus probe queues (one with a dead-letter queue, one FIFO) and two
    probe functions on SQS events: one with partial batch responses and a maximum concurrency,
    one with neither but a filter."""
    head, outputs = TEMPLATE.read_text(encoding="utf-8").split("\nOutputs:\n", 1)
    infra = tmp_path / "infra"
    infra.mkdir()
    (tmp_path / "templates").symlink_to(ROOT / "templates")
    (infra / "template.yaml").write_text(
        head + PROBE_RESOURCES + "\nOutputs:\n" + outputs, encoding="utf-8"
    )
    assert "SqsProbeFunction" in load_template(infra / "template.yaml")["Resources"]
    sqs_probe_handler.received.clear()
    yield infra / "template.yaml"
    sqs_probe_handler.received.clear()
    os.environ.pop("QUEUE_URL", None)


@pytest.fixture
def stack(template_with_queues: Path) -> Iterator[LocalStack]:
    with mock_aws():
        boto3.setup_default_session()
        yield LocalStack.deployed(PARAMETERS, path=template_with_queues)


def send(stack: LocalStack, queue: str, *bodies: Any) -> list[str]:
    sqs = boto3.client("sqs")
    return [
        sqs.send_message(QueueUrl=stack.queue_url(queue), MessageBody=json.dumps(b))["MessageId"]
        for b in bodies
    ]


def drain(stack: LocalStack) -> list[Invocation]:
    return stack.drain_queues(LocalContext.for_function)


def deliveries(function: str = "SqsProbeFunction") -> list[list[dict[str, Any]]]:
    """The batches `function` was invoked with, in order."""
    return [
        event["Records"]
        for name, event in sqs_probe_handler.received
        if name == function and "Records" in event
    ]


def counts(stack: LocalStack, queue: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_the_templates_queues_are_created_with_their_attributes(stack: LocalStack) -> None:
    sqs = boto3.client("sqs")

    def attributes(queue: str) -> dict[str, str]:
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        found: dict[str, str] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        return found

    ordered = attributes("ProbeOrderedQueue.fifo")
    assert ordered["FifoQueue"] == "true"
    assert ordered["ContentBasedDeduplication"] == "true"
    assert ordered["VisibilityTimeout"] == "45"
    probe = attributes("ProbeQueue")
    assert probe["VisibilityTimeout"] == "60"
    assert json.loads(probe["RedrivePolicy"]) == {
        "deadLetterTargetArn": attributes("ProbeDeadLetterQueue")["QueueArn"],
        "maxReceiveCount": 2,
    }
    assert attributes("ProbeDeadLetterQueue")["MessageRetentionPeriod"] == "1209600"
    # the real template's failure queues are there too
    assert attributes("OrdersFailureQueue")["SqsManagedSseEnabled"] == "true"


def test_a_queue_in_a_functions_environment_resolves_to_its_url_arn_and_name(
    stack: LocalStack,
) -> None:
    sqs = boto3.client("sqs")

    environment = stack.function("SqsProbeFunction").environment

    url = sqs.get_queue_url(QueueName="ProbeQueue")["QueueUrl"]
    assert environment["QUEUE_URL"] == url
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    assert environment["QUEUE_ARN"] == arn["QueueArn"]
    assert environment["ORDERED_QUEUE_NAME"] == "ProbeOrderedQueue.fifo"


def test_messages_reach_the_function_in_batches_of_its_batch_size_in_lambdas_shape(
    stack: LocalStack,
) -> None:
    with at(0):
        sent = send(stack, "ProbeQueue", *({"n": n} for n in range(5)))
        boto3.client("sqs").send_message(
            QueueUrl=stack.queue_url("ProbeQueue"),
            MessageBody="plain text",
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )

        made = drain(stack)

    batches = deliveries()
    assert [len(b) for b in batches] == [3, 3]  # BatchSize 3
    assert [m.records for m in made] == [3, 3]
    assert not any(m.failed_sequence_numbers for m in made)
    records = [r for b in batches for r in b]
    assert [r["messageId"] for r in records[:5]] == sent
    for batch in batches:
        SqsModel.model_validate({"Records": batch})  # Powertools' model of Lambda's event
    first, last = records[0], records[-1]
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == stack.function("SqsProbeFunction").environment["QUEUE_ARN"]
    assert first["awsRegion"] == "eu-west-1"
    assert first["body"] == '{"n": 0}'
    assert first["md5OfBody"] == hashlib.md5(b'{"n": 0}').hexdigest()  # noqa: S324 - SQS's digest
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert first["attributes"]["SentTimestamp"] == str(int(START.timestamp() * 1000))
    assert first["receiptHandle"]
    assert last["messageAttributes"] == {
        "origin": {
            "stringValue": "test",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert counts(stack, "ProbeQueue") == (0, 0)  # all succeeded, so all were deleted


def test_only_the_messages_reported_in_batch_item_failures_come_back(stack: LocalStack) -> None:
    with at(0):
        ok_1, flaky, ok_2 = send(stack, "ProbeQueue", {"n": 1}, {"do": "fail-once"}, {"n": 2})

        (first,) = drain(stack)

        assert first.failed_sequence_numbers == [flaky]
        assert counts(stack, "ProbeQueue") == (0, 1)  # in flight until the visibility timeout
        assert drain(stack) == []

    with at(VISIBILITY_TIMEOUT + 1):
        (again,) = drain(stack)

    (_, retry) = deliveries()
    assert [r["messageId"] for r in retry] == [flaky]
    assert retry[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert again.retried
    assert not again.failed_sequence_numbers
    assert counts(stack, "ProbeQueue") == (0, 0)
    delivered = [r["messageId"] for b in deliveries() for r in b]
    assert delivered.count(ok_1) == delivered.count(ok_2) == 1


def test_a_message_that_always_fails_ends_in_the_dead_letter_queue_after_max_receive_count(
    stack: LocalStack,
) -> None:
    with at(0):
        (doomed,) = send(stack, "ProbeQueue", {"do": "fail"})
        drain(stack)
    with at(VISIBILITY_TIMEOUT + 1):
        drain(stack)
        assert stack.failures == []  # received twice: maxReceiveCount is 2, not exceeded yet

    with at(2 * (VISIBILITY_TIMEOUT + 1)):
        assert drain(stack) == []

    receives = [r["attributes"]["ApproximateReceiveCount"] for b in deliveries() for r in b]
    assert receives == ["1", "2"]
    assert counts(stack, "ProbeQueue") == (0, 0)
    parked = boto3.client("sqs").receive_message(
        QueueUrl=stack.queue_url("ProbeDeadLetterQueue"), MaxNumberOfMessages=10
    )["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in parked] == [(doomed, '{"do": "fail"}')]
    assert stack.failures == [
        FailureRecord("SqsProbeFunction", "", 1, dead_letter_queue="ProbeDeadLetterQueue")
    ]


def test_a_raised_exception_returns_the_whole_batch(stack: LocalStack) -> None:
    with at(0):
        sent = send(stack, "ProbeQueue", {"n": 1}, {"do": "raise-once"}, {"n": 2})

        (failed,) = drain(stack)

        assert failed.failed_sequence_numbers == sent
        assert counts(stack, "ProbeQueue") == (0, 3)

    with at(VISIBILITY_TIMEOUT + 1):
        (again,) = drain(stack)

    assert [r["messageId"] for r in deliveries()[1]] == sent
    assert {r["attributes"]["ApproximateReceiveCount"] for r in deliveries()[1]} == {"2"}
    assert not again.failed_sequence_numbers
    assert counts(stack, "ProbeQueue") == (0, 0)


def test_without_report_batch_item_failures_a_reported_failure_counts_as_success(
    stack: LocalStack,
) -> None:
    # Lambda reads batchItemFailures only when the event asks for ReportBatchItemFailures:
    # the message the handler meant to fail is deleted with the rest; a raised error still
    # returns the whole batch.
    with at(0):
        send(stack, "PlainProbeQueue", {"kind": "work", "do": "fail"})

        (made,) = drain(stack)

        assert made.failed_sequence_numbers == []
        assert counts(stack, "PlainProbeQueue") == (0, 0)

        sent = send(
            stack, "PlainProbeQueue", {"kind": "work", "do": "raise-once"}, {"kind": "work"}
        )
        (raised,) = drain(stack)
        assert raised.failed_sequence_numbers == sent
        assert counts(stack, "PlainProbeQueue") == (0, 2)


def test_filter_criteria_match_the_json_body_and_the_rest_is_dropped(stack: LocalStack) -> None:
    with at(0):
        work, _ = send(stack, "PlainProbeQueue", {"kind": "work"}, {"kind": "noise"})
        boto3.client("sqs").send_message(
            QueueUrl=stack.queue_url("PlainProbeQueue"), MessageBody="not json"
        )

        drain(stack)

    assert [[r["messageId"] for r in b] for b in deliveries("PlainProbeFunction")] == [[work]]
    assert counts(stack, "PlainProbeQueue") == (0, 0)  # Lambda deletes what does not match


def test_maximum_concurrency_is_read_and_bounds_the_batches_in_flight(stack: LocalStack) -> None:
    (source,) = stack.function("SqsProbeFunction").queues
    (plain,) = stack.function("PlainProbeFunction").queues
    assert source.maximum_concurrency == 2
    assert source.allowed_concurrency == 2
    assert source.report_failures
    assert source.batch_size == 3
    assert plain.maximum_concurrency is None
    assert plain.allowed_concurrency == 1000  # the account's default quota
    assert not plain.report_failures
    assert plain.batch_size == 10

    with at(0):
        send(stack, "ProbeQueue", *({"n": n} for n in range(7)))

        made = drain(stack)

    # two batches taken together (MaximumConcurrency 2), then the last one: run one after another
    assert [(m.records, m.in_flight) for m in made] == [(3, 2), (3, 2), (1, 1)]


def test_work_a_handler_enqueues_is_processed_in_the_same_drain(stack: LocalStack) -> None:
    with at(0):
        send(stack, "ProbeQueue", {"then": {"then": {"n": "last"}}})

        made = drain(stack)

    assert len(made) == 3
    assert [json.loads(b[0]["body"]) for b in deliveries()][1:] == [
        {"then": {"n": "last"}},
        {"n": "last"},
    ]
    assert counts(stack, "ProbeQueue") == (0, 0)


def test_pump_drains_the_queues_too(stack: LocalStack) -> None:
    with at(0):
        send(stack, "ProbeQueue", {"n": 1})

        made = stack.pump(LocalContext.for_function)

    assert [m.function for m in made] == ["SqsProbeFunction"]
    assert len(deliveries()) == 1


def test_the_simulator_delivers_what_a_scheduled_run_enqueues_in_the_same_tick(
    template_with_queues: Path, tmp_path: Path
) -> None:
    simulate(
        days=2,
        template=template_with_queues,
        out_dir=tmp_path / "out",
        out=io.StringIO(),
        progress=None,
    )

    scheduled = [e for _, e in sqs_probe_handler.received if "detail-type" in e]
    queued = [r for batch in deliveries() for r in batch]
    assert len(scheduled) == 2  # 03:00 Amsterdam on each day
    assert [json.loads(r["body"])["time"] for r in queued] == [e["time"] for e in scheduled]
    # sent and first received at the same simulated instant: within the schedule's tick
    for record in queued:
        assert (
            record["attributes"]["ApproximateFirstReceiveTimestamp"]
            == (record["attributes"]["SentTimestamp"])
        )


def test_a_visibility_timeout_shorter_than_the_function_timeout_is_refused(
    template_with_queues: Path,
) -> None:
    stack = LocalStack.from_template(PARAMETERS, template_with_queues)
    stack.template["Resources"]["ProbeQueue"]["Properties"]["VisibilityTimeout"] = 10

    with pytest.raises(TemplateError, match="VisibilityTimeout 10s is less than"):
        stack.functions()
