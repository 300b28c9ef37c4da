"""The daily run over the local stack, once, with what it costs counted: the planner
(DailyStagesFunction) invoked for a day, then the worker (DailyStagesWorkerFunction) over the
DailyStagesQueue until it is empty, as Lambda's event source mapping would deliver it (the
local stack's drain), every AWS call the two functions make counted by service and operation.
`lifecycle bench-due` (bench_due.py) runs it over a million profiles.

One thing moto does in-process that AWS does not is set aside while it runs: a batch that
failed coming back at once rather than after the queue's visibility timeout (the clock is moved
on instead: `daily_run`). moto's transactions are journaled rather than copying their tables
whole (`moto_speed`, as everywhere on the local stack).
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

import boto3

from lifecycle.adapters.profiles import DUE_INDEX
from lifecycle.local.stack import FunctionSpec, Invocation, LocalContext, LocalStack
from lifecycle.platform import composition

PLANNER = "DailyStagesFunction"
WORKER = "DailyStagesWorkerFunction"
QUEUE = "DailyStagesQueue"
# What Lambda's event source mapping does with the queue (the local stack does it here).
POLLING = ("ReceiveMessage", "DeleteMessageBatch")


def say(progress: TextIO | None, line: str) -> None:
    """A line of a long run's progress (None: no progress shown)."""
    if progress is not None:
        print(line, file=progress, flush=True)


def passed(before: int, after: int, step: int) -> bool:
    """Whether a count going from `before` to `after` passed a multiple of `step`."""
    return after // step > before // step


class Calls:
    """The AWS calls made through the clients of a botocore event system (a session's: the
    clients built from it afterwards copy its handlers). `before-call` fires once per API call
    (the SDK's own retries are inside it); `after-call` once its answer is parsed, so the time
    between is botocore's and moto's. Also kept: what each due-index query read, moto's
    answer to ReturnConsumedCapacity=INDEXES (asked on each), and the customers the planner's
    queue messages carry."""

    def __init__(self) -> None:
        self.made: Counter[tuple[str, str]] = Counter()
        self.seconds = 0.0
        self.read: list[int] = []
        self.query_seconds = 0.0
        self.capacity: list[dict[str, Any] | None] = []
        self.enqueued: list[str] = []
        self.counting = True
        self.after: Callable[[str, dict[str, Any]], None] | None = None
        self.began: list[float] = []  # when each counted call began

    def attach(self, events: Any) -> None:
        events.register("provide-client-params.dynamodb.Query", self._ask_capacity)
        events.register("before-parameter-build.dynamodb.Query", self._due_query)
        events.register("before-parameter-build.sqs.SendMessage", self._enqueued)
        events.register("before-call", self._before)
        events.register("after-call", self._answered)
        events.register("after-call-error", self._failed)

    @staticmethod
    def _ask_capacity(params: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") == DUE_INDEX:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _due_query(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") == DUE_INDEX:
            context["bench_due_query"] = True

    def _enqueued(self, params: dict[str, Any], **_: Any) -> None:
        if self.counting and params.get("QueueUrl", "").endswith(f"/{QUEUE}"):
            self.enqueued += json.loads(params["MessageBody"])["customers"]

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.counting:
            self.made[(model.service_model.service_name, model.name)] += 1
            context["bench_started"] = now = time.perf_counter()
            self.began.append(now)

    def _answered(
        self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        took = self._took(context)
        if context.get("bench_due_query") and took is not None:
            self.read.append(int(parsed.get("ScannedCount", parsed.get("Count", 0))))
            self.capacity.append(parsed.get("ConsumedCapacity"))
            self.query_seconds += took
        if self.after is not None and took is not None:
            self.after(model.name, parsed)

    def _failed(self, context: dict[str, Any], **_: Any) -> None:
        self._took(context)

    def _took(self, context: dict[str, Any]) -> float | None:
        started = context.pop("bench_started", None)
        if started is None:
            return None
        took = time.perf_counter() - float(started)
        self.seconds += took
        return took

    def by_service(self) -> dict[str, int]:
        services: Counter[str] = Counter()
        for (service, _), count in self.made.items():
            services[service] += count
        return dict(services.most_common())


@dataclass
class _Round:
    """The worker's invocations, and how many queue messages are done."""

    total: int
    progress: TextIO | None
    done: int = 0
    started: float = field(default_factory=time.perf_counter)

    def deleted(self, operation: str, parsed: dict[str, Any]) -> None:
        if operation != "DeleteMessageBatch" or self.total <= 0:
            return
        before, self.done = self.done, self.done + len(parsed.get("Successful", []))
        if passed(before, self.done, max(1, self.total // 10)):
            say(
                self.progress,
                f"  worker: {self.done:,} of {self.total:,} queue messages done"
                f" ({time.perf_counter() - self.started:.0f} s)",
            )


@dataclass(frozen=True)
class RunFigures:
    """What the daily run did and what it cost."""

    planner_seconds: float
    worker_seconds: float
    calls: Calls  # by the two functions
    polling: Calls  # by the local stack's queue poller (Lambda's event source mapping)
    invocations: tuple[Invocation, ...]  # the worker's
    invocation_seconds: tuple[float, ...]  # each of the worker's, from its start to the
    # local stack's next call (deleting what it did, or polling again)
    timeout: int  # the worker's, from the template
    came_back: int  # queue messages whose batch failed (they come back after the timeout)
    left: int  # queue messages neither done nor in the queue at the end (parked, or in flight)
    waited_seconds: int  # visibility timeouts waited out on the clock (not in the run's time)


@dataclass
class _Started:
    """The context factory the local stack calls as each worker invocation starts: notes when."""

    at: list[float] = field(default_factory=list)

    def __call__(self, spec: FunctionSpec) -> LocalContext:
        if spec.logical_id == WORKER:
            self.at.append(time.perf_counter())
        return LocalContext.for_function(spec)

    def durations(self, events: list[float], end: float) -> tuple[float, ...]:
        """Each invocation's time: from its start to the first of `events` after it."""
        return tuple(
            min((e for e in events if e > start), default=end) - start for start in self.at
        )


def _in_queue(stack: LocalStack, logical_id: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def daily_run(stack: LocalStack, day: date, progress: TextIO | None = None) -> RunFigures:
    """Invoke the planner for `day`, then the worker over its queue until it is empty, as
    Lambda would: a batch that fails (one that ran out of time too) comes back once the
    queue's visibility timeout has passed, and the clock is moved on by that much for it,
    up to the queue's maxReceiveCount (then moto parks it in the dead-letter queue)."""
    import time_machine

    polling = Calls()
    # The local stack's own client, made before the functions' hook: counted apart.
    polling.attach(stack.client("sqs").meta.events)
    calls = Calls()
    session = boto3.DEFAULT_SESSION  # local_aws() set it up
    assert session is not None
    calls.attach(session.events)
    composition.reset()  # the functions' clients are built from now on, with the hook
    planner, worker = stack.function(PLANNER), stack.function(WORKER)
    redrive = stack.redrive(QUEUE)
    receives = redrive[1] if redrive else 1
    visibility = int(stack.template["Resources"][QUEUE]["Properties"].get("VisibilityTimeout", 30))
    with warnings.catch_warnings():
        # Powertools warns of a planner invocation with no metric of its own.
        warnings.filterwarnings("ignore", "No application metrics", UserWarning)
        started = time.perf_counter()
        with stack.environment_of(planner):
            planner.load()({"day": day.isoformat()}, LocalContext.for_function(planner))
        planned = time.perf_counter()
        messages = _in_queue(stack, QUEUE)
        say(progress, f"  planner: {len(calls.enqueued):,} due in {messages:,} queue messages")
        round_ = _Round(messages, progress)
        polling.after = round_.deleted
        started_worker = _Started()
        made = stack.drain_queues(started_worker)
        waited = 0
        for _ in range(receives):
            if not _in_queue(stack, QUEUE):
                break
            waited += visibility + 1
            later = datetime.now(UTC) + timedelta(seconds=waited)
            with time_machine.travel(later, tick=True):
                made += stack.drain_queues(started_worker)
        done = time.perf_counter()
    calls.counting = polling.counting = False
    ours = tuple(i for i in made if i.function == worker.logical_id)
    return RunFigures(
        planner_seconds=planned - started,
        worker_seconds=done - planned,
        calls=calls,
        polling=polling,
        invocations=ours,
        invocation_seconds=started_worker.durations(polling.began, done),
        timeout=worker.timeout,
        came_back=sum(len(i.failed_sequence_numbers) for i in ours),
        left=messages - round_.done,
        waited_seconds=waited,
    )
