"""Run the stack described by infra/template.yaml locally, over moto.

The template is the one source of truth: tables are created from its AWS::DynamoDB::Table
resources, each function's environment comes from its Globals and its own Variables, and stream
records reach exactly the functions whose DynamoDB events name that table, filtered by the
event's FilterCriteria, in batches of its BatchSize, with ReportBatchItemFailures and bounded
retries treated as Lambda treats them. Queues are created from its AWS::SQS::Queue resources
(with their redrive policies), and SQS events poll them as Lambda's event source mapping would:
batches of BatchSize in Lambda's record shape, partial batch responses, failed messages back
after the queue's visibility timeout, moto moving them to the dead-letter queue past
maxReceiveCount.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import importlib
import json
import logging
import os
import re
import secrets as secrets_module
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import boto3
import yaml
from moto import mock_aws

from lifecycle.local import moto_speed
from lifecycle.observability import logger
from lifecycle.platform import composition

moto_speed.install()

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
STACK_NAME = "lifecycle"  # what ${AWS::StackName} is locally
REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "infra" / "template.yaml"
# The layer whose content (templates/, copied as is) Lambda unpacks under /opt = TEMPLATES_DIR.
TEMPLATES_LAYER = "TemplatesLayer"


# Stack parameters for local runs: the sample business that templates/_layouts/sample.json
# also describes.
LOCAL_PARAMETERS = {
    "SenderEmail": "hello@freshfold.example",
    "BusinessName": "Fresh Fold Laundry",
    "BusinessPostalAddress": "Keizersgracht 100, 1015 CJ Amsterdam, Netherlands",
    "BusinessWebsite": "https://freshfold.example/book",
    "DefaultLocale": "en",
    "DefaultTimezone": "Europe/Amsterdam",
}


_SUB = re.compile(r"\$\{(\w+)\.(\w+)\}")
_PSEUDO = {
    "${AWS::Partition}": "aws",
    "${AWS::Region}": REGION,
    "${AWS::AccountId}": ACCOUNT_ID,
    "${AWS::StackName}": STACK_NAME,
}

# Lambda's default quota of concurrent executions per Region: what bounds an SQS event source
# that sets no MaximumConcurrency and a function with no reserved concurrency.
ACCOUNT_CONCURRENCY = 1000
STREAM_PAGE = 1000  # records per GetRecords, DynamoDB Streams' most

# AWS::SQS::Queue properties that are queue attributes under the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


class TemplateError(ValueError):
    """The template uses something the local runner cannot reproduce."""


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub ...)."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data: a fresh copy each call (callers may change it), parsed once per
    version of the file (the YAML parse costs more than a whole local stack's set-up)."""
    stat = path.stat()
    return copy.deepcopy(_parsed(path.resolve(), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise TemplateError(f"{path} is not a CloudFormation template")
    return loaded


@dataclass(frozen=True)
class StreamSource:
    """One DynamoDB event of a function, as the template declares it."""

    name: str
    table: str  # logical id of the table
    batch_size: int
    max_retries: int
    patterns: tuple[dict[str, Any], ...]

    def accepts(self, record: Mapping[str, Any]) -> bool:
        return not self.patterns or any(_matches(p, record) for p in self.patterns)


@dataclass(frozen=True)
class QueueSource:
    """One SQS event of a function, as the template declares it."""

    name: str
    queue: str  # logical id of the queue
    batch_size: int
    report_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]
    maximum_concurrency: int | None  # ScalingConfig.MaximumConcurrency, as written
    # What Lambda would let run at once: the lowest of MaximumConcurrency, the function's
    # ReservedConcurrentExecutions and the account's quota. The local runner invokes one batch
    # at a time; this only bounds how many batches it takes off the queue together.
    allowed_concurrency: int
    patterns: tuple[dict[str, Any], ...]

    def accepts(self, record: Mapping[str, Any]) -> bool:
        """Lambda matches SQS filters on the record with its body parsed, when it is JSON."""
        if not self.patterns:
            return True
        body: Any = record["body"]
        with contextlib.suppress(ValueError):
            body = json.loads(body)
        view = {**record, "body": body}
        return any(_matches(p, view) for p in self.patterns)


@dataclass(frozen=True)
class ScheduleSource:
    """One Schedule (EventBridge rule) or ScheduleV2 (EventBridge Scheduler) event."""

    name: str
    kind: str  # "Schedule" or "ScheduleV2"
    expression: str
    timezone: str
    input: str | None

    def payload(self, moment: datetime, function: str) -> dict[str, Any]:
        """What the function receives: the event's Input, else EventBridge's scheduled event."""
        if self.input is not None:
            loaded: dict[str, Any] = json.loads(self.input)
            return loaded
        return {
            "version": "0",
            "id": f"{function}-{self.name}-{int(moment.timestamp())}",
            "detail-type": "Scheduled Event",
            "source": "aws.events" if self.kind == "Schedule" else "aws.scheduler",
            "account": ACCOUNT_ID,
            "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{function}-{self.name}"],
            "detail": {},
        }


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    environment: dict[str, str]
    streams: tuple[StreamSource, ...]
    schedules: tuple[ScheduleSource, ...] = ()
    topics: tuple[str, ...] = ()  # logical ids of the SNS topics it subscribes to
    has_url: bool = False  # served by a Function URL
    queues: tuple[QueueSource, ...] = ()
    timeout: int = 30  # seconds (the template's Timeout)
    name: str | None = None  # its FunctionName, resolved, when the template gives one

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)

    def answers_to(self, arn: str) -> bool:
        """Whether `arn` names this function: by its logical id (how local functions are
        named, and what a `!GetAtt` resolves to), or by its FunctionName (what a function that
        targets itself, and so cannot `!GetAtt` its own ARN, builds with `!Sub`)."""
        return arn == self.arn or (self.name is not None and arn == function_arn(self.name))

    def load(self) -> Callable[[dict[str, Any], Any], Any]:
        module, _, attribute = self.handler.rpartition(".")
        function: Callable[[dict[str, Any], Any], Any] = getattr(
            importlib.import_module(module), attribute
        )
        return function


def _matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """EventBridge-style pattern: every key must match; leaves are lists of allowed values."""
    for key, expected in pattern.items():
        actual = record.get(key)
        if isinstance(expected, dict):
            if not isinstance(actual, dict) or not _matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if actual not in expected:
                return False
        else:
            raise TemplateError(f"filter pattern value for {key!r} must be a list or object")
    return True


@dataclass
class Invocation:
    """One handler call made by the local runner, and what Lambda would have done next."""

    function: str
    records: int
    failed_sequence_numbers: list[str]  # for an SQS batch: the message ids that came back
    retried: bool = False
    # SQS: how many batches of this source were taken off the queue together (at most its
    # allowed concurrency). Lambda could have run them at the same time; locally they ran one
    # after another.
    in_flight: int = 1


@dataclass
class FailureRecord:
    """A batch that ran out of retries: what the OnFailure queue would receive; or SQS
    messages their queue's redrive policy moved to its dead-letter queue."""

    function: str
    first_sequence_number: str  # "" for SQS messages: moto moves them without saying which
    records: int
    dead_letter_queue: str | None = None  # SQS: the queue the redrive policy moved them to


@dataclass
class LocalStack:
    """The template's tables and functions, wired over moto in this process."""

    template: dict[str, Any]
    parameters: dict[str, str]
    template_dir: Path = TEMPLATE.parent
    invocations: list[Invocation] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    _positions: dict[str, str] = field(default_factory=dict)
    _streams: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # see _stream_of
    # Where a handler's stdout goes while it runs (in Lambda: its log stream). Powertools prints
    # metrics there (EMF); a local report should not show them.
    stdout: TextIO | None = None
    # The runner's own clients, made once: it polls streams and queues after every happening.
    _clients: dict[str, Any] = field(default_factory=dict)
    # Whether stream functions pause before returning a failed batch, as deployed (only where
    # time is virtual for the handlers too: the fault-injection run).
    retry_pauses: bool = False
    # Environment variables set over the template's, per function's logical id ("*": every
    # function): a test's or benchmark's templates folder, or a fixed sending rate.
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A boto3 client for the local runner itself (the handlers build their own)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
        return self._clients[service]

    @classmethod
    def from_template(cls, parameters: Mapping[str, str], path: Path = TEMPLATE) -> LocalStack:
        template = load_template(path)
        declared = template.get("Parameters", {})
        values = {
            name: str(spec["Default"]) for name, spec in declared.items() if "Default" in spec
        }
        unknown = set(parameters) - set(declared)
        if unknown:
            raise TemplateError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        values.update(parameters)
        missing = set(declared) - set(values)
        if missing:
            raise TemplateError(f"template parameters need values: {', '.join(sorted(missing))}")
        return cls(template=template, parameters=values, template_dir=path.parent)

    @classmethod
    def deployed(
        cls, parameters: Mapping[str, str] | None = None, path: Path = TEMPLATE
    ) -> LocalStack:
        """The template's stack created in (already started) moto: tables and a verified
        sender domain, ready for handlers."""
        stack = cls.from_template(dict(parameters or LOCAL_PARAMETERS), path)
        stack.create_tables()
        stack.create_queues()
        domain = stack.parameters["SenderEmail"].split("@", 1)[1]
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=domain)
        scheduler = boto3.client("scheduler", region_name=REGION)
        for name in stack.resources("AWS::Scheduler::ScheduleGroup"):
            scheduler.create_schedule_group(Name=name)
        sns = boto3.client("sns", region_name=REGION)
        for name, resource in stack.resources("AWS::SNS::Topic").items():
            attributes = {"DisplayName": str(resource["Properties"].get("DisplayName", name))}
            sns.create_topic(Name=name, Attributes=attributes)
        secrets = boto3.client("secretsmanager", region_name=REGION)
        for name in stack.resources("AWS::SecretsManager::Secret"):
            # What GenerateSecretString would make: a random key nobody wrote down.
            secrets.create_secret(Name=name, SecretString=secrets_module.token_urlsafe(48))
        return stack

    def ses_feedback_topic(self) -> str | None:
        """The SNS topic the SES configuration set publishes bounces and complaints to."""
        for resource in self.resources("AWS::SES::ConfigurationSetEventDestination").values():
            destination = resource["Properties"]["EventDestination"].get("SnsDestination")
            if destination and isinstance(destination.get("TopicARN"), dict):
                return str(destination["TopicARN"]["Ref"])
        return None

    def publish(
        self, topic: str, message: str, context_factory: Callable[[FunctionSpec], Any]
    ) -> list[Invocation]:
        """Deliver an SNS message to every function subscribed to `topic`, as SNS would."""
        arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{topic}"
        event = {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{arn}:local",
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": secrets_module.token_hex(16),
                        "TopicArn": arn,
                        "Message": message,
                        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "MessageAttributes": {},
                    },
                }
            ]
        }
        return [
            self.invoke(spec, event, context_factory)
            for spec in self.functions()
            if topic in spec.topics
        ]

    # ------------------------------------------------------------------ resources
    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Resources of one type that this stack's parameters switch on (their Condition)."""
        return {
            name: resource
            for name, resource in self.template["Resources"].items()
            if resource.get("Type") == kind and self.condition(resource.get("Condition"))
        }

    def condition(self, name: str | None) -> bool:
        """Evaluate a named condition (Fn::Equals / Not / And / Or over parameters)."""
        if name is None:
            return True
        return self._truth(self.template.get("Conditions", {})[name])

    def _truth(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, args),) = expression.items()
            if function == "Fn::Equals":
                left, right = (self._value(a) for a in args)
                return bool(left == right)
            if function == "Fn::Not":
                return not self._truth(args[0])
            if function == "Fn::And":
                return all(self._truth(a) for a in args)
            if function == "Fn::Or":
                return any(self._truth(a) for a in args)
            if function == "Condition":
                return self.condition(args)
        raise TemplateError(f"cannot evaluate condition {expression!r} locally")

    def chosen(self, value: Any) -> Any:
        """`value` with every Fn::If decided by this stack's parameters (the branch its
        condition picks, through lists and mappings)."""
        if isinstance(value, dict) and set(value) == {"Fn::If"}:
            condition, then, otherwise = value["Fn::If"]
            return self.chosen(then if self.condition(condition) else otherwise)
        if isinstance(value, dict):
            return {key: self.chosen(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.chosen(item) for item in value]
        return value

    def _value(self, value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in self.parameters:
            return self.parameters[value["Ref"]]
        return value

    def table_name(self, logical_id: str) -> str:
        """Local tables are named after their logical id."""
        return logical_id

    def create_tables(self) -> None:
        """Create every table the template declares, with streams, indexes and TTL."""
        client = boto3.client("dynamodb", region_name=REGION)
        for logical_id, resource in self.resources("AWS::DynamoDB::Table").items():
            props = resource["Properties"]
            request: dict[str, Any] = {
                "TableName": self.table_name(logical_id),
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if "GlobalSecondaryIndexes" in props:
                request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            if "StreamSpecification" in props:
                request["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": props["StreamSpecification"]["StreamViewType"],
                }
            client.create_table(**request)
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                client.update_time_to_live(
                    TableName=self.table_name(logical_id),
                    TimeToLiveSpecification={
                        "AttributeName": ttl["AttributeName"],
                        "Enabled": True,
                    },
                )

    # ------------------------------------------------------------------ queues
    def queue_name(self, logical_id: str) -> str:
        """Local queues are named after their logical id; a FIFO queue's name must end in
        .fifo (CloudFormation adds it too when it names one)."""
        props = self.template["Resources"][logical_id].get("Properties", {})
        return logical_id + (".fifo" if _truthy(props.get("FifoQueue", False)) else "")

    def queue_url(self, logical_id: str) -> str:
        return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{self.queue_name(logical_id)}"

    def queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{self.queue_name(logical_id)}"

    def redrive(self, logical_id: str) -> tuple[str, int] | None:
        """The queue's dead-letter queue (logical id) and maxReceiveCount, if it has one."""
        props = self.template["Resources"][logical_id].get("Properties", {})
        policy = props.get("RedrivePolicy")
        if policy is None:
            return None
        if isinstance(policy, str):
            policy = json.loads(policy)
        target = policy.get("deadLetterTargetArn")
        attribute = _get_att(target)
        if attribute is not None and attribute[1] == "Arn":
            dead_letter = attribute[0]
        else:
            dead_letter = next(
                (q for q in self.resources("AWS::SQS::Queue") if self.queue_arn(q) == target), ""
            )
        if dead_letter not in self.resources("AWS::SQS::Queue"):
            raise TemplateError(f"{logical_id}: deadLetterTargetArn must be a queue of this stack")
        return dead_letter, int(policy["maxReceiveCount"])

    def create_queues(self) -> None:
        """Create every queue the template declares, then point them at their dead-letter
        queues (which must exist before a redrive policy can name them)."""
        sqs = self.client("sqs")
        queues = self.resources("AWS::SQS::Queue")
        for logical_id, resource in queues.items():
            props = resource.get("Properties", {})
            attributes = {k: self._resolve(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
            sqs.create_queue(QueueName=self.queue_name(logical_id), Attributes=attributes)
        for logical_id in queues:
            redrive = self.redrive(logical_id)
            if redrive is not None:
                dead_letter, max_receives = redrive
                policy = {
                    "deadLetterTargetArn": self.queue_arn(dead_letter),
                    "maxReceiveCount": max_receives,
                }
                sqs.set_queue_attributes(
                    QueueUrl=self.queue_url(logical_id),
                    Attributes={"RedrivePolicy": json.dumps(policy)},
                )

    # ------------------------------------------------------------------ functions
    def functions(self) -> list[FunctionSpec]:
        globals_env = (
            self.template.get("Globals", {})
            .get("Function", {})
            .get("Environment", {})
            .get("Variables", {})
        )
        global_timeout = self.template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
        specs = []
        for logical_id, resource in self.resources("AWS::Serverless::Function").items():
            props = resource["Properties"]
            variables = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
            environment = {k: self._resolve(v) for k, v in variables.items()}
            environment.update(self.overrides.get("*", {}))
            environment.update(self.overrides.get(logical_id, {}))
            if not self.retry_pauses:
                # A failed stream batch pauses before it returns, in real seconds; the local
                # clock is simulated, so the pause would only slow the run down.
                environment["STREAM_RETRY_PAUSE_SECONDS"] = "0"
            events = props.get("Events", {})
            streams = tuple(
                self._stream_source(name, event["Properties"])
                for name, event in events.items()
                if event.get("Type") == "DynamoDB"
            )
            schedules = tuple(
                self._schedule_source(name, event["Type"], event["Properties"])
                for name, event in events.items()
                if event.get("Type") in ("Schedule", "ScheduleV2")
            )
            topics = tuple(
                event["Properties"]["Topic"]["Ref"]
                for event in events.values()
                if event.get("Type") == "SNS"
            )
            queues = tuple(
                self._queue_source(name, event["Properties"], props)
                for name, event in events.items()
                if event.get("Type") == "SQS" and _truthy(event["Properties"].get("Enabled", True))
            )
            specs.append(
                FunctionSpec(
                    logical_id,
                    props["Handler"],
                    environment,
                    streams,
                    schedules,
                    topics,
                    has_url="FunctionUrlConfig" in props,
                    queues=queues,
                    timeout=int(self._resolve(props.get("Timeout", global_timeout))),
                    name=self._resolve(props["FunctionName"]) if "FunctionName" in props else None,
                )
            )
        return specs

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        """The function a one-time schedule or other target ARN points at, if it is ours."""
        return next((spec for spec in self.functions() if spec.answers_to(arn)), None)

    def _schedule_source(self, name: str, kind: str, props: Mapping[str, Any]) -> ScheduleSource:
        expression = props.get("Schedule" if kind == "Schedule" else "ScheduleExpression")
        if isinstance(expression, dict) and isinstance(expression.get("Fn::Sub"), str):
            expression = self._resolve(expression)  # a rate set by a parameter
        if not isinstance(expression, str):
            raise TemplateError(f"event {name}: the schedule expression must be a plain string")
        raw_input = props.get("Input")
        return ScheduleSource(
            name=name,
            kind=kind,
            expression=expression,
            timezone=self._resolve(props.get("ScheduleExpressionTimezone", "UTC")),
            input=None if raw_input is None else str(raw_input),
        )

    def function(self, logical_id: str) -> FunctionSpec:
        for spec in self.functions():
            if spec.logical_id == logical_id:
                return spec
        raise TemplateError(f"no function {logical_id} in the template")

    def _stream_source(self, name: str, props: Mapping[str, Any]) -> StreamSource:
        stream = props["Stream"]
        if not (isinstance(stream, dict) and "Fn::GetAtt" in stream):
            raise TemplateError(f"event {name}: Stream must be !GetAtt <Table>.StreamArn")
        table = stream["Fn::GetAtt"][0]
        patterns = tuple(
            json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
        )
        return StreamSource(
            name=name,
            table=table,
            batch_size=int(props.get("BatchSize", 100)),
            max_retries=int(props.get("MaximumRetryAttempts", 3)),
            patterns=patterns,
        )

    def _queue_source(
        self, name: str, props: Mapping[str, Any], function: Mapping[str, Any]
    ) -> QueueSource:
        """An SQS event, checked as CreateEventSourceMapping would check it."""
        attribute = _get_att(props.get("Queue"))
        queues = self.resources("AWS::SQS::Queue")
        if attribute is None or attribute[1] != "Arn" or attribute[0] not in queues:
            raise TemplateError(f"event {name}: Queue must be !GetAtt <Queue>.Arn of a queue here")
        queue = attribute[0]
        queue_props = queues[queue].get("Properties", {})
        fifo = _truthy(queue_props.get("FifoQueue", False))
        batch_size = int(props.get("BatchSize", 10))
        window = int(props.get("MaximumBatchingWindowInSeconds", 0))
        if not 1 <= batch_size <= (10 if fifo else 10_000) or (batch_size > 10 and window < 1):
            raise TemplateError(
                f"event {name}: BatchSize {batch_size} is not allowed for this queue "
                "(at most 10 for FIFO; over 10 needs MaximumBatchingWindowInSeconds)"
            )
        responses = set(props.get("FunctionResponseTypes", []))
        if responses - {"ReportBatchItemFailures"}:
            raise TemplateError(f"event {name}: unknown FunctionResponseTypes {responses}")
        maximum = props.get("ScalingConfig", {}).get("MaximumConcurrency")
        if maximum is not None:
            maximum = int(self._resolve(maximum))
        if maximum is not None and not 2 <= maximum <= 1000:
            raise TemplateError(f"event {name}: MaximumConcurrency must be from 2 to 1000")
        globals_function = self.template.get("Globals", {}).get("Function", {})
        timeout = int(self._resolve(function.get("Timeout", globals_function.get("Timeout", 3))))
        visibility = int(self._resolve(queue_props.get("VisibilityTimeout", 30)))
        if visibility < timeout:
            # Lambda refuses the mapping: a message could reappear while its batch still runs.
            raise TemplateError(
                f"event {name}: {queue} VisibilityTimeout {visibility}s is less than the "
                f"function's Timeout {timeout}s"
            )
        reserved = function.get(
            "ReservedConcurrentExecutions", globals_function.get("ReservedConcurrentExecutions")
        )
        limits = [ACCOUNT_CONCURRENCY]
        limits += [maximum] if maximum is not None else []
        limits += [int(self._resolve(reserved))] if reserved is not None else []
        patterns = tuple(
            json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
        )
        return QueueSource(
            name=name,
            queue=queue,
            batch_size=batch_size,
            report_failures="ReportBatchItemFailures" in responses,
            maximum_concurrency=maximum,
            allowed_concurrency=min(limits),
            patterns=patterns,
        )

    def _resolve(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            # The templates layer is unpacked under /opt in Lambda; locally it is its ContentUri.
            return str(self._layer_dir()) if value == "/opt" else value
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in self.parameters:
                return self.parameters[ref]
            if self.template["Resources"].get(ref, {}).get("Type") == "AWS::SNS::Topic":
                return topic_arn(ref)
            if self.template["Resources"].get(ref, {}).get("Type") == "AWS::SQS::Queue":
                return self.queue_url(ref)
            if ref in self.template["Resources"]:
                return self.table_name(ref)
        if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
            # Pseudo parameters (a function's ARN by its name), and Function URLs
            # (`${XFunctionUrl.FunctionUrl}`).
            text = str(value["Fn::Sub"])
            for pseudo, local in _PSEUDO.items():
                text = text.replace(pseudo, local)
            for parameter, given in self.parameters.items():
                text = text.replace(f"${{{parameter}}}", given)
            return _SUB.sub(lambda m: self._attribute(m.group(1), m.group(2)), text)
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target, attribute = value["Fn::GetAtt"]
            resource = self.template["Resources"].get(target, {})
            if resource.get("Type") == "AWS::Serverless::Function" and attribute == "Arn":
                return function_arn(target)
            if resource.get("Type") == "AWS::SQS::Queue" and attribute in ("Arn", "QueueName"):
                return self.queue_arn(target) if attribute == "Arn" else self.queue_name(target)
            if attribute == "Arn" and resource:
                # Other resources' ARNs only need to be recognisable locally.
                service = str(resource["Type"]).split("::")[1].lower()
                return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{target}"
        raise TemplateError(f"cannot resolve {value!r} locally")

    def _attribute(self, target: str, attribute: str) -> str:
        if attribute == "FunctionUrl" and target.endswith("FunctionUrl"):
            function = target.removesuffix("Url")
            if "FunctionUrlConfig" in self.template["Resources"].get(function, {}).get(
                "Properties", {}
            ):
                return function_url(function)
        raise TemplateError(f"cannot resolve ${{{target}.{attribute}}} locally")

    def function_by_url(self, url: str) -> FunctionSpec | None:
        """The function whose Function URL `url` is on."""
        host = urlsplit(url).netloc
        return next(
            (
                s
                for s in self.functions()
                if s.has_url and urlsplit(function_url(s.logical_id)).netloc == host
            ),
            None,
        )

    def _layer_dir(self) -> Path:
        """Where TEMPLATES_DIR=/opt points locally: the templates layer's folder (the other
        layers put Python packages under /opt/python, which the local stack takes from .venv)."""
        layer = self.resources("AWS::Serverless::LayerVersion").get(TEMPLATES_LAYER)
        if layer is None:
            raise TemplateError(f"no {TEMPLATES_LAYER} (the layer unpacked as TEMPLATES_DIR=/opt)")
        return (self.template_dir / str(layer["Properties"]["ContentUri"])).resolve()

    @contextmanager
    def environment_of(self, spec: FunctionSpec) -> Iterator[None]:
        """Run with the function's environment variables, as Lambda would."""
        saved = {k: os.environ.get(k) for k in spec.environment}
        os.environ.update(spec.environment)
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.logical_id
        try:
            with contextlib.redirect_stdout(self.stdout or sys.stdout):
                yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old

    # ------------------------------------------------------------------ streams
    def read_stream(self, table_logical_id: str) -> list[dict[str, Any]]:
        """New records of a table's stream since the last read, in Lambda's event shape."""
        streams = self.client("dynamodbstreams")
        arn, shards = self._stream_of(table_logical_id)
        records: list[dict[str, Any]] = []
        for shard_id in shards:
            position = self._positions.get(f"{arn}/{shard_id}")
            iterator_args: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
            if position:
                iterator_args.update(
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position
                )
            else:
                iterator_args["ShardIteratorType"] = "TRIM_HORIZON"
            iterator = streams.get_shard_iterator(**iterator_args)["ShardIterator"]
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=STREAM_PAGE)
                for record in page["Records"]:
                    records.append(to_lambda_record(dict(record), arn))
                    self._positions[f"{arn}/{shard_id}"] = record["dynamodb"]["SequenceNumber"]
                # moto answers with every record there is, up to the limit: a short page is
                # the end of what the shard holds now (a pump reads streams after every step).
                if len(page["Records"]) < STREAM_PAGE:
                    break
                iterator = page.get("NextShardIterator", "")
        return _without_key_only_inserts(records)

    def _stream_of(self, table_logical_id: str) -> tuple[str, list[str]]:
        """A table's stream and its shards, looked up once: moto keeps one shard per stream."""
        found = self._streams.get(table_logical_id)
        if found is None:
            table = self.table_name(table_logical_id)
            arn = self.client("dynamodb").describe_table(TableName=table)["Table"][
                "LatestStreamArn"
            ]
            described = self.client("dynamodbstreams").describe_stream(StreamArn=arn)
            shards = [shard["ShardId"] for shard in described["StreamDescription"]["Shards"]]
            found = self._streams[table_logical_id] = (arn, shards)
        return found

    def rewind(self) -> None:
        """Forget the read positions: the next pump replays every stream from its start."""
        self._positions.clear()

    def pump(self, context_factory: Callable[[FunctionSpec], Any]) -> list[Invocation]:
        """Deliver every new stream record to the functions subscribed to its table, then
        drain the queues functions poll, so work a stream handler enqueues runs in the same
        tick. Records that queue handlers write wait for the next pump."""
        made: list[Invocation] = []
        functions = self.functions()
        tables = {source.table for spec in functions for source in spec.streams}
        for table in sorted(tables):
            records = self.read_stream(table)
            for spec in functions:
                for source in spec.streams:
                    if source.table != table:
                        continue
                    accepted = [r for r in records if source.accepts(r)]
                    for start in range(0, len(accepted), source.batch_size):
                        batch = accepted[start : start + source.batch_size]
                        made.extend(self.deliver(spec, source, batch, context_factory))
        made.extend(self.drain_queues(context_factory))
        return made

    def invoke(
        self,
        spec: FunctionSpec,
        event: dict[str, Any],
        context_factory: Callable[[FunctionSpec], Any],
    ) -> Invocation:
        """One asynchronous-style invocation (a schedule firing); errors are reported."""
        with self.environment_of(spec):
            try:
                spec.load()(event, context_factory(spec))
                failed: list[str] = []
            except Exception as error:
                failed = [type(error).__name__]
        made = Invocation(spec.logical_id, 1, failed)
        self.invocations.append(made)
        return made

    def deliver(
        self,
        spec: FunctionSpec,
        source: StreamSource,
        batch: list[dict[str, Any]],
        context_factory: Callable[[FunctionSpec], Any],
    ) -> list[Invocation]:
        """Invoke with one batch; on reported failures, retry from the first failed record
        (Lambda's checkpoint), up to MaximumRetryAttempts, then park it as OnFailure would."""
        made = []
        handler = spec.load()
        attempt = 0
        pending = batch
        while pending:
            with self.environment_of(spec):
                try:
                    response = handler({"Records": pending}, context_factory(spec))
                    failed = [
                        item["itemIdentifier"]
                        for item in (response or {}).get("batchItemFailures", [])
                    ]
                except Exception:
                    # A raised error fails the whole batch.
                    failed = [pending[0]["dynamodb"]["SequenceNumber"]]
            made.append(Invocation(spec.logical_id, len(pending), failed, retried=attempt > 0))
            if not failed:
                break
            first = min(failed, key=int)
            index = next(
                i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] == first
            )
            pending = pending[index:]
            attempt += 1
            if attempt > source.max_retries:
                self.failures.append(FailureRecord(spec.logical_id, first, len(pending)))
                break
        self.invocations.extend(made)
        return made

    # ------------------------------------------------------------------ queues at work
    def drain_queues(self, context_factory: Callable[[FunctionSpec], Any]) -> list[Invocation]:
        """Poll every queue a function's SQS event names, as Lambda's event source mapping
        does, until none has a visible message. Messages a handler enqueues are delivered in
        the same drain; failed ones stay in flight until the queue's visibility timeout has
        passed on the (possibly simulated) clock, so they come back in a later drain, and moto
        moves them to the dead-letter queue once received more than maxReceiveCount times."""
        made: list[Invocation] = []
        subscriptions = [(spec, source) for spec in self.functions() for source in spec.queues]
        polled = True
        while polled:
            polled = False
            for spec, source in subscriptions:
                batches, received = self._poll(spec, source)
                polled = polled or received
                for batch in batches:
                    made.append(
                        self._deliver_messages(spec, source, batch, len(batches), context_factory)
                    )
        return made

    def _poll(
        self, spec: FunctionSpec, source: QueueSource
    ) -> tuple[list[list[dict[str, Any]]], bool]:
        """Take up to `allowed_concurrency` batches off the queue together, as that many
        pollers would; and whether anything was received at all (filtered-out messages too)."""
        batches: list[list[dict[str, Any]]] = []
        received = False
        while len(batches) < source.allowed_concurrency:
            batch, got = self._receive(spec, source)
            received = received or got
            if not batch:
                break
            batches.append(batch)
        return batches, received

    def _receive(
        self, spec: FunctionSpec, source: QueueSource
    ) -> tuple[list[dict[str, Any]], bool]:
        """One batch: up to BatchSize messages (SQS hands out at most 10 per receive) that
        match the event's filters, in Lambda's record shape."""
        sqs = self.client("sqs")
        url, arn = self.queue_url(source.queue), self.queue_arn(source.queue)
        redrive = self.redrive(source.queue)
        batch: list[dict[str, Any]] = []
        received = False
        while len(batch) < source.batch_size:
            parked_before = self._visible(redrive[0]) if redrive else 0
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, source.batch_size - len(batch)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if redrive:
                # moto applies the redrive policy on receive without telling which messages it
                # moved: count them.
                parked = self._visible(redrive[0]) - parked_before
                if parked > 0:
                    self.failures.append(
                        FailureRecord(spec.logical_id, "", parked, dead_letter_queue=redrive[0])
                    )
            if not messages:
                break
            received = True
            records = [to_sqs_record(m, arn) for m in messages]
            batch.extend(r for r in records if source.accepts(r))
            # Lambda deletes the messages an event's filters do not match.
            self._delete(source.queue, [r for r in records if not source.accepts(r)])
        return batch, received

    def _visible(self, queue: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url(queue), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _delete(self, queue: str, records: list[dict[str, Any]]) -> None:
        sqs = self.client("sqs")
        for start in range(0, len(records), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                for i, r in enumerate(records[start : start + 10])
            ]
            sqs.delete_message_batch(QueueUrl=self.queue_url(queue), Entries=entries)

    def _deliver_messages(
        self,
        spec: FunctionSpec,
        source: QueueSource,
        batch: list[dict[str, Any]],
        in_flight: int,
        context_factory: Callable[[FunctionSpec], Any],
    ) -> Invocation:
        """Invoke with one batch, delete what succeeded and leave the rest in flight, as
        Lambda does: it never changes a failed message's visibility."""
        ids = [r["messageId"] for r in batch]
        with self.environment_of(spec):
            try:
                response = spec.load()({"Records": batch}, context_factory(spec))
                failed = _reported_failures(response, ids) if source.report_failures else []
            except Exception:
                # A raised error fails the whole batch.
                failed = ids
        self._delete(source.queue, [r for r in batch if r["messageId"] not in failed])
        made = Invocation(
            spec.logical_id,
            len(batch),
            failed,
            retried=any(r["attributes"]["ApproximateReceiveCount"] != "1" for r in batch),
            in_flight=in_flight,
        )
        self.invocations.append(made)
        return made


def _reported_failures(response: Any, ids: list[str]) -> list[str]:
    """The message ids a partial batch response returns. Lambda takes an empty or missing
    list as success and anything it cannot match to the batch as failure of all of it."""
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return []
    items = response["batchItemFailures"]
    if not isinstance(items, list):
        return ids
    failed = [item.get("itemIdentifier") if isinstance(item, dict) else None for item in items]
    if any(not isinstance(f, str) or f not in ids for f in failed):
        return ids
    return [i for i in ids if i in failed]


def _get_att(value: Any) -> tuple[str, str] | None:
    """(resource, attribute) of a `!GetAtt` in its short or long form, else None."""
    if not isinstance(value, dict) or "Fn::GetAtt" not in value:
        return None
    target = value["Fn::GetAtt"]
    parts = target.split(".", 1) if isinstance(target, str) else target
    if len(parts) != 2:
        return None
    return str(parts[0]), str(parts[1])


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def to_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS ReceiveMessage entry -> the record Lambda delivers (camelCase, string values)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return converted


def _without_key_only_inserts(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """moto streams an UpdateItem that creates an item as two INSERTs, the first holding only
    the key; DynamoDB streams one INSERT with the whole new image. Drop the first."""
    kept = []
    for index, record in enumerate(records):
        following = records[index + 1] if index + 1 < len(records) else None
        image = record["dynamodb"].get("NewImage", {})
        if (
            following is not None
            and record["eventName"] == following["eventName"] == "INSERT"
            and record["dynamodb"].get("Keys") == following["dynamodb"].get("Keys")
            and set(image) == set(record["dynamodb"].get("Keys", {}))
        ):
            continue
        kept.append(record)
    return kept


def function_url(logical_id: str) -> str:
    """A local stand-in for the URL Lambda gives a function (`https://<id>.lambda-url...`)."""
    return f"https://{logical_id.lower()}.lambda-url.{REGION}.on.aws/"


def topic_arn(logical_id: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{logical_id}"


def function_arn(logical_id: str) -> str:
    """Local functions are named after their logical id."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"


def to_lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """moto's stream record -> the shape Lambda delivers (epoch seconds, eventSourceARN)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", REGION),
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


@dataclass(frozen=True)
class LocalContext:
    """The parts of Lambda's context object the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = "local"
    function_version: str = "$LATEST"
    timeout_seconds: int = 30

    @classmethod
    def for_function(cls, spec: FunctionSpec) -> LocalContext:
        return cls(
            function_name=spec.logical_id,
            invoked_function_arn=spec.arn,
            timeout_seconds=spec.timeout,
        )

    def get_remaining_time_in_millis(self) -> int:
        # Each local invocation starts with the function's whole timeout.
        return self.timeout_seconds * 1000


def moto_environment() -> dict[str, str]:
    """What boto3 needs to talk to in-process moto and never to a real account."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        # boto3 otherwise sends streams calls to an account-id host moto does not serve.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "lifecycle-local",
    }


@contextmanager
def logs_to(path: Path) -> Iterator[TextIO]:
    """Keep the handlers' JSON log lines out of the report: they go to a file instead, which
    is yielded so handler stdout (metrics) can follow."""
    handler = logger.registered_handler
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as sink:
        if not isinstance(handler, logging.StreamHandler):
            yield sink
            return
        previous = handler.setStream(sink)
        try:
            yield sink
        finally:
            handler.setStream(previous)


@contextmanager
def local_aws() -> Iterator[None]:
    """In-process moto with fake credentials: nothing this block does can reach AWS."""
    saved = dict(os.environ)
    os.environ.update(moto_environment())
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)
    try:
        with mock_aws():
            boto3.setup_default_session()
            composition.reset()
            yield
    finally:
        composition.reset()
        os.environ.clear()
        os.environ.update(saved)
