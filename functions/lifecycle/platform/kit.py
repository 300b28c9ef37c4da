"""The handler kit: one way, written once, to run a stage on each kind of trigger.

- `stream`: a DynamoDB stream batch, with ordered-stream semantics (once a record fails, no
  later record of the batch is processed in that invocation; they are all reported, so nothing
  overtakes a failed record), partial batch failures and rejection recording;
- `queue`: an SQS batch, with partial batch responses (messages are independent);
- `scheduled`: an EventBridge (Scheduler) invocation with a typed payload;
- `http`: a Function URL request through a Powertools resolver;
- `notifications`: SNS records (SES feedback, inbound SMS).

A stage declares a `Unit` (its name, its message specs, its settings); the kit builds its
context once per cold start, and refuses to start when the templates or the link
configuration its specs need are missing. Handlers return a `Plan`, which the kit runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lifecycle.messaging.errors import TransientError
from lifecycle.messaging.message import MessageSpec, Outcome
from lifecycle.messaging.plan import Plan
from lifecycle.observability import logger
from lifecycle.platform import composition
from lifecycle.platform.effects import Effects
from lifecycle.platform.settings import CoreSettings, Env

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from pydantic import BaseModel

    from lifecycle.models import Customer

S = TypeVar("S")
# pydantic and the data contract load with the first record that needs them: a function that
# parses no model (SES feedback, say) never pays for them.
ModelT = TypeVar("ModelT", bound="BaseModel")
LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], Any]


class StreamEvent(StrEnum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


class StreamRecord:
    """One DynamoDB stream record as Lambda delivers it, images as plain Python values.
    (boto3's deserializer, which a sending function loads anyway; Powertools' data classes
    would import every event type it knows at cold start.)"""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self._stream: dict[str, Any] = raw.get("dynamodb") or {}

    @property
    def event_name(self) -> str | None:
        name = self.raw.get("eventName")
        return str(name) if name else None

    @property
    def event_id(self) -> str | None:
        event_id = self.raw.get("eventID")
        return str(event_id) if event_id else None

    @property
    def stream_arn(self) -> str:
        return str(self.raw.get("eventSourceARN", ""))

    @property
    def keys(self) -> dict[str, Any]:
        """The item's key attributes, as DynamoDB JSON (for reading the item back)."""
        keys: dict[str, Any] = self._stream.get("Keys") or {}
        return keys

    @property
    def sequence_number(self) -> str | None:
        sequence = self._stream.get("SequenceNumber")
        return str(sequence) if sequence else None

    @cached_property
    def new_image(self) -> dict[str, Any]:
        return _plain(self._stream.get("NewImage") or {})

    @cached_property
    def old_image(self) -> dict[str, Any]:
        return _plain(self._stream.get("OldImage") or {})


def _plain(image: dict[str, Any]) -> dict[str, Any]:
    from lifecycle.adapters.dynamo import plain

    return plain(image)


def _no_settings(_: Env) -> None:
    return None


@dataclass(frozen=True)
class Unit(Generic[S]):
    """What a stage's function is: its stage (in ledger records), its service (metrics and
    logs), the messages it may send, and how it reads its own settings."""

    stage: str
    service: str
    specs: tuple[MessageSpec, ...] = ()
    settings: Callable[[Env], S] = _no_settings  # type: ignore[assignment]
    # Messages whose templates are not the unit's own but are made like these (a campaign's
    # templates are the campaign's): checked for links and deferrals, not for templates.
    made_like: tuple[MessageSpec, ...] = ()

    @property
    def sends(self) -> tuple[MessageSpec, ...]:
        """Every kind of message the unit may send."""
        return self.specs + self.made_like


@dataclass(frozen=True)
class Stage(Generic[S]):
    """A unit's context for one process: the ports, its settings and the plan runner."""

    unit: Unit[S]
    ports: composition.Ports
    settings: S
    effects: Effects

    @property
    def core(self) -> CoreSettings:
        return self.ports.core

    def count(self, name: str) -> None:
        self.ports.count(name)

    def run(self, plan: Plan) -> list[Outcome]:
        return self.effects.run(plan)

    def load_customer(self, customer_id: str, *, gone_is_final: bool = False) -> Customer | None:
        """The customer a trigger is about. A missing one is retried (their row may be on its
        way), unless `gone_is_final`: after delivery a missing customer was erased, and
        retrying cannot help. A malformed one is recorded and None."""
        from pydantic import ValidationError

        from lifecycle.models import Customer, describe

        raw = self.ports.customers(customer_id)
        key = f"{self.unit.stage}#{customer_id}#customer"
        if raw is None and gone_is_final:
            self.reject(key, None, "customer no longer exists")
            return None
        if raw is None:
            raise TransientError(f"customer {customer_id} not found (yet)")
        try:
            return Customer.model_validate(raw)
        except ValidationError as error:
            self.reject(key, customer_id, describe(error))
            return None

    def reject(self, key: str, customer_id: str | None, reason: str) -> None:
        """Record bad data (never retried) where ops can query it."""
        self.ports.ledger.record_rejected(
            key, self.unit.stage, customer_id, reason, datetime.now(UTC)
        )
        self.count("RecordsRejected")
        logger.warning(
            "record rejected",
            extra={"stage": self.unit.stage, "message_key": key, "reason": reason},
        )


class _Contexts:
    """Each unit's context, built once per cold start (and forgotten on reset)."""

    def __init__(self) -> None:
        self._built: dict[str, Stage[Any]] = {}
        composition.on_reset(self._built.clear)

    def get(self, unit: Unit[S], effects: Callable[..., Effects]) -> Stage[S]:
        found = self._built.get(unit.service)
        if found is None:
            metrics = _metrics(unit)

            def count(name: str) -> None:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)

            ports = composition.ports(count)
            composition.check_templates(ports.core.templates_dir, unit.specs)
            composition.check_links(ports.core, unit.service, unit.sends)
            composition.check_deferrals(ports.core, unit.service, unit.sends)
            settings = unit.settings(Env())
            runner = effects(ports, settings)
            runner.declare(unit.specs)
            found = Stage(unit, ports, settings, runner)
            self._built[unit.service] = found
        stage: Stage[S] = found
        return stage


_CONTEXTS = _Contexts()


def context(unit: Unit[S], effects: Callable[..., Effects] | None = None) -> Stage[S]:
    """The unit's context in this process (for tests and tools that drive a stage)."""
    return _CONTEXTS.get(unit, effects or _default_effects)


def _default_effects(ports: composition.Ports, _: object) -> Effects:
    return Effects(ports)


_METRICS: dict[str, Metrics] = {}


def _metrics(unit: Unit[Any]) -> Metrics:
    if unit.service not in _METRICS:
        _METRICS[unit.service] = Metrics(namespace="Lifecycle", service=unit.service)
    return _METRICS[unit.service]


R = TypeVar("R")


def _entry(
    unit: Unit[S],
    effects: Callable[[composition.Ports, S], Effects] | None,
    body: Callable[[dict[str, Any], Stage[S]], R],
) -> Callable[[dict[str, Any], LambdaContext], R]:
    """The Lambda entry point every trigger kind shares: structured logs with the request's
    context, metrics flushed at the end, and the unit's context (built at the cold start)."""
    metrics = _metrics(unit)

    @logger.inject_lambda_context
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> R:
        stage = _CONTEXTS.get(unit, effects or _default_effects)
        stage.ports.budget.start(context.get_remaining_time_in_millis() / 1000)
        return body(event, stage)

    return handler


# ---------------------------------------------------------------------- streams
def parse_new_image(
    record: StreamRecord, model: type[ModelT], *, stage: Stage[Any], id_attribute: str
) -> ModelT | None:
    """The record's new image as `model`, or None after recording the rejection reason.

    A malformed record is bad data, not a failure of this function: retrying cannot fix it, so
    it is stored in the ledger (key `<stage>#<id>#rejected`) where ops can query it, and the
    batch carries on.
    """
    from pydantic import ValidationError

    from lifecycle.models import describe

    image = record.new_image
    try:
        return model.model_validate(image)
    except ValidationError as error:
        raw_id = image.get(id_attribute)
        item_id = raw_id if isinstance(raw_id, str) and raw_id else None
        sequence = record.sequence_number or record.event_id
        key = f"{stage.unit.stage}#{item_id or f'record-{sequence}'}#rejected"
        stage.reject(key, item_id, describe(error))
        return None


def old_image(record: StreamRecord, model: type[ModelT]) -> ModelT | None:
    """The record's old image as `model` (MODIFY only); None if absent or unreadable."""
    from pydantic import ValidationError

    if record.event_name != StreamEvent.MODIFY or not record.old_image:
        return None
    try:
        return model.model_validate(record.old_image)
    except ValidationError:
        return None


def stream(
    unit: Unit[S],
    on_record: Callable[[StreamRecord, Stage[S]], Plan],
    *,
    events: frozenset[StreamEvent],
    effects: Callable[[composition.Ports, S], Effects] | None = None,
) -> LambdaHandler:
    """A DynamoDB stream handler with ordered-stream semantics and partial batch failures."""

    def batch(event: dict[str, Any], stage: Stage[S]) -> dict[str, Any]:
        failed: list[str] = []
        held: list[StreamRecord] = []
        held_back = bool(_FAILING)
        for raw in event.get("Records", []):
            record = StreamRecord(raw)
            sequence = record.sequence_number
            if not sequence:
                # Lambda always sends one; without it no failure could be reported.
                raise ValueError("stream record without a SequenceNumber")
            if failed:
                # Lambda redelivers from the first failed record: a later one processed now
                # could overtake it (a newer order status moving progress past an update
                # that has not gone out yet).
                failed.append(sequence)
                held.append(record)
                continue
            if record.event_name not in events:
                continue
            try:
                stage.run(on_record(record, stage))
            except Exception as error:
                logger.warning(
                    "record failed; it and the rest of the batch come back",
                    extra={"event_id": record.event_id, "error": type(error).__name__},
                )
                failed.append(sequence)
                held.append(record)
        if failed:
            logger.info("batch partly failed", extra={"failed": len(failed)})
            _log_failures(stage, held)
            _back_off(stage, held[0])
        elif held_back:
            _recovered(event)
        return {"batchItemFailures": [{"itemIdentifier": item} for item in failed]}

    return _entry(unit, effects, batch)


def stream_batch(
    unit: Unit[S], on_batch: Callable[[list[StreamRecord], Stage[S]], None]
) -> LambdaHandler:
    """A DynamoDB stream handler that takes the batch whole, for work that is one write per
    batch (the report's tally): it succeeds or raises, and Lambda retries the whole batch
    (BisectBatchOnFunctionError splits one that keeps failing). It declares
    ReportBatchItemFailures like every stream source, and has none to report."""

    def batch(event: dict[str, Any], stage: Stage[S]) -> dict[str, Any]:
        on_batch([StreamRecord(raw) for raw in event.get("Records", [])], stage)
        return {"batchItemFailures": []}

    return _entry(unit, None, batch)


# How many attempts in a row this process saw fail at a shard's first failed record
# ("<stream ARN>#<sequence number>"). Lambda retries a stream batch at once, with no spacing
# of its own; without a pause, a ten-second throttle would use up every retry and park the
# records. So a failed batch pauses before it returns: 1, 2, 4, ... seconds, at most
# STREAM_RETRY_PAUSE_SECONDS and never past the invocation's time.
_FAILING: dict[str, int] = {}
composition.on_reset(_FAILING.clear)


def _back_off(stage: Stage[Any], head: StreamRecord) -> None:
    key = f"{head.stream_arn}#{head.sequence_number}"
    if key not in _FAILING and len(_FAILING) >= 1000:
        _FAILING.clear()  # a shard moved on long ago; bounded memory beats exact pauses
    attempts = _FAILING[key] = _FAILING.get(key, 0) + 1
    pause = min(2 ** (attempts - 1), stage.core.stream_retry_pause_seconds)
    if pause > 0:
        logger.info("pausing before the batch comes back", extra={"seconds": pause})
        stage.ports.budget.wait(pause)


def _recovered(event: dict[str, Any]) -> None:
    """The batch went through: forget the failures counted for its stream."""
    arns = {str(r.get("eventSourceARN", "")) for r in event.get("Records", [])}
    for key in [k for k in _FAILING if k.rpartition("#")[0] in arns]:
        del _FAILING[key]


def _log_failures(stage: Stage[Any], records: list[StreamRecord]) -> None:
    """Record the failed records' keys under the first one's sequence number, for `lifecycle
    replay` once the stream no longer holds them. Best effort: the failure is what matters,
    and the table may be what failed."""
    from lifecycle.messaging.timing import TABLE_CALL_SECONDS

    if not stage.ports.budget.allows(TABLE_CALL_SECONDS):
        logger.warning("failed records not logged: too little time left")
        return
    first = records[0]
    entries = [
        {"sequence": r.sequence_number, "event_name": r.event_name, "keys": r.keys} for r in records
    ]
    try:
        stage.ports.stream_failures.record(
            first.stream_arn, first.sequence_number or "", entries, datetime.now(UTC)
        )
    except Exception as error:
        logger.warning("failed records not logged", extra={"error": type(error).__name__})


# ---------------------------------------------------------------------- queues
def queue(
    unit: Unit[S],
    on_message: Callable[[ModelT, Stage[S]], Plan],
    model: type[ModelT],
    *,
    effects: Callable[[composition.Ports, S], Effects] | None = None,
) -> LambdaHandler:
    """An SQS handler with partial batch responses. A body that is not a `model` is bad data:
    recorded as rejected and dropped (a redelivery could not fix it); any other error returns
    the message, and after the queue's maxReceiveCount it lands in the dead-letter queue."""

    def batch(event: dict[str, Any], stage: Stage[S]) -> dict[str, Any]:
        from pydantic import ValidationError

        failed: list[str] = []
        for record in event.get("Records", []):
            message_id = str(record.get("messageId", ""))
            try:
                body = model.model_validate(json.loads(record.get("body") or "null"))
            except (ValidationError, ValueError) as error:
                # Bad data: recorded where ops can query it (never the body: it may name
                # a customer's address), not retried.
                stage.reject(
                    f"{unit.stage}#message-{message_id}#rejected",
                    None,
                    f"queue message is not {model.__name__}: {type(error).__name__}",
                )
                continue
            try:
                stage.run(on_message(body, stage))
            except Exception as error:
                logger.warning(
                    "queue message failed; it comes back",
                    extra={"message_id": message_id, "error": type(error).__name__},
                )
                failed.append(message_id)
        return {"batchItemFailures": [{"itemIdentifier": item} for item in failed]}

    return _entry(unit, effects, batch)


# ---------------------------------------------------------------------- schedules
def scheduled(
    unit: Unit[S],
    on_payload: Callable[[ModelT, Stage[S]], Plan],
    model: type[ModelT],
    *,
    effects: Callable[[composition.Ports, S], Effects] | None = None,
) -> LambdaHandler:
    """A scheduled invocation. Errors propagate: Scheduler retries, then parks the invocation
    in the schedule's dead-letter queue. A payload that is not a `model` sends nothing."""

    def invocation(event: dict[str, Any], stage: Stage[S]) -> dict[str, str]:
        from pydantic import ValidationError

        try:
            payload = model.model_validate(event)
        except ValidationError:
            logger.error("schedule payload not understood; nothing sent")
            return {"status": "rejected"}
        plan = on_payload(payload, stage)
        if plan.rejected is not None:
            stage.run(plan)
            return {"status": "rejected", "reason": plan.rejected}
        if plan.skipped is not None:
            logger.info("nothing due", extra={"reason": plan.skipped})
            return {"status": "skipped", "reason": plan.skipped}
        outcomes = stage.run(plan)
        if not outcomes:
            return {"status": "done", "reason": ""}
        last = outcomes[-1]
        return {"status": str(last.status), "reason": last.reason or ""}

    return _entry(unit, effects, invocation)


# ---------------------------------------------------------------------- notifications
@dataclass(frozen=True)
class Notification:
    """One SNS notification: its message, and SNS's id for it (the same on every delivery of
    it, so it names the notification however often SNS delivers it)."""

    message: str
    message_id: str


def notifications(
    unit: Unit[S],
    on_notification: Callable[[Notification, Stage[S]], Plan],
    *,
    effects: Callable[[composition.Ports, S], Effects] | None = None,
) -> LambdaHandler:
    """SNS records, one plan each. Errors propagate, so Lambda retries the asynchronous
    invocation and then parks it in the function's dead-letter queue."""

    def records(event: dict[str, Any], stage: Stage[S]) -> None:
        for record in event.get("Records", []):
            try:
                sns = record["Sns"]
                notification = Notification(str(sns["Message"]), str(sns.get("MessageId", "")))
            except (KeyError, TypeError):
                logger.error("not an SNS notification record; ignored")
                continue
            stage.run(on_notification(notification, stage))

    return _entry(unit, effects, records)


# ---------------------------------------------------------------------- HTTP
def http(app: LambdaFunctionUrlResolver) -> LambdaHandler:
    """A Function URL handler (auth NONE: the signed token in the link is the key)."""

    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    return handler
