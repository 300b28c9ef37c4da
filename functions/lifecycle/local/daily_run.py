"""The daily run over the local stack, once, with what it costs counted: the planner
(DailyStagesFunction) invoked for a day, then the worker (DailyStagesWorkerFunction) over the
DailyStagesQueue until it is empty, as Lambda's event source mapping would deliver it (the
local stack's drain), every AWS call the two functions make counted by service and operation.
`lifecycle bench-due` (bench_due.py) runs it over a million profiles.

Two things moto does in-process that AWS does not are set aside while it runs, and only those:
moto's copy of a whole table before each transaction (`journaled_transactions`), and a batch
that failed coming back at once rather than after the queue's visibility timeout (the clock is
moved on instead: `daily_run`).
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO
from unittest import mock

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


@contextmanager
def journaled_transactions() -> Iterator[None]:
    """moto's transact_write_items deep-copies every table a transaction names before it
    starts (once per item of the transaction), to put it back if the transaction fails: with a
    million profiles that is seconds a copy, and the worker writes two or three transactions a
    customer. While this is on, only the items the transaction names (all it can change) are
    copied, and put back if it fails; moto's own code does the rest. A table with a stream
    keeps moto's whole copy, which also takes back the stream records of a failed one."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    whole = models.DynamoDBBackend.transact_write_items

    class _TablesKept:
        """What moto's module finds as `copy` during a journaled transaction."""

        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def keys(backend: Any, entry: dict[str, Any]) -> tuple[Any, Any, Any] | None:
        (kind, op), *_ = entry.items()
        table = backend.tables.get(op.get("TableName"))
        if table is None or table.stream_shard is not None:
            return None
        given = op.get("Item") if kind == "Put" else op.get("Key")
        try:
            hash_key = DynamoType(given[table.hash_key_attr])
            range_attr = table.range_key_attr
            return table, hash_key, DynamoType(given[range_attr]) if range_attr else None
        except (KeyError, TypeError):
            return None  # moto's own checks answer a malformed request

    def journaled(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        named = [keys(backend, entry) for entry in transact_items]
        if any(where is None for where in named):
            return whole(backend, transact_items)
        saved = [
            (table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key)))
            for table, hash_key, range_key in (where for where in named if where is not None)
        ]
        with mock.patch.object(models, "copy", _TablesKept):
            try:
                whole(backend, transact_items)
            except Exception:
                for table, hash_key, range_key, item in reversed(saved):
                    _put_back(table, hash_key, range_key, item)
                raise
        return None

    with mock.patch.object(models.DynamoDBBackend, "transact_write_items", journaled):
        yield


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """The item as it was before a failed transaction (None: it was not there)."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items[hash_key].pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


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
    with journaled_transactions(), warnings.catch_warnings():
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
