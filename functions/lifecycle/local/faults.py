"""Fault injection: the real stream handlers (welcome, orders, rating follow-up) driven the way
Lambda drives them, through injected faults, and every message counted.

A workload of customers, their orders and their ratings is written to the local stack's
tables. Their stream records are then delivered twice over fresh moto stacks: once with no
faults (what must be sent: the expected messages), once with faults injected into the
handlers' AWS calls. Lambda's behaviour is reproduced: batches, retries from the lowest failed
sequence number, a whole batch again after the process died, batches parked after
`MaximumRetryAttempts`, redelivered batches and shards restarting from an older checkpoint.
Parked batches are replayed at the end, as ops would with `lifecycle replay`.

Faults, on every AWS call a handler makes:
- throttling, a 5xx, a refused connection, before the provider sees the call;
- the process dying before a call (a crash, a timeout, running out of memory);
- a table outage of a few (virtual) minutes, so a "sent" mark can be refused for a whole
  invocation;
and, after SES or SNS accepted a message or an alert:
- a timeout (the provider took it; the function cannot know);
- the process dying before it could write the mark.

Then: expected, sent, lost (expected and never sent) and duplicated messages. Every duplicate
must be explained: the provider accepted the message and the process never learned it (it died,
the call timed out after acceptance, or the mark was refused for a whole invocation and the
process was then replaced). Time is virtual: leases, budgets and waits cost no real seconds,
each AWS call costs a little, and an invocation that outruns its function's Timeout is stopped
as Lambda would stop it (and counted: the budget must never let that happen).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from lifecycle.adapters.errors import classify
from lifecycle.local.stack import LOCAL_PARAMETERS, LocalContext, LocalStack, local_aws
from lifecycle.messaging.timing import SEND_READ_SECONDS, Budget
from lifecycle.observability import logger
from lifecycle.platform import composition
from lifecycle.platform.composition import Ports

# The stream functions under test, with the table whose stream triggers each.
FUNCTIONS = (
    ("WelcomeFunction", "CustomersTable"),
    ("OrdersFunction", "OrdersTable"),
    ("RatingFollowUpFunction", "RatingsTable"),
)
LIFE = ("scheduled", "picked_up", "ready", "out_for_delivery", "delivered")
PRE_CALL = ("throttling", "server error", "connection refused", "process died", "table outage")
POST_ACCEPT = ("timeout after acceptance", "died after acceptance")
DELIVERY = ("batch redelivered", "shard restarted from an older checkpoint")
THROTTLE_CODES = {
    "dynamodb": "ProvisionedThroughputExceededException",
    "sesv2": "TooManyRequestsException",
    "sns": "Throttling",
    "scheduler": "ThrottlingException",
    "secretsmanager": "ThrottlingException",
}
# What Lambda does between attempts of a shard's batch (undocumented; about a second).
RETRY_SPACING_SECONDS = 1.0
# What one AWS call costs on the virtual clock.
CALL_SECONDS = 0.02


class ProcessDied(BaseException):
    """The Lambda process stopped: nothing after this point of the invocation runs."""


class VirtualClock:
    def __init__(self) -> None:
        self.start = datetime.now(UTC)
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds


@dataclass
class Tally:
    """What the provider accepted, per message key, and what could explain a second send."""

    accepted: Counter[str] = field(default_factory=Counter)
    unacknowledged: Counter[str] = field(default_factory=Counter)  # accepted, never learned
    # Accepted by the provider since the process last started, with the ledger item that marks
    # it ("<key>" for messages, the complaint key for alerts).
    live: dict[str, str] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    invocations: int = 0
    parked_batches: int = 0
    replayed_batches: int = 0
    cold_starts: int = 0
    killed_at_timeout: int = 0  # invocations Lambda would have stopped: the budget was wrong


class Injector:
    """Decides, call by call, whether the handler's AWS call fails and how."""

    def __init__(self, rate: float, seed: int, clock: VirtualClock, tally: Tally) -> None:
        self.rate = rate
        self.random = random.Random(seed)  # noqa: S311 - fault choice, not secrets
        self.clock = clock
        self.tally = tally
        self.armed = False
        self.dead = False
        self.outage_until = -1.0
        self.deadline = float("inf")  # when Lambda stops the current invocation

    def before_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.armed:
            return
        if self.dead:
            raise ProcessDied()
        self.clock.sleep(CALL_SECONDS)
        if self.clock.elapsed > self.deadline:
            # Lambda stops a function at its Timeout, whatever it was doing.
            self.tally.killed_at_timeout += 1
            self.dead = True
            raise ProcessDied()
        service = model.service_model.service_name
        operation = model.name
        if service == "dynamodb" and self.clock.elapsed < self.outage_until:
            raise _client_error("ServiceUnavailable", 503, operation)
        if self.random.random() >= self.rate:
            return
        kind = self.random.choices(
            PRE_CALL, weights=(30, 25, 25, 12, 2 if service == "dynamodb" else 0)
        )[0]
        self.tally.faults[kind] += 1
        if kind == "throttling":
            raise _client_error(THROTTLE_CODES.get(service, "Throttling"), 400, operation)
        if kind == "server error":
            raise _client_error("InternalFailure", 500, operation)
        if kind == "connection refused":
            raise EndpointConnectionError(endpoint_url=f"https://{service}.local")
        if kind == "table outage":
            self.outage_until = self.clock.elapsed + self.random.uniform(20, 120)
            raise _client_error("ServiceUnavailable", 503, operation)
        self.dead = True
        raise ProcessDied()

    def after_accept(self, key: str, mark: str) -> None:
        """The provider accepted `key`; the process may still never learn it."""
        self.tally.accepted[key] += 1
        self.tally.live[key] = mark
        if not self.armed or self.random.random() >= self.rate:
            return
        kind = self.random.choice(POST_ACCEPT)
        self.tally.faults[kind] += 1
        if kind == "timeout after acceptance":
            # The client waited its read timeout; the claim is kept and the retry after the
            # lease sends again: counted here, once, and no longer live.
            self.clock.sleep(SEND_READ_SECONDS)
            self.tally.unacknowledged[key] += 1
            del self.tally.live[key]
            raise classify(ReadTimeoutError(endpoint_url="https://provider.local"), "provider")
        # Died before the mark: the cold start finds the key unmarked and counts it.
        self.dead = True
        raise ProcessDied()


def _client_error(code: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "injected"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@dataclass
class Shard:
    """One stream shard as Lambda's poller sees it: records, a checkpoint, retries."""

    function: str
    records: list[dict[str, Any]]
    batch_size: int
    max_retries: int
    checkpoint: int = 0
    attempts: int = 0
    parked: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.checkpoint >= len(self.records)


@dataclass(frozen=True)
class Report:
    expected: int
    sent: int
    lost: list[str]
    unexpected: list[str]
    duplicated: dict[str, int]
    unexplained: dict[str, int]
    tally: Tally

    @property
    def faults(self) -> int:
        return sum(self.tally.faults.values())

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.unexpected or self.unexplained or self.tally.killed_at_timeout
        )

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.tally.faults.items()))
        return [
            f"faults injected: {self.faults} ({kinds})",
            f"invocations: {self.tally.invocations}, cold starts after a dying process: "
            f"{self.tally.cold_starts}, stopped at their timeout: "
            f"{self.tally.killed_at_timeout}, batches parked then replayed: "
            f"{self.tally.parked_batches}/{self.tally.replayed_batches}",
            f"expected messages: {self.expected}",
            f"sent: {self.sent} distinct, {sum(self.tally.accepted.values())} accepted in all",
            f"lost: {len(self.lost)}",
            f"not expected: {len(self.unexpected)}",
            f"duplicated: {sum(self.duplicated.values())} "
            f"(explained by an acceptance the process never learned: "
            f"{sum(self.duplicated.values()) - sum(self.unexplained.values())}, "
            f"unexplained: {sum(self.unexplained.values())})",
        ]


# ---------------------------------------------------------------------- the workload
def write_workload(customers: int, seed: int) -> None:
    """Customers (some with SMS consent, some with a phone and none, some email only), an order
    each going through its whole life (every other customer a second one), and a rating."""
    import boto3

    chance = random.Random(seed)  # noqa: S311 - fault choice, not secrets
    dynamodb = boto3.resource("dynamodb")
    people = dynamodb.Table("CustomersTable")
    orders = dynamodb.Table("OrdersTable")
    ratings = dynamodb.Table("RatingsTable")
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    for number in range(customers):
        customer_id = f"c-{number:04d}"
        person: dict[str, Any] = {
            "customer_id": customer_id,
            "first_name": chance.choice(["Ann", "Sanne", "Wei", "Elif"]),
            "email": f"{customer_id}@example.com",
            "locale": chance.choice(["en", "nl-NL", "zh-TW", "tr-TR"]),
            "timezone": "Europe/Amsterdam",
            "created_at": start.isoformat(),
            "consent": {"sms_transactional": chance.random() < 0.6, "email_marketing": True},
        }
        if chance.random() < 0.8:
            person["phone"] = f"+3161{number:07d}"
        people.put_item(Item=person)
        for second in range(1 + number % 2):
            order_id = f"o-{number:04d}-{second}"
            pickup = start + timedelta(days=3 + 7 * second, hours=1)
            order: dict[str, Any] = {
                "order_id": order_id,
                "customer_id": customer_id,
                "pickup_window": {
                    "start": pickup.isoformat(),
                    "end": (pickup + timedelta(hours=2)).isoformat(),
                },
                "delivery_window": {
                    "start": (pickup + timedelta(days=2)).isoformat(),
                    "end": (pickup + timedelta(days=2, hours=2)).isoformat(),
                },
                "items": [
                    {"name": "Shirt", "quantity": Decimal("3"), "unit_price": Decimal("3.5")}
                ],
                "total": Decimal("10.5"),
                "currency": "EUR",
            }
            for step, status in enumerate(LIFE):
                moment = pickup + timedelta(hours=step)
                orders.put_item(Item={**order, "status": status, "updated_at": moment.isoformat()})
            rated = (pickup + timedelta(days=3)).isoformat()
            ratings.put_item(
                Item={
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "score": Decimal(chance.choice([1, 2, 4, 5, 5])),
                    "rated_at": rated,
                    "updated_at": rated,
                    "taps": Decimal(1),
                }
            )


# ---------------------------------------------------------------------- Lambda's poller
class Poller:
    def __init__(
        self,
        stack: LocalStack,
        injector: Injector | None,
        clock: VirtualClock,
        tally: Tally,
        seed: int,
    ) -> None:
        self.stack = stack
        self.injector = injector
        self.clock = clock
        self.tally = tally
        self.random = random.Random(seed + 1)  # noqa: S311 - fault choice, not secrets
        self.specs = {spec.logical_id: spec for spec in stack.functions()}

    def shards(self) -> list[Shard]:
        made = []
        for function, table in FUNCTIONS:
            spec = self.specs[function]
            (source,) = spec.streams
            records = [r for r in self.stack.read_stream(table) if source.accepts(r)]
            made.append(Shard(function, records, source.batch_size, source.max_retries))
        return made

    def invoke(self, function: str, records: list[dict[str, Any]]) -> list[str] | None:
        """One invocation: the sequence numbers reported failed, or None if the process died."""
        spec = self.specs[function]
        self.tally.invocations += 1
        self.clock.sleep(RETRY_SPACING_SECONDS)
        with self.stack.environment_of(spec):
            if self.injector:
                self.injector.armed = True
                self.injector.deadline = self.clock.elapsed + spec.timeout
            try:
                response = spec.load()({"Records": records}, LocalContext.for_function(spec))
            except ProcessDied:
                response = None
            finally:
                if self.injector:
                    self.injector.armed = False
        if response is None:
            self._cold_start()
            return None
        return [item["itemIdentifier"] for item in response["batchItemFailures"]]

    def _cold_start(self) -> None:
        """The dead process is replaced: everything it kept in memory is gone. What it had
        sent and not marked (it died first, or kept the mark in memory for a redelivery) can be
        sent again once the claim's lease runs out: the one duplicate the product allows."""
        for key, mark in self.tally.live.items():
            if not _marked(self.stack.client("dynamodb"), mark):
                self.tally.unacknowledged[key] += 1
        self.tally.live.clear()
        composition.reset()
        self.tally.cold_starts += 1
        if self.injector:
            self.injector.dead = False

    def step(self, shard: Shard) -> None:
        batch = shard.records[shard.checkpoint : shard.checkpoint + shard.batch_size]
        failed = self.invoke(shard.function, batch)
        if failed == []:
            shard.checkpoint += len(batch)
            shard.attempts = 0
        else:
            if failed is not None:
                lowest = min(int(sequence) for sequence in failed)
                moved = next(
                    i for i, r in enumerate(batch) if int(r["dynamodb"]["SequenceNumber"]) == lowest
                )
                if moved:
                    shard.attempts = 0
                shard.checkpoint += moved
            shard.attempts += 1
            if shard.attempts > shard.max_retries:
                # What the OnFailure destination receives; the shard moves on.
                rest = shard.records[shard.checkpoint : shard.checkpoint + shard.batch_size]
                shard.parked.append(rest)
                self.tally.parked_batches += 1
                shard.checkpoint += len(rest)
                shard.attempts = 0
        self._disturb(shard)

    def _disturb(self, shard: Shard) -> None:
        """Lambda delivers at least once: sometimes records it already delivered come again,
        sometimes the shard restarts from an older checkpoint."""
        if self.injector is None or shard.checkpoint == 0:
            return
        # Rarer than call faults, and never further back than a batch: the shard must still
        # make headway when a tenth of every call fails.
        roll = self.random.random()
        if roll < self.injector.rate / 4:
            self.tally.faults["batch redelivered"] += 1
            start = max(0, shard.checkpoint - shard.batch_size)
            self.invoke(shard.function, shard.records[start : shard.checkpoint])
        elif roll < self.injector.rate / 3:
            self.tally.faults["shard restarted from an older checkpoint"] += 1
            back = self.random.randint(1, shard.batch_size)
            shard.checkpoint = max(0, shard.checkpoint - back)
            shard.attempts = 0

    def run(self) -> None:
        shards = self.shards()
        while not all(shard.done for shard in shards):
            for shard in shards:
                if not shard.done:
                    self.step(shard)
        # Ops fix the cause (the faults stop), then replay what was parked.
        injector, self.injector = self.injector, None
        for shard in shards:
            for batch in shard.parked:
                self.replay(shard.function, batch)
        self.injector = injector

    def replay(self, function: str, batch: list[dict[str, Any]]) -> None:
        """Drive the parked batch again as `lifecycle replay` does, with the same ordered
        semantics."""
        from lifecycle.replay import drive

        self.tally.replayed_batches += 1
        drive(lambda records: self.invoke(function, records), batch, attempts=5)


def _marked(dynamodb: Any, key: str) -> bool:
    """Whether the ledger item for `key` says it is done (a message marked sent, or a
    complaint's alert marker), read by the harness itself while the injector is off."""
    item = dynamodb.get_item(
        TableName="LedgerTable", Key={"message_key": {"S": key}}, ConsistentRead=True
    ).get("Item")
    if item is None:
        return False
    return item.get("status", {}).get("S") in ("sent", "handled")


# ---------------------------------------------------------------------- one run
@contextlib.contextmanager
def _wired(injector: Injector | None, clock: VirtualClock, tally: Tally) -> Iterator[None]:
    """Virtual time for every budget, the senders counted, the injector on every AWS call."""
    from lifecycle.adapters.ses import SesEmailSender
    from lifecycle.adapters.sns import SnsSmsSender, SnsTopicAlerts

    budget = Budget(clock=clock.now, monotonic=clock.monotonic, sleep=clock.sleep)

    def accept(key: str, mark: str) -> None:
        if injector:
            injector.after_accept(key, mark)
        else:
            tally.accepted[key] += 1

    def counted(
        original: Callable[..., str], key: Callable[..., tuple[str, str]]
    ) -> Callable[..., str]:
        def send(self: Any, *args: Any) -> str:
            provider_id = original(self, *args)
            accept(*key(*args))
            return provider_id

        return send

    import boto3

    session = boto3.DEFAULT_SESSION
    assert session is not None
    if injector:
        session.events.register("before-parameter-build", injector.before_call)
    patches: list[contextlib.AbstractContextManager[Any]] = [
        mock.patch.object(Ports, "budget", property(lambda _: budget)),
        mock.patch.object(
            SesEmailSender,
            "send",
            counted(SesEmailSender.send, lambda email: (email.message_key, email.message_key)),
        ),
        mock.patch.object(
            SnsSmsSender,
            "send",
            counted(SnsSmsSender.send, lambda sms: (sms.message_key, sms.message_key)),
        ),
        mock.patch.object(
            SnsTopicAlerts,
            "publish",
            counted(SnsTopicAlerts.publish, lambda _s, _t, attributes: _alert(attributes)),
        ),
    ]
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        composition.reset()
        yield
    if injector:
        session.events.unregister("before-parameter-build", injector.before_call)


def _alert(attributes: dict[str, str]) -> tuple[str, str]:
    """An alert's identity, and its marker (complaint alerts on a rating)."""
    order = attributes.get("order_id", "?")
    return f"alert#{order}#{attributes.get('reason', '?')}", f"complaint#{order}#rating"


def one_run(customers: int, seed: int, rate: float | None) -> Tally:
    tally = Tally()
    clock = VirtualClock()
    previous = logger.log_level
    logger.setLevel("CRITICAL")
    try:
        with local_aws():
            # Quiet hours off: the run counts what goes out, and its clock is the wall clock's.
            stack = LocalStack.deployed({**LOCAL_PARAMETERS, "QuietHours": "off"})
            stack.stdout = io.StringIO()
            stack.retry_pauses = True  # the handlers' time is virtual here
            write_workload(customers, seed)
            injector = Injector(rate, seed, clock, tally) if rate else None
            with _wired(injector, clock, tally):
                Poller(stack, injector, clock, tally, seed).run()
    finally:
        logger.setLevel(previous)
    return tally


def run(customers: int = 60, rate: float = 0.1, seed: int = 7) -> Report:
    expected = one_run(customers, seed, None)
    faulty = one_run(customers, seed, rate)
    want, got = set(expected.accepted), set(faulty.accepted)
    duplicated = {key: n - 1 for key, n in faulty.accepted.items() if n > 1}
    unexplained = {
        key: extra - faulty.unacknowledged[key]
        for key, extra in duplicated.items()
        if extra > faulty.unacknowledged[key]
    }
    return Report(
        expected=len(want),
        sent=len(got & want),
        lost=sorted(want - got),
        unexpected=sorted(got - want),
        duplicated=duplicated,
        unexplained=unexplained,
        tally=faulty,
    )


def main(args: argparse.Namespace) -> int:
    print(
        f"fault injection: {args.customers} customers, fault rate {args.rate:.0%} per AWS call, "
        f"seed {args.seed} (a run without faults first, for the expected messages)"
    )
    report = run(args.customers, args.rate, args.seed)
    for line in report.lines():
        print(line)
    ok = report.ok
    print(
        "result: nothing lost, every duplicate explained, no invocation outran its timeout"
        if ok
        else "result: FAILED"
    )
    return 0 if ok else 1
