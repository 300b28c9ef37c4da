"""`lifecycle bench-campaign`: one campaign to a whole customer base, through the real planner,
queues and senders over in-process moto, against a stand-in SES that enforces a sending rate.

The stack is the template's, as the local stack builds it. The Customers table is filled
straight into moto's in-memory table (a few % without email consent, suppressed or out of the
announcements topic; about half with a profile, a few of them dormant or at risk and so
outside the audience; mixed locales). The campaign is `campaigns/eco-wash-launch.yaml` as
reviewed (its A/B split, its holdout, its audience), sent at one instant (now) instead of at
10:00 local time, scheduled with the campaign commands.

- **SES** is a stand-in, hooked at botocore's `before-send` for SESv2 `SendEmail` (so every
  call is counted as any other, and moto does not store 100,000 raw messages) and SES v1
  `GetSendQuota` (the planner reads the quota and takes its share, as deployed). A send waits a
  realistic latency (uniform, 30 to 60 ms by default) and takes a token from one bucket every
  caller shares (the configured rate, a second's worth of burst, as SES allows); without one it
  is answered with SES's throttling error (`Throttling`, "Maximum sending rate exceeded.").
- **The planner** (CampaignPlannerFunction) is invoked with its start schedule's payload, then
  its plan queue is drained as Lambda would deliver it (BatchSize 1), before any sender runs:
  its time is its own, and the senders find every page waiting.
- **The senders** (CampaignSenderFunction) are threads, one per concurrent Lambda instance
  (the send queue's MaximumConcurrency): each polls the send queue for one page (BatchSize 1)
  and invokes the real handler, deleting the message unless the partial batch response names
  it, as Lambda's event source mapping does. Each thread is its own instance: its own cold
  start, ports, clients and dispatcher (the kit's contexts are kept per thread).
- **Welcome mail** meanwhile: one more thread invokes the WelcomeFunction with a Customers
  stream INSERT a few times a second, through the same SES; the same is done before the
  campaign for a baseline, so the two latencies are side by side.

moto in-process is not thread-safe, so one lock serialises its request handling (the
stand-in's sleep is outside it): the senders' concurrency comes from waiting on SES, as in
Lambda, but all of moto's and botocore's work shares one interpreter (the GIL) on this
machine. What the machine cannot keep up with shows as a lower rate, and the report says so.

Counted: every AWS call the planner and the senders make, by service and operation, apart from
what Lambda's event source mapping does (ReceiveMessage, DeleteMessageBatch), which the pollers
here do on clients of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, cast
from unittest import mock

import boto3
from botocore.awsrequest import AWSResponse

from lifecycle.local.bench_due import _put_into_moto
from lifecycle.local.daily_run import POLLING, Calls, passed, say
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REPO_ROOT,
    FunctionSpec,
    LocalContext,
    LocalStack,
    _reported_failures,
    local_aws,
    logs_to,
    to_sqs_record,
)
from lifecycle.messaging.message import Channel
from lifecycle.platform import composition, kit
from lifecycle.privacy import address_hash

PLANNER = "CampaignPlannerFunction"
SENDER = "CampaignSenderFunction"
WELCOME = "WelcomeFunction"
PLAN_QUEUE = "CampaignPlanQueue"
SEND_QUEUE = "CampaignSendQueue"
CAMPAIGN_FILE = REPO_ROOT / "campaigns" / "eco-wash-launch.yaml"
LOGS = Path("out/bench-campaign/lambda-logs.jsonl")
# What this machine's moto sustains, all senders together: about 15 sends a second on 2 cores
# (each send is three DynamoDB writes whose update expressions moto parses and validates in
# Python, 10-20 ms each). The default SES rate keeps the campaign's share below it.
DEFAULT_SES_RATE = 20.0
# A sender's page must fit its timeout (the sender hands back what it could not send): the
# senders are as many as the template allows, but no more than send a page in this share of
# the timeout at the campaign's rate.
PAGE_SHARE_OF_TIMEOUT = 0.5

RATE_TARGET = 0.95  # achieved campaign rate, as a share of the configured one
CALLS_TARGET = 3.1  # AWS calls per recipient, all services
PROJECTED_RECIPIENTS = 1_000_000
PROJECTED_RATE = 500.0  # sends per second
IDLE_POLL = (0.05, 1.0)  # seconds an idle sender waits before polling again: first, most
THROTTLE_CODE = "Throttling"
THROTTLE_MESSAGE = "Maximum sending rate exceeded."

# The base: shares of customers, drawn per customer with the run's seed.
NO_CONSENT_SHARE = 0.03
SUPPRESSED_SHARE = 0.01
OPTED_OUT_SHARE = 0.01
PROFILE_SHARE = 0.5  # customers who ordered (the rest are prospects)
OUTSIDE_SHARE = 0.04  # of those: dormant or at risk, outside the campaign's stages
LOCALES = ("en",) * 8 + ("en-GB",) * 2 + ("nl",) * 5 + ("nl-BE",) + ("tr",) * 2 + ("zh-TW",) * 2
FIRST_NAMES = ("Ann", "Bram", "Cem", "Dana", "Eli", "Fleur", "Gökhan", "Hui", "Ines", "Joris")
ZONES = ("Europe/Amsterdam", "Europe/Brussels", "Europe/London", "Europe/Istanbul", "Asia/Taipei")


# ---------------------------------------------------------------------------- instances
class _Local(threading.local):
    role: str | None = None  # planner, sender, welcome: whose calls these are
    instance: str = "main"  # the Lambda instance a thread stands for
    polling: bool = False  # the event source mapping's own calls


_LOCAL = _Local()


@contextmanager
def acting(role: str | None, instance: str | None = None) -> Iterator[None]:
    before = _LOCAL.role, _LOCAL.instance
    _LOCAL.role, _LOCAL.instance = role, instance or before[1]
    try:
        yield
    finally:
        _LOCAL.role, _LOCAL.instance = before


class _PerInstance:
    """The kit's contexts (a function's ports, clients, dispatcher: what a cold start builds),
    one set per simulated Lambda instance, so concurrent senders never share a dispatcher's
    read-ahead or a budget. Stands in for `kit._CONTEXTS` while the benchmark runs."""

    def __init__(self) -> None:
        self._sets: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, unit: kit.Unit[Any], effects: Callable[..., Any]) -> kit.Stage[Any]:
        with self._lock:
            contexts = self._sets.get(_LOCAL.instance)
            if contexts is None:
                contexts = self._sets[_LOCAL.instance] = kit._Contexts()
        stage: kit.Stage[Any] = contexts.get(unit, effects)
        return stage


@contextmanager
def one_moto_at_a_time() -> Iterator[None]:
    """moto answers one request at a time (its backends are plain dicts), and boto3 builds
    one client at a time (its session is not thread-safe). Time spent waiting on the stand-in
    SES is outside both."""
    from moto.core.botocore_stubber import BotocoreStubber

    moto_lock, client_lock = threading.Lock(), threading.Lock()
    answer = BotocoreStubber.__call__
    make_client = boto3.client

    def locked_answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        with moto_lock:
            return answer(self, *args, **kwargs)

    def locked_client(*args: Any, **kwargs: Any) -> Any:
        with client_lock:
            return make_client(*args, **kwargs)

    with (
        mock.patch.object(BotocoreStubber, "__call__", locked_answer),
        mock.patch.object(boto3, "client", locked_client),
        mock.patch.object(kit, "_CONTEXTS", _PerInstance()),
    ):
        yield


class _Counted(Calls):
    """daily_run's call counter, for the calls of some roles only (the planner's and the
    senders'); the pollers' calls (Lambda's event source mapping) apart."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        super().__init__()
        self.roles = roles
        self.polled: Counter[tuple[str, str]] = Counter()
        self.by_role: dict[str, Counter[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.counting:
            return
        key = (model.service_model.service_name, model.name)
        with self._lock:
            if _LOCAL.polling:
                self.polled[key] += 1
            elif _LOCAL.role in self.roles:
                self.made[key] += 1
                self.by_role.setdefault(_LOCAL.role or "", Counter())[key] += 1

    def _answered(self, *_: Any, **__: Any) -> None:
        return None

    def _failed(self, *_: Any, **__: Any) -> None:
        return None


# ---------------------------------------------------------------------------- SES stand-in
class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _response(status: int, body: bytes, headers: dict[str, str]) -> AWSResponse:
    return AWSResponse("https://email.invalid", status, cast(Any, headers), _Body(body))


@dataclass
class StandInSes:
    """SES as a sender meets it: latency, and a sending rate it enforces by refusing."""

    rate: float  # sends per second (SES's MaxSendRate)
    latency: tuple[float, float] = (0.030, 0.060)  # seconds, uniform
    seed: int = 7
    accepted: Counter[str] = field(default_factory=Counter)  # by role
    throttled: Counter[str] = field(default_factory=Counter)
    first_at: dict[str, float] = field(default_factory=dict)  # by role, perf_counter
    last_at: dict[str, float] = field(default_factory=dict)
    to: Counter[str] = field(default_factory=Counter)  # the senders' recipients
    _tokens: float = 0.0
    _refilled: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - latency draws, not secrets
        self._tokens, self._refilled = self.rate, time.perf_counter()

    def attach(self, events: Any) -> None:
        # More specific than moto's `before-send` handler: botocore asks it first.
        events.register("before-send.sesv2.SendEmail", self._send)
        events.register("before-send.ses.GetSendQuota", self._quota)

    def _take(self) -> bool:
        with self._lock:
            now = time.perf_counter()
            self._tokens = min(self.rate, self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        with self._lock:
            wait = self._rng.uniform(*self.latency)
        # Half the latency on the way in, where SES decides; the rest on the way back.
        time.sleep(wait / 2)
        taken = self._take()
        time.sleep(wait / 2)
        role = _LOCAL.role or "other"
        with self._lock:
            if not taken:
                self.throttled[role] += 1
                body = {"__type": THROTTLE_CODE, "message": THROTTLE_MESSAGE}
                headers = {"x-amzn-ErrorType": THROTTLE_CODE, "Content-Type": "application/json"}
                return _response(400, json.dumps(body).encode(), headers)
            self.accepted[role] += 1
            now = time.perf_counter()
            self.first_at.setdefault(role, now)
            self.last_at[role] = now
            if role == "sender":
                sent = json.loads(request.body)
                self.to.update(sent["Destination"]["ToAddresses"])
            number = sum(self.accepted.values())
        answer = json.dumps({"MessageId": f"stand-in-{number:09d}"}).encode()
        return _response(200, answer, {"Content-Type": "application/json"})

    def _quota(self, **_: Any) -> AWSResponse:
        xml = (
            '<GetSendQuotaResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
            f"<GetSendQuotaResult><Max24HourSend>{self.rate * 86400:.1f}</Max24HourSend>"
            f"<MaxSendRate>{self.rate:.1f}</MaxSendRate><SentLast24Hours>0.0</SentLast24Hours>"
            "</GetSendQuotaResult><ResponseMetadata><RequestId>stand-in</RequestId>"
            "</ResponseMetadata></GetSendQuotaResponse>"
        )
        return _response(200, xml.encode(), {"Content-Type": "text/xml"})

    def window(self, role: str) -> float:
        if role not in self.first_at:
            return 0.0
        return self.last_at[role] - self.first_at[role]


# ---------------------------------------------------------------------------- the base
@dataclass
class Base:
    """What was written, and who the campaign should reach."""

    customers: int = 0
    profiles: int = 0
    eligible: set[str] = field(default_factory=set)  # addresses the policy lets through
    counts: Counter[str] = field(default_factory=Counter)


def customer_id(number: int) -> str:
    return f"cust-{number:07d}"


def seed_base(stack: LocalStack, size: int, seed: int, now: datetime) -> Base:
    """`size` Customers rows (and profiles, suppressions, preferences), straight into moto."""
    rng = random.Random(seed)  # noqa: S311 - sample data, repeatable by seed
    base = Base(customers=size)
    customers, profiles, suppressions, preferences = [], [], [], []
    for number in range(size):
        cid = customer_id(number)
        email = f"{cid}@example.com"
        consent = rng.random() >= NO_CONSENT_SHARE
        customers.append(
            {
                "customer_id": {"S": cid},
                "first_name": {"S": FIRST_NAMES[number % len(FIRST_NAMES)]},
                "email": {"S": email},
                "locale": {"S": LOCALES[rng.randrange(len(LOCALES))]},
                "timezone": {"S": ZONES[rng.randrange(len(ZONES))]},
                "created_at": {"S": (now - timedelta(days=rng.randint(30, 900))).isoformat()},
                "consent": {"M": {"email_marketing": {"BOOL": consent}}},
            }
        )
        outside = False
        if rng.random() < PROFILE_SHARE:
            outside = rng.random() < OUTSIDE_SHARE
            stage = (
                rng.choice(("dormant", "at_risk"))
                if outside
                else rng.choice(("new", "active", "active", "loyal"))
            )
            last = now - timedelta(days=rng.randint(3, 200))
            profiles.append(
                {
                    "customer_id": {"S": cid},
                    "sk": {"S": "profile"},
                    "stage": {"S": stage},
                    "delivered": {"N": str(rng.randint(1, 30))},
                    "last_order_at": {"S": last.isoformat()},
                }
            )
        draw = rng.random()
        if outside:
            base.counts["outside the audience"] += 1
        elif not consent:
            base.counts["no email consent"] += 1
        elif draw < SUPPRESSED_SHARE:
            suppressions.append(
                {
                    "address_hash": {"S": address_hash(Channel.EMAIL, email)},
                    "channel": {"S": "email"},
                    "reason": {"S": "hard bounce"},
                }
            )
            base.counts["suppressed"] += 1
        elif draw < SUPPRESSED_SHARE + OPTED_OUT_SHARE:
            preferences.append(
                {
                    "customer_id": {"S": cid},
                    "entry": {"S": "state"},
                    "opt_outs": {"SS": ["email:announcements"]},
                    "version": {"N": "1"},
                }
            )
            base.counts["left the announcements topic"] += 1
        else:
            base.eligible.add(email)
    base.profiles = len(profiles)
    for table, items in (
        ("CustomersTable", customers),
        ("ProfilesTable", profiles),
        ("SuppressionsTable", suppressions),
        ("PreferencesTable", preferences),
    ):
        _put_into_moto(stack.table_name(table), items)
    return base


def bench_campaign(now: datetime) -> Any:
    """The eco wash launch as reviewed, sent at one instant (now) rather than local time."""
    import yaml

    from lifecycle.stages.announcements.campaign import parse

    data = yaml.safe_load(CAMPAIGN_FILE.read_text("utf-8"))
    data["send"] = {"at": now.replace(microsecond=0).isoformat()}
    return parse(data, str(CAMPAIGN_FILE))


# ---------------------------------------------------------------------------- the run
@dataclass
class _Poller:
    """Lambda's event source mapping for one queue and function: BatchSize 1, partial batch
    responses (a message the response names stays in flight for the visibility timeout)."""

    stack: LocalStack
    spec: FunctionSpec
    queue: str
    client: Any = None
    failed: int = 0
    errors: int = 0
    invocations: int = 0

    def __post_init__(self) -> None:
        self.client = boto3.client("sqs")
        self.url = self.stack.queue_url(self.queue)
        self.arn = self.stack.queue_arn(self.queue)

    def once(self) -> bool:
        """Take one message and invoke the function with it; False if none was visible."""
        _LOCAL.polling = True
        try:
            messages = self.client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        finally:
            _LOCAL.polling = False
        if not messages:
            return False
        records = [to_sqs_record(m, self.arn) for m in messages]
        ids = [r["messageId"] for r in records]
        self.invocations += 1
        try:
            response = self.spec.load()({"Records": records}, LocalContext.for_function(self.spec))
            failed = _reported_failures(response, ids)
        except Exception:
            self.errors += 1
            failed = ids
        self.failed += len(failed)
        done = [r for r in records if r["messageId"] not in failed]
        if done:
            _LOCAL.polling = True
            try:
                self.client.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(done)
                    ],
                )
            finally:
                _LOCAL.polling = False
        return True


def _waiting(stack: LocalStack, queue: str) -> int:
    """Messages on the queue: visible, in flight or delayed."""
    _LOCAL.polling = True
    try:
        attributes = stack.client("sqs").get_queue_attributes(
            QueueUrl=stack.queue_url(queue),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
    finally:
        _LOCAL.polling = False
    return sum(int(v) for v in attributes.values())


@dataclass
class _Welcomes:
    """Welcome emails, each a Customers stream INSERT of a new customer, invoked at a pace."""

    stack: LocalStack
    per_second: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    number: int = 0

    def event(self) -> dict[str, Any]:
        self.number += 1
        cid = f"welcome-{self.number:06d}"
        image = {
            "customer_id": {"S": cid},
            "email": {"S": f"{cid}@example.com"},
            "first_name": {"S": "Noor"},
            "locale": {"S": "nl"},
            "timezone": {"S": "Europe/Amsterdam"},
            "created_at": {"S": datetime.now(UTC).isoformat()},
            "consent": {"M": {"email_marketing": {"BOOL": True}}},
        }
        return {
            "Records": [
                {
                    "eventID": f"welcome-{self.number}",
                    "eventName": "INSERT",
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "eu-west-1",
                    "dynamodb": {
                        "ApproximateCreationDateTime": int(time.time()),
                        "Keys": {"customer_id": {"S": cid}},
                        "NewImage": image,
                        "SequenceNumber": str(10**20 + self.number),
                        "SizeBytes": 300,
                        "StreamViewType": "NEW_AND_OLD_IMAGES",
                    },
                    "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/"
                    "CustomersTable/stream/local",
                }
            ]
        }

    def send(self) -> None:
        spec = self.stack.function(WELCOME)
        event = self.event()
        started = time.perf_counter()
        with acting("welcome", "welcome"):
            try:
                response = spec.load()(event, LocalContext.for_function(spec))
                if (response or {}).get("batchItemFailures"):
                    self.failures += 1
            except Exception:
                self.failures += 1
        self.latencies.append(time.perf_counter() - started)

    def run(self, stop: threading.Event) -> None:
        pause = 1 / self.per_second
        next_at = time.perf_counter()
        while not stop.is_set():
            self.send()
            next_at += pause
            stop.wait(max(0.0, next_at - time.perf_counter()))


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class CampaignFigures:
    recipients: int  # customers in the table
    base: Base
    ses_rate: float
    campaign_rate: float  # what the planner set (its share of the quota)
    rate_share: float
    senders: int
    latency: tuple[float, float]
    planned: int  # recipients the planner queued
    outside: int  # customers the planner left out (by the audience)
    pages: int
    planner_seconds: float
    sending_seconds: float  # from the first sender's start to the queue empty
    window_seconds: float  # first to last campaign send SES accepted
    sent: int  # campaign sends SES accepted
    tally: dict[str, Any]  # the campaign's status (its tallies)
    sent_once: bool  # every eligible, not held out, recipient got exactly one
    expected: int  # eligible and not held out
    throttles: Counter[str]  # by role
    calls: _Counted
    welcome_alone: list[float]
    welcome_during: list[float]
    welcome_sent: int
    welcome_failures: int
    left: int  # messages still on the send queue at the end
    sender_errors: int
    segments: int
    total_seconds: float
    load_seconds: float

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.window_seconds if self.window_seconds > 0 else 0.0

    @property
    def rate_share_achieved(self) -> float:
        return self.achieved_rate / self.campaign_rate if self.campaign_rate else 0.0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.made.values())

    def per_recipient(self, count: int) -> float:
        return count / self.planned if self.planned else 0.0

    @property
    def planner_per_10k(self) -> float:
        return self.planner_seconds * 10_000 / self.planned if self.planned else 0.0

    @property
    def projected_planner_seconds(self) -> float:
        if not self.planned:
            return 0.0
        return self.planner_seconds / self.planned * PROJECTED_RECIPIENTS / self.segments

    @property
    def projected_seconds(self) -> float:
        return self.projected_planner_seconds + PROJECTED_RECIPIENTS / PROJECTED_RATE

    @property
    def met(self) -> bool:
        return (
            self.sent_once
            and not sum(self.throttles.values())
            and self.rate_share_achieved >= RATE_TARGET
            and self.per_recipient(self.total_calls) <= CALLS_TARGET
            and not self.left
        )


def measure(
    recipients: int = 100_000,
    *,
    ses_rate: float = DEFAULT_SES_RATE,
    rate_share: float | None = None,
    senders: int | None = None,
    latency: tuple[float, float] = (0.030, 0.060),
    welcome_rate: float = 2.0,
    welcome_baseline: int = 20,
    seed: int = 7,
    progress: TextIO | None = sys.stderr,
    logs: Path | None = None,
) -> CampaignFigures:
    """Build the stack, seed the base, send the campaign; the figures."""
    if recipients < 10:
        raise ValueError("bench-campaign needs at least 10 recipients")
    if ses_rate <= 0 or welcome_rate <= 0:
        raise ValueError("rates must be positive")
    begun = time.perf_counter()
    with (
        local_aws(),
        logs_to(logs or LOGS) as log,
        one_moto_at_a_time(),
        warnings.catch_warnings(),
    ):
        # Powertools warns of an invocation with no metric of its own.
        warnings.filterwarnings("ignore", "No application metrics", UserWarning)
        stack = LocalStack.deployed(LOCAL_PARAMETERS)
        stack.stdout = log
        share = (
            rate_share if rate_share is not None else float(stack.parameters["CampaignRateShare"])
        )
        sender_spec = stack.function(SENDER)
        concurrency = senders or _senders(
            int(stack.parameters["CampaignSenderConcurrency"]),
            ses_rate * share,
            sender_spec.timeout,
        )
        for name in (PLANNER, SENDER):
            stack.overrides.setdefault(name, {}).update(
                {"CAMPAIGN_SEND_RATE": "0", "CAMPAIGN_RATE_SHARE": str(share)}
            )
        session = boto3.DEFAULT_SESSION
        assert session is not None
        ses = StandInSes(ses_rate, latency, seed)
        ses.attach(session.events)
        calls = _Counted(("planner", "sender"))
        calls.attach(session.events)
        composition.reset()  # every function's clients are built from now on, with the hooks

        now = datetime.now(UTC)
        say(progress, f"{recipients:,} customers: writing them into moto's tables")
        base = seed_base(stack, recipients, seed, now)
        loaded = time.perf_counter()
        campaign = bench_campaign(now)

        from lifecycle.campaign_control import Campaigns, StackNames
        from lifecycle.stages.announcements import journey
        from lifecycle.stages.announcements.planner import start_schedule_name

        planner, sender = stack.function(PLANNER), stack.function(SENDER)
        control = Campaigns(boto3.client, StackNames.from_environment(planner.environment))
        control.schedule(campaign, now)
        key = control.names.holdout_key.encode()
        expected = {
            email
            for email in base.eligible
            if journey.variant_of(campaign, key, email.split("@")[0]) is not None
        }
        schedule = boto3.client("scheduler").get_schedule(
            Name=start_schedule_name(campaign.id), GroupName=control.names.schedule_group
        )
        payload = json.loads(schedule["Target"]["Input"])

        # Welcome mail with nothing else running: the baseline.
        welcomes = _Welcomes(stack, welcome_rate)
        with stack.environment_of(stack.function(WELCOME)):
            for _ in range(welcome_baseline):
                welcomes.send()
                time.sleep(1 / welcome_rate)
        alone, welcomes.latencies = welcomes.latencies, []

        with acting("planner", "planner"):
            say(progress, f"{recipients:,} customers: the planner ({PLANNER})")
            started = time.perf_counter()
            with stack.environment_of(planner):
                planner.load()(payload, LocalContext.for_function(planner))
                steps = _Poller(stack, planner, PLAN_QUEUE)
                while steps.once():
                    pass
            planner_seconds = time.perf_counter() - started
        status = control.status(campaign.id)
        pages = _waiting(stack, SEND_QUEUE)
        say(
            progress,
            f"  planner: {status.plan.queued:,} recipients in {pages:,} pages,"
            f" {sum(status.plan.outside.values()):,} outside the audience"
            f" ({planner_seconds:.1f} s); campaign rate {status.rate:g}/s",
        )

        sending_seconds, left, errors = _send_all(
            stack, sender, concurrency, welcomes, ses, status.plan.queued, progress
        )
        status = control.status(campaign.id)
    calls.counting = False
    during = welcomes.latencies
    return CampaignFigures(
        recipients=recipients,
        base=base,
        ses_rate=ses_rate,
        campaign_rate=float(status.rate or 0),
        rate_share=share,
        senders=concurrency,
        latency=latency,
        planned=status.plan.queued,
        outside=sum(status.plan.outside.values()),
        pages=pages,
        planner_seconds=planner_seconds,
        sending_seconds=sending_seconds,
        window_seconds=ses.window("sender"),
        sent=ses.accepted["sender"],
        tally=status.as_dict(),
        sent_once=set(ses.to) == expected and max(ses.to.values(), default=1) == 1,
        expected=len(expected),
        throttles=Counter(ses.throttled),
        calls=calls,
        welcome_alone=alone,
        welcome_during=during,
        welcome_sent=ses.accepted["welcome"],
        welcome_failures=welcomes.failures,
        left=left,
        sender_errors=errors,
        segments=int(planner.environment.get("CAMPAIGN_PLANNER_SEGMENTS", "4")),
        total_seconds=time.perf_counter() - begun,
        load_seconds=loaded - begun,
    )


def _senders(allowed: int, rate: float, timeout: int) -> int:
    """How many senders: the template's concurrency, but no more than keep a page's time
    within PAGE_SHARE_OF_TIMEOUT of the sender's timeout at `rate` (each sender gets
    rate / senders of it)."""
    from lifecycle.stages.announcements.planner import PAGE

    fitting = int(rate * timeout * PAGE_SHARE_OF_TIMEOUT / PAGE)
    return max(1, min(allowed, fitting))


@contextmanager
def _environment(spec: FunctionSpec) -> Iterator[None]:
    """The function's environment for every thread (each sender's cold start reads it)."""
    saved = dict(os.environ)
    os.environ.update(spec.environment)
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.logical_id
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _send_all(
    stack: LocalStack,
    sender: FunctionSpec,
    concurrency: int,
    welcomes: _Welcomes,
    ses: StandInSes,
    planned: int,
    progress: TextIO | None,
) -> tuple[float, int, int]:
    """The senders over the send queue, welcome mail beside them, until the queue is empty
    (or only pages that failed are left, in flight); seconds, messages left, handler errors."""
    stop, done = threading.Event(), threading.Event()
    pollers: list[_Poller] = []
    busy = [False] * concurrency

    def instance(number: int) -> None:
        with acting("sender", f"sender-{number}"):
            poller = _Poller(stack, sender, SEND_QUEUE)
            pollers.append(poller)
            pause = IDLE_POLL[0]
            while not done.is_set():
                busy[number] = True
                took = poller.once()
                busy[number] = False
                # An idle poller asks less and less often (Lambda's long-polls; moto has no
                # long polling, and empty receives would take its lock from the busy ones).
                pause = IDLE_POLL[0] if took else min(pause * 2, IDLE_POLL[1])
                if not took:
                    done.wait(pause)

    threads = [
        threading.Thread(target=instance, args=(n,), name=f"sender-{n}", daemon=True)
        for n in range(concurrency)
    ]
    mail = threading.Thread(target=welcomes.run, args=(stop,), name="welcome", daemon=True)
    started = time.perf_counter()
    with (
        _environment(sender),
        contextlib.redirect_stdout(stack.stdout or sys.stdout),
    ):
        for thread in [*threads, mail]:
            thread.start()
        reported, idle_since = 0, None
        while True:
            time.sleep(1.0)
            sent = ses.accepted["sender"]
            if passed(reported, sent, max(1, planned // 10)) or not planned:
                window = ses.window("sender")
                rate = sent / window if window else 0.0
                say(
                    progress,
                    f"  senders: {sent:,} of {planned:,} sent ({rate:.1f}/s,"
                    f" {sum(ses.throttled.values())} throttled,"
                    f" {time.perf_counter() - started:.0f} s)",
                )
                reported = sent
            with acting(None):
                waiting = _waiting(stack, SEND_QUEUE)
            if not waiting:
                break
            if not any(busy):
                # Only failed pages in flight (they come back after the visibility timeout):
                # give them a minute, then report them left.
                idle_since = idle_since or time.perf_counter()
                if time.perf_counter() - idle_since > 60:
                    break
            else:
                idle_since = None
        sending = time.perf_counter() - started
        done.set()
        stop.set()
        for thread in [*threads, mail]:
            thread.join()
        with acting(None):
            left = _waiting(stack, SEND_QUEUE)
    return sending, left, sum(p.errors for p in pollers)


# ---------------------------------------------------------------------------- the report
def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _ms(values: list[float], share: float) -> str:
    return f"{_percentile(values, share) * 1000:.0f} ms" if values else "-"


def report(figures: CampaignFigures, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up now: a test may have replaced it
    f = figures

    def line(text: str) -> None:
        print(text, file=out)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    counts = f.base.counts
    line(f"{f.recipients:,} customers ({_duration(f.total_seconds)} in all)")
    line(
        f"  base: {f.base.profiles:,} with a profile; {counts['no email consent']:,} without"
        f" email consent, {counts['suppressed']:,} suppressed, "
        f"{counts['left the announcements topic']:,} out of the topic,"
    )
    line(
        f"    {counts['outside the audience']:,} dormant or at risk (outside the audience);"
        f" written in {f.load_seconds:.1f} s straight into moto's tables"
    )
    line(
        f"  SES stand-in: {f.ses_rate:g}/s (burst {f.ses_rate:g}), latency"
        f" {f.latency[0] * 1000:.0f}-{f.latency[1] * 1000:.0f} ms; campaign rate"
        f" {f.campaign_rate:g}/s (CampaignRateShare {f.rate_share:g} of the quota);"
        f" {f.senders} senders"
    )
    line(
        f"  planner: {f.planned:,} recipients planned in {f.pages:,} pages,"
        f" {f.outside:,} outside the audience, {f.planner_seconds:.1f} s"
        f" ({f.segments} segments, one after the other here)"
    )
    tally = f.tally
    skipped = sum(tally["skipped"].values())
    line(
        f"  senders: {tally['sent']:,} sent, {tally['held_out']:,} held out, {skipped:,} skipped,"
        f" {tally['failed']:,} failed, {tally['deferred']:,} deferred, {tally['remaining']:,}"
        f" remaining; {_duration(f.sending_seconds)}"
    )
    for reason, n in sorted(tally["skipped"].items()):
        line(f"    skipped: {n:>7,}  {reason}")
    once = "yes" if f.sent_once else "NO"
    line(
        f"  every eligible recipient sent once   {once:>9}  ({f.expected:,} expected, SES"
        f" accepted {f.sent:,})"
    )
    line(
        f"  achieved rate                        {f.achieved_rate:>7.1f}/s"
        f"  {f.rate_share_achieved:.1%} of the configured {f.campaign_rate:g}/s"
        f" (target {RATE_TARGET:.0%}: {verdict(f.rate_share_achieved >= RATE_TARGET)})"
    )
    throttles = sum(f.throttles.values())
    by_role = ", ".join(f"{r} {n}" for r, n in sorted(f.throttles.items())) or "none"
    line(
        f"  throttling errors                    {throttles:>9,}  ({by_role};"
        f" target 0: {verdict(not throttles)})"
    )
    total = f.total_calls
    line(
        f"  AWS calls per recipient              {f.per_recipient(total):>9.2f}"
        f"  (target at most {CALLS_TARGET}: {verdict(f.per_recipient(total) <= CALLS_TARGET)});"
        f" {total / f.sent if f.sent else 0:.2f} a message sent"
    )
    services = f.calls.by_service()
    for service, count in services.items():
        operations = sorted(
            ((op, n) for (s, op), n in f.calls.made.items() if s == service),
            key=lambda pair: -pair[1],
        )
        named = ", ".join(f"{op} {f.per_recipient(n):.2f}" for op, n in operations)
        line(f"    {service:<10} {f.per_recipient(count):>5.2f}  ({named})")
    for role in ("planner", "sender"):
        made = f.calls.by_role.get(role, Counter())
        line(
            f"    by the {role}: {sum(made.values()):,} calls,"
            f" {f.per_recipient(sum(made.values())):.2f} a recipient"
        )
    polled = ", ".join(f"{op} {f.calls.polled[('sqs', op)]:,}" for op in POLLING)
    line(f"    not counted: Lambda's event source mapping (the pollers here): {polled}")
    line(f"  planner time per 10,000 recipients   {f.planner_per_10k:>7.1f} s")
    line(
        f"  projected, {PROJECTED_RECIPIENTS:,} at {PROJECTED_RATE:g}/s"
        f"   {_duration(f.projected_seconds):>9}  (planner"
        f" {_duration(f.projected_planner_seconds)}: this run's time a recipient x"
        f" {PROJECTED_RECIPIENTS:,}"
    )
    line(
        f"    / {f.segments} segments in parallel; then"
        f" {PROJECTED_RECIPIENTS:,} / {PROJECTED_RATE:g} = "
        f"{_duration(PROJECTED_RECIPIENTS / PROJECTED_RATE)} of sending; no overlap counted)"
    )
    line(
        f"  welcome mail, alone / during the campaign: p50 {_ms(f.welcome_alone, 0.5)} /"
        f" {_ms(f.welcome_during, 0.5)}, p95 {_ms(f.welcome_alone, 0.95)} /"
        f" {_ms(f.welcome_during, 0.95)}"
    )
    line(
        f"    ({len(f.welcome_alone)} / {len(f.welcome_during)} sends; SES accepted"
        f" {f.welcome_sent}, throttled {f.throttles.get('welcome', 0)}, failed"
        f" {f.welcome_failures})"
    )
    if f.left or f.sender_errors:
        line(f"  NOT DONE: {f.left:,} pages left on the queue, {f.sender_errors} handler errors")


def run(
    recipients: int = 100_000,
    *,
    out: TextIO | None = None,
    progress: TextIO | None = sys.stderr,
    **options: Any,
) -> CampaignFigures:
    out = out or sys.stdout
    print(
        "A campaign over moto (in-process): the real planner, queues and senders, a stand-in"
        " SES enforcing its rate",
        file=out,
        flush=True,
    )
    figures = measure(recipients, progress=progress, **options)
    report(figures, out)
    out.flush()
    return figures
