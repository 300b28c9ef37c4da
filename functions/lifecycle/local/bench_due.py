"""`lifecycle bench-due`: the daily run, its planner and its worker, at scale over moto.

The stack is the template's, as the local stack builds it over in-process moto: its tables
(the Profiles table with its sparse, sharded `due` index), queues, verified sender and secrets.
The run is the real one. The DailyStagesFunction's handler, invoked for the day generated (the
payload of a manual run; the schedule's own event means today), reads the `due` index through
`DynamoProfiles.due` and puts the customers due on the DailyStagesQueue in batches of 100; the
local stack polls that queue as Lambda's event source mapping does (5 messages an invocation,
partial batch responses) and hands them to the DailyStagesWorkerFunction's handler, which moves
each customer's stage and sends what the retention stage owes them through the dispatcher
(contact policy, ledger, SES over moto), issuing promo codes and recording exposures.

The profiles are what the Orders stream and the daily run would have left last night. Each
comes from an order history folded by the real pure code (`apply_order`, then `advance` for the
changes time made since), moved in time so that a chosen share of customers is due today:

- about 10% prospects (every order they placed was cancelled) and 20% past the last day the
  daily run has anything for them (dormant, the win-back sequence over): not in the index;
- `due_share` of them on a day the run must see them: a stage change (lapsing today starts the
  win-back sequence with its reminder), a later win-back step (the offer, with a promo code;
  the last chance, repeating it), or, the morning after an order, a tier-up or the quarter's
  heavy-user reward;
- the rest due on a later day.

Each profile is brought up to yesterday (`as_of`), and what the daily run owed the customer up
to then is marked handled on it, as the worker marks it (`journey.due`, then `journey.marks`:
the win-back step, the tiers announced, the quarter rewarded; a win-back message that went
opens the win-back window), and
the offer's code is in place for a customer whose last chance is due. The profile's due day is
what `DynamoProfiles._write` indexes (`next_due`), so who is due today is known from the
generation, before the run: the planner must enqueue exactly them. Each customer due has a
Customers row (an email address, email marketing consent, one of the templates' locales); no
other customer's row is read by the run, so no other is written. Exposures of earlier
messages are not written either: only an order's attribution reads them.

Writing profiles through boto3 (`batch_write_item`, 25 items a request) costs 1.3 to 2 ms a
profile here, most of it moto building its item (its 400 KB guard measures the whole item again
for every attribute): 2 to 3 minutes for 100,000, 20 to 35 minutes for a million. So up to
`BOTO3_LOAD_LIMIT` profiles everything goes through boto3; past it the first `BOTO3_SAMPLE`
do (to time that way) and the rest go straight into moto's in-memory table through its own
`Table.put_item`, as moto's batch_write_item would put them. The output says which. The run
always goes through boto3, as in Lambda.

The run itself, and what is counted during it, is `daily_run.py`'s: every AWS call the two
functions make (botocore's `before-call` event on the session their clients are built from,
once per API call), by service and operation, and the time spent in them; the items the due
query read (its pages' ScannedCount) and what moto answers to ReturnConsumedCapacity=INDEXES.
Afterwards, messages sent are the ledger's rows in state sent (and what moto's SES accepted);
promo codes issued and holdouts are read from the due customers' item collections.
"""

from __future__ import annotations

import functools
import itertools
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from unittest import mock
from zoneinfo import ZoneInfo

import boto3

from lifecycle.adapters.profiles import DUE_INDEX, DUE_SHARDS, _profile_item
from lifecycle.adapters.promo import _item as _promo_item
from lifecycle.adapters.promo import lookup_key
from lifecycle.local.daily_run import POLLING, WORKER, RunFigures, daily_run, passed, say
from lifecycle.local.stack import (
    ACCOUNT_ID,
    LOCAL_PARAMETERS,
    REGION,
    LocalStack,
    local_aws,
    logs_to,
)
from lifecycle.messaging.timing import DISPATCH_SECONDS, RESERVE_SECONDS
from lifecycle.models import OrderStatus
from lifecycle.platform.effects import PROFILE_WRITE_SECONDS
from lifecycle.platform.settings import Env
from lifecycle.profiles.model import Contribution, LoyaltyRules, Profile
from lifecycle.profiles.promo import issued, new_code
from lifecycle.profiles.stages import (
    LAPSED,
    StageRules,
    advance,
    apply_order,
    next_change,
    next_due,
)
from lifecycle.stages.retention import journey
from lifecycle.stages.retention.settings import RetentionSettings

RATIO_TARGET = 1.1
PROSPECT_SHARE = 0.10
DORMANT_SHARE = 0.20
# Up to this many profiles are written through boto3 (1.3 to 2 ms each on the 2-core
# development machine); past it, most go straight into moto's table (about 0.25 ms each).
BOTO3_LOAD_LIMIT = 100_000
# Past it, this many go through boto3 first: what the whole load would take that way.
BOTO3_SAMPLE = 10_000
PROGRESS_EVERY = 100_000
CHUNK = 25_000  # items generated, then written, at a time
# Distinct order histories the customers are drawn from (each moved to its own days).
HISTORIES = 1_500
# When the daily run's schedule fires (cron(0 5 * * ? *) in the business's time zone).
RUN_AT = clock(5)
# The Customers rows' locales (each has its templates), one customer in 20 at a time.
LOCALES = ("en",) * 11 + ("nl",) * 6 + ("tr",) * 2 + ("zh-TW",)
FIRST_NAMES = ("Ann", "Bram", "Cem", "Dana", "Eli", "Fleur", "Gökhan", "Hui", "Ines", "Joris")
LOGS = Path("out/bench-due/lambda-logs.jsonl")
_ANCHOR = date(2001, 1, 1)  # a history's last order day, before it is moved


@dataclass(frozen=True)
class _History:
    """A customer's orders folded into a profile, anchored on the day of the last order:
    `states[k]` is the profile after the first k changes time makes, `changes[k]` the day
    (days after the last order) of the next one; `wakes` the days the daily run must see the
    customer (a stage change, a win-back step, the morning after the last order when it
    brought a reward), and `before_last` the profile that morning's run saw."""

    states: tuple[Profile, ...]
    changes: tuple[int, ...]
    wakes: tuple[int, ...]
    before_last: Profile
    writes: int  # order images folded, for the profile's version

    @functools.cached_property
    def quiet_days(self) -> tuple[int, ...]:
        """The days (after the last order) the run has nothing for, before its last wake."""
        last = self.wakes[-1] if self.wakes else 0
        return tuple(day for day in range(1, last) if day not in self.wakes)


@dataclass
class Population:
    """What is generated: every item of the Profiles table, lazily, in customer order. The
    customers due today, their Customers rows and the counts fill in as the items come."""

    items: Iterator[dict[str, Any]]
    due: set[str] = field(default_factory=set)
    customers: list[dict[str, Any]] = field(default_factory=list)  # the due customers' rows
    counts: Counter[str] = field(default_factory=Counter)


def _order_times(rng: random.Random, zone: ZoneInfo) -> list[tuple[datetime, bool]]:
    """Order times and whether each was cancelled, oldest first, the last on the anchor day:
    one-off customers, regulars (weekly to every six weeks), heavy users (every few days)."""
    kind = rng.random()
    if kind < 0.35:
        count, gap = 1, 0
    elif kind < 0.85:
        count, gap = rng.randint(2, 12), rng.choice((7, 10, 14, 21, 28, 35, 42))
    else:
        count, gap = rng.randint(5, 24), rng.randint(2, 6)
    days = [0]
    for _ in range(count - 1):
        days.append(days[-1] - max(1, gap + rng.randint(-2, 2)))
    moments = [
        datetime.combine(_ANCHOR + timedelta(days=day), clock(rng.randint(8, 19)), zone)
        for day in reversed(days)
    ]
    cancelled = [rng.random() < 0.05 for _ in moments]
    cancelled[-1] = False  # the anchor is the last live order
    return [(moment.astimezone(UTC), gone) for moment, gone in zip(moments, cancelled, strict=True)]


def _fold(
    orders: Sequence[tuple[datetime, bool]],
    rng: random.Random,
    loyalty: LoyaltyRules,
    rules: StageRules,
) -> tuple[Profile, Profile]:
    """The profile the Orders stream would leave: each order's last image folded in; and the
    profile before the last order, brought up to that order's day (what the daily run saw that
    morning)."""
    profile = before = Profile("history")
    for number, (placed, cancelled) in enumerate(orders):
        spend = Decimal(0) if cancelled else Decimal(rng.randint(1500, 6500)) / 100
        part = Contribution(
            order_id=f"o{number:02d}",
            placed_at=placed,
            updated_at=placed,
            status=OrderStatus.CANCELLED if cancelled else OrderStatus.DELIVERED,
            currency="EUR",
            spend=spend,
            points=loyalty.points(spend, "EUR") if spend else 0,
        )
        before = profile
        profile = apply_order(profile, None, part, loyalty, rules).profile
    assert profile.as_of is not None
    return profile, advance(before, profile.as_of, rules)[0]


def handled(
    profile: Profile,
    seen: Profile,
    day: date,
    settings: RetentionSettings,
    *,
    went: bool = True,
) -> Profile:
    """`profile` with what the daily run of `day` owed the customer marked as handled, as the
    worker marks it (`seen`: the profile as that run found it). A win-back message is taken to
    have gone on its day unless the customer is held out of the programme, or `went` is
    False (an order since then closed its window)."""
    rules = settings.profiles.stages
    for owed in journey.due(seen, day, rules):
        sent_at = None
        if owed.family == journey.WINBACK and went:
            step = journey.winback_step(seen, day, rules.wake_after_lapse, rules)
            key, share = settings.holdout_key, settings.holdout_share
            if step is not None and not journey.held_out(key, owed.family, seen.customer_id, share):
                sent_at = datetime.combine(step.due_on, RUN_AT, ZoneInfo(rules.timezone))
        profile = journey.marks(owed, rules, sent_at=sent_at)(profile)
    return profile


def _history(rng: random.Random, settings: RetentionSettings) -> _History:
    rules, loyalty = settings.profiles.stages, settings.profiles.loyalty
    zone = ZoneInfo(rules.timezone)
    orders = _order_times(rng, zone)
    state, before_last = _fold(orders, rng, loyalty, rules)
    assert state.as_of is not None
    states, changes = [state], []
    lapsed: int | None = None
    day = next_change(state, state.as_of, rules)
    while day is not None:
        state, moved = advance(state, day, rules)
        assert len(moved) == 1, moved  # next_change names the first day the stage moves
        states.append(state)
        changes.append((day - _ANCHOR).days)
        if lapsed is None and state.stage in LAPSED:
            lapsed = changes[-1]  # no order follows: lapsed from here on
        day = next_change(state, day, rules)
    wakes = set(changes)
    if lapsed is not None:
        wakes |= {lapsed + offset for offset in rules.wake_after_lapse}
    # The morning after the last order: a reward it brought (a tier, the heavy-user reward)
    # waits, unless the run of that order's day had already handled it.
    left = handled(states[0], before_last, _ANCHOR, settings, went=False)
    if next_due(left, _ANCHOR, rules) == _ANCHOR:
        wakes.add(1)
    return _History(tuple(states), tuple(changes), tuple(sorted(wakes)), before_last, len(orders))


def _prospect(rng: random.Random, settings: RetentionSettings) -> _History:
    """A customer whose every order was cancelled: a profile, but a prospect."""
    rules, loyalty = settings.profiles.stages, settings.profiles.loyalty
    zone = ZoneInfo(rules.timezone)
    orders = [(moment, True) for moment, _ in _order_times(rng, zone)[-rng.randint(1, 2) :]]
    profile, before = _fold(orders, rng, loyalty, rules)
    return _History((profile,), (), (), before, len(orders))


def _moved(profile: Profile, customer_id: str, number: int, days: int, writes: int) -> Profile:
    """The anchored profile as customer `customer_id`'s, `days` later."""
    shift = timedelta(days=days)

    def later(moment: datetime | None) -> datetime | None:
        return moment + shift if moment is not None else None

    return replace(
        profile,
        customer_id=customer_id,
        recent={f"ord-{number:07d}-{o[1:]}": t + shift for o, t in profile.recent.items()},
        first_order_at=later(profile.first_order_at),
        last_order_at=later(profile.last_order_at),
        last_delivered_at=later(profile.last_delivered_at),
        stage_since=later(profile.stage_since),
        lapsed_since=later(profile.lapsed_since),
        as_of=profile.as_of + shift if profile.as_of else None,
        version=writes,
    )


def last_night(
    history: _History, since: int, number: int, today: date, settings: RetentionSettings
) -> Profile:
    """Customer `number`'s profile as the daily run left it yesterday, `since` days after
    their last order: every stage change up to yesterday, what the runs owed them marked."""
    yesterday = today - timedelta(days=1)
    applied = sum(1 for change in history.changes if change < since)
    days = (today - timedelta(days=since) - _ANCHOR).days
    customer = customer_id(number)
    writes = history.writes + applied
    profile = _moved(history.states[applied], customer, number, days, writes)
    # Yesterday's run came before yesterday's order, if there was one (since == 1).
    seen = profile if since > 1 else _moved(history.before_last, customer, number, days, writes)
    profile = handled(profile, seen, yesterday, settings, went=since > 1)
    return replace(profile, as_of=yesterday)


def _codes(profile: Profile, settings: RetentionSettings) -> list[dict[str, Any]]:
    """The win-back offer's code (and its lookup item), for a customer whose offer went: the
    last chance repeats it, so the worker finds it rather than issuing one."""
    key, sent = profile.winback_key, profile.winback_at
    if key is None or sent is None or not key.endswith("#1"):
        return []
    sequence = key.split("#")[2]
    code = issued(
        new_code(),
        profile.customer_id,
        f"{journey.WINBACK}-{sequence}",
        settings.code_valid_days,
        sent.astimezone(UTC),
    )
    lookup = {
        **lookup_key(code.code),
        "owner": {"S": profile.customer_id},
        "programme": {"S": code.programme},
    }
    return [_promo_item(code), lookup]


def _customer_row(profile: Profile, number: int) -> dict[str, Any]:
    """The business's Customers row for a customer due: reachable by email, consenting."""
    joined = profile.first_order_at or datetime(2020, 1, 1, tzinfo=UTC)
    return {
        "customer_id": {"S": profile.customer_id},
        "first_name": {"S": FIRST_NAMES[number % len(FIRST_NAMES)]},
        "email": {"S": f"{profile.customer_id}@example.com"},
        "locale": {"S": LOCALES[number % len(LOCALES)]},
        "created_at": {"S": (joined - timedelta(days=3)).astimezone(UTC).isoformat()},
        "consent": {"M": {"email_marketing": {"BOOL": True}}},
    }


def population(
    size: int,
    due_share: float,
    today: date,
    settings: RetentionSettings,
    seed: int = 7,
) -> Population:
    """`size` profiles as the daily run left them last night; which are due today.

    Each customer's history and day are drawn first; the items then come lazily, in customer
    order (the caller writes them as they come), and the customers due fill in with them."""
    rng = random.Random(seed)  # noqa: S311 - sample data, repeatable by seed
    kinds = min(HISTORIES, max(100, size // 10))
    histories = [_history(rng, settings) for _ in range(kinds)]
    prospects = [_prospect(rng, settings) for _ in range(kinds // 10)]
    plan: list[tuple[_History, int]] = []  # each customer's history and days since its anchor
    for _ in range(size):
        draw = rng.random()
        if draw < PROSPECT_SHARE:
            plan.append((rng.choice(prospects), rng.randint(1, 700)))
            continue
        history = rng.choice(histories)
        if draw < PROSPECT_SHARE + DORMANT_SHARE:
            plan.append((history, history.wakes[-1] + rng.randint(1, 700)))
        elif draw < PROSPECT_SHARE + DORMANT_SHARE + due_share:
            plan.append((history, rng.choice(history.wakes)))
        else:
            while not history.quiet_days:
                history = rng.choice(histories)
            plan.append((history, rng.choice(history.quiet_days)))
    rules = settings.profiles.stages
    generated = Population(iter(()))
    # next_due reads nothing of a profile that differs between two customers of one history
    # moved to the same day (their ids, order ids and win-back keys, whether a win-back
    # message went): they share their due day, worked out once.
    due_days: dict[tuple[int, int], date | None] = {}

    def items() -> Iterator[dict[str, Any]]:
        for number, (history, since) in enumerate(plan):
            profile = last_night(history, since, number, today, settings)
            assert profile.as_of is not None
            key = (id(history), since)
            if key not in due_days:
                # What DynamoProfiles._write indexes.
                due_days[key] = next_due(profile, profile.as_of, rules)
            due_day = due_days[key]
            yield _profile_item(profile, due_day)
            if due_day is None:
                generated.counts["prospect" if profile.stage == "prospect" else "dormant"] += 1
            elif due_day > today:
                generated.counts["due later"] += 1
            else:
                generated.counts["due today"] += 1
                generated.due.add(profile.customer_id)
                generated.customers.append(_customer_row(profile, number))
                yield from _codes(profile, settings)

    generated.items = items()
    return generated


def customer_id(number: int) -> str:
    return f"cust-{number:07d}"


# ---------------------------------------------------------------------------------- loading
@dataclass
class _Load:
    """Writes the items in chunks: through boto3 the first `through_boto3` of them, the rest
    straight into moto's table; times generation and writing apart."""

    table: str
    total: int  # profiles
    through_boto3: int
    progress: TextIO | None
    done: int = 0  # items written (profiles, and the offers' codes)
    generating: float = 0.0
    writing: float = 0.0
    boto3_seconds: float = 0.0
    boto3_items: int = 0

    def run(self, items: Iterator[dict[str, Any]]) -> None:
        client = boto3.client("dynamodb", region_name=REGION)
        started = time.perf_counter()
        while True:
            clock_in = time.perf_counter()
            chunk = list(itertools.islice(items, CHUNK))
            if not chunk:
                break
            self.generating += time.perf_counter() - clock_in
            clock_in = time.perf_counter()
            by_boto3 = chunk[: max(0, self.through_boto3 - self.done)]
            for first in range(0, len(by_boto3), 25):
                _batch_write(client, self.table, by_boto3[first : first + 25])
            self.boto3_items += len(by_boto3)
            self.boto3_seconds += time.perf_counter() - clock_in
            if len(by_boto3) < len(chunk):
                _put_into_moto(self.table, chunk[len(by_boto3) :])
            self.writing += time.perf_counter() - clock_in
            before, self.done = self.done, self.done + len(chunk)
            if passed(before, self.done, PROGRESS_EVERY):
                say(
                    self.progress,
                    f"  written {self.done:,} items (profiles, and the offers' codes)"
                    f" ({time.perf_counter() - started:.0f} s)",
                )


def _batch_write(client: Any, table: str, items: Sequence[dict[str, Any]]) -> None:
    request: Any = {table: [{"PutRequest": {"Item": item}} for item in items]}
    while request:
        request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")


def _put_into_moto(table: str, items: Sequence[dict[str, Any]]) -> None:
    """Each item through moto's own Table.put_item (its validation and storage), as its
    batch_write_item would, without the request around it. moto's 400 KB item-size guard
    re-measures the whole item for every attribute it sets, which is most of the cost;
    it is off while these are written (a profile keeps at most 24 orders: about 1.5 KB)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    target = dynamodb_backends[ACCOUNT_ID][REGION].get_table(table)
    with mock.patch.object(LimitedSizeDict, "__setitem__", dict.__setitem__):
        for item in items:
            target.put_item(item)


def write(
    stack: LocalStack, generated: Population, size: int, load: str, progress: TextIO | None
) -> _Load:
    """The Profiles table's items as they are generated (`load`: how, see `_through_boto3`),
    then the due customers' Customers rows, through boto3."""
    loader = _Load(stack.table_name("ProfilesTable"), size, _through_boto3(size, load), progress)
    loader.run(generated.items)
    client, customers = stack.client("dynamodb"), stack.table_name("CustomersTable")
    for first in range(0, len(generated.customers), 25):
        _batch_write(client, customers, generated.customers[first : first + 25])
    return loader


def _through_boto3(size: int, load: str) -> int:
    if load == "boto3" or (load == "auto" and size <= BOTO3_LOAD_LIMIT):
        return size
    return 0 if load == "moto" else BOTO3_SAMPLE


# ---------------------------------------------------------------------------------- figures
# The worker takes a customer only with time left for a profile write and a dispatch, and the
# reserve (stages/retention/handler.py): what its timeout leaves for customers is less by this.
WORKER_RESERVE = PROFILE_WRITE_SECONDS + DISPATCH_SECONDS + RESERVE_SECONDS
# The ledger keys' first part, as the report names the message.
MESSAGES = {
    "winback#0": "win-back reminder",
    "winback#1": "win-back offer",
    "winback#2": "win-back last chance",
    "tier_up": "tier-up",
    "appreciation": "appreciation reward",
}


def _message_kind(key: str) -> str | None:
    family = key.split("#", 1)[0]
    if family == journey.WINBACK:
        return f"{family}#{key.rsplit('#', 1)[-1]}"
    return family if family in MESSAGES else None


@dataclass(frozen=True)
class DueFigures:
    profiles: int
    counts: dict[str, int]
    due: int
    read: int
    enqueued: int  # customers in the planner's queue messages
    exact: bool  # ...exactly the customers due, each once
    pages: int
    query_seconds: float
    generate_seconds: float
    load_seconds: float
    through_boto3: int  # how many of the items were written through boto3
    boto3_seconds: float  # what writing those took
    capacity: list[str]
    run: RunFigures
    ledger: dict[str, Counter[str]]  # message kind -> ledger status -> rows
    emails: int  # what moto's SES accepted
    codes_issued: int  # promo codes the run issued
    held_out: int  # exposures the run recorded for customers held out
    total_seconds: float

    @property
    def ratio(self) -> float:
        if not self.due:
            return 0.0 if not self.read else float("inf")
        return self.read / self.due

    @property
    def sent(self) -> int:
        """Messages sent: the ledger's rows in state sent."""
        return sum(statuses["sent"] for statuses in self.ledger.values())

    @property
    def run_seconds(self) -> float:
        return self.run.planner_seconds + self.run.worker_seconds

    def per_thousand_due(self, seconds: float) -> float:
        return seconds * 1000 / self.due if self.due else 0.0

    @property
    def met(self) -> bool:
        return self.exact and self.ratio <= RATIO_TARGET and not self.run.left


def _capacity(answers: list[dict[str, Any] | None]) -> list[str]:
    """What moto answered, as it is: total units, per request, and under which key."""
    given = [a for a in answers if a]
    if not given:
        return [f"none returned ({len(answers)} requests)"]
    units = [float(a.get("CapacityUnits", 0)) for a in given]
    each = (
        f"{units[0]:g} every request whatever it read"
        if len(set(units)) == 1
        else f"{min(units):g} to {max(units):g} a request"
    )
    where = sorted(
        {
            f"{kind}.{name}"
            for a in given
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            for name in a.get(kind) or {}
        }
    )
    lines = [
        f"{sum(units):g} units over {len(given)} requests, {each},",
        f"under {', '.join(where) or 'no index'}",
    ]
    if where == [f"LocalSecondaryIndexes.{DUE_INDEX}"]:
        lines.append("(a global index: DynamoDB names it under GlobalSecondaryIndexes)")
    return lines


def _ledger(stack: LocalStack) -> dict[str, Counter[str]]:
    """The ledger's message rows after the run: kind -> status -> rows."""
    found: dict[str, Counter[str]] = {}
    paginator = stack.client("dynamodb").get_paginator("scan")
    for page in paginator.paginate(TableName=stack.table_name("LedgerTable")):
        for item in page["Items"]:
            kind = _message_kind(item["message_key"]["S"])
            if kind is not None:
                found.setdefault(kind, Counter())[item.get("status", {}).get("S", "?")] += 1
    return found


def _collections(table: str, customers: set[str], since: datetime) -> tuple[int, int]:
    """Promo codes issued since `since` and held-out exposures, in the due customers' item
    collections (read from moto's table itself: a query a customer would be 10,000 more
    requests, none of them the run's)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    items = dynamodb_backends[ACCOUNT_ID][REGION].get_table(table).items
    codes = held = 0
    for customer in customers:
        for item in items.get(DynamoType({"S": customer}), {}).values():
            values = item.to_json()["Attributes"]
            sk = values["sk"]["S"]
            if sk.startswith("promo#") and values["issued_at"]["S"] >= since.isoformat():
                codes += 1
            elif sk.startswith("exposure#") and values.get("group", {}).get("S") == "holdout":
                held += 1
    return codes, held


def measure(
    size: int,
    due_share: float = 0.01,
    *,
    today: date | None = None,
    load: str = "auto",
    seed: int = 7,
    progress: TextIO | None = sys.stderr,
    logs: Path | None = None,
) -> DueFigures:
    """Build the stack, load `size` profiles, run the daily run once; the figures. The
    functions' log lines go to `logs` (else LOGS)."""
    if size < 100:
        raise ValueError("bench-due needs at least 100 profiles")
    if not 0 < due_share <= 0.5:
        raise ValueError("the due share must be more than 0 and at most 0.5")
    if load not in ("auto", "boto3", "moto"):
        raise ValueError(f"load must be auto, boto3 or moto, not {load!r}")
    begun = time.perf_counter()
    with local_aws(), logs_to(logs or LOGS) as log:
        stack = LocalStack.deployed(LOCAL_PARAMETERS)
        stack.stdout = log
        settings = RetentionSettings.from_env(Env(stack.function(WORKER).environment))
        table = settings.profiles.table
        day = today or settings.profiles.stages.day_of(datetime.now(UTC))
        generated = population(size, due_share, day, settings, seed)
        say(progress, f"{size:,} profiles: generating and writing them")
        loader = write(stack, generated, size, load, progress)
        say(progress, f"{size:,} profiles: the daily run for {day}")
        run_started = datetime.now(UTC)
        run = daily_run(stack, day, progress)
        ledger = _ledger(stack)
        from lifecycle.local.mailbox import sent_emails

        emails = len(sent_emails())
        codes, held = _collections(table, generated.due, run_started)
    calls = run.calls
    return DueFigures(
        profiles=size,
        counts=dict(generated.counts),
        due=len(generated.due),
        read=sum(calls.read),
        enqueued=len(calls.enqueued),
        exact=len(calls.enqueued) == len(set(calls.enqueued))
        and set(calls.enqueued) == generated.due,
        pages=len(calls.read),
        query_seconds=calls.query_seconds,
        generate_seconds=loader.generating,
        load_seconds=loader.writing,
        through_boto3=loader.boto3_items,
        boto3_seconds=loader.boto3_seconds,
        capacity=_capacity(calls.capacity),
        run=run,
        ledger=ledger,
        emails=emails,
        codes_issued=codes,
        held_out=held,
        total_seconds=time.perf_counter() - begun,
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _loaded(figures: DueFigures) -> list[str]:
    size, boto3_count = figures.profiles, figures.through_boto3
    written = (
        f"generated in {figures.generate_seconds:.1f} s, written in {figures.load_seconds:.1f} s"
    )
    if boto3_count >= size:
        return [f"{written} through boto3 (batch_write_item, 25 items a request)"]
    direct = "straight into moto's in-memory table (its Table.put_item), not through boto3"
    if not boto3_count:
        return [f"{written}", direct]
    rate = figures.boto3_seconds / boto3_count
    return [
        f"{written}:",
        f"the first {boto3_count:,} through boto3 (batch_write_item, 25 a request),"
        f" {rate * 1000:.2f} ms a profile:",
        f"about {_duration(rate * size)} for all {size:,} that way; the other"
        f" {size - boto3_count:,} straight into",
        "moto's in-memory table (its Table.put_item), not through boto3",
    ]


def _per(count: int, whole: int) -> str:
    return f"{count / whole:.2f}" if whole else "-"


def _calls(figures: DueFigures) -> list[str]:
    """The functions' AWS calls by service, a message sent and a due customer."""
    calls = figures.run.calls
    services = calls.by_service()
    rows = [
        f"  AWS calls by the two functions   {'calls':>9}  {'a message':>9}  {'a due customer':>14}"
    ]
    for service, count in [*services.items(), ("all", sum(services.values()))]:
        rows.append(
            f"    {service:<29}{count:>9,}  {_per(count, figures.sent):>9}"
            f"  {_per(count, figures.due):>14}"
        )
    for service in services:
        operations = sorted(
            ((op, n) for (s, op), n in calls.made.items() if s == service),
            key=lambda pair: -pair[1],
        )
        if len(operations) > 1:
            named = ", ".join(f"{op} {n:,}" for op, n in operations)
            rows.append(f"    {service}: {named}")
    rows.append(
        f"    inside those calls (botocore and moto): {calls.seconds:.1f} s"
        f" of the run's {figures.run_seconds:.1f} s"
    )
    return rows


def report(figures: DueFigures, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up now: a test may have replaced it
    counts, run = figures.counts, figures.run

    def say(line: str) -> None:
        print(line, file=out)

    say(f"{figures.profiles:,} profiles ({_duration(figures.total_seconds)} in all)")
    say(
        f"  in the due index: {counts.get('due today', 0):,} due today,"
        f" {counts.get('due later', 0):,} due later; not in it:"
        f" {counts.get('prospect', 0):,} prospects, {counts.get('dormant', 0):,} dormant"
    )
    first, *more = _loaded(figures)
    print(f"  {first}", *(f"    {line}" for line in more), sep="\n", file=out)
    workers = len(run.invocations)
    say(
        f"  the daily run: planner {run.planner_seconds:.1f} s (its due query through"
        f" DynamoProfiles.due: {DUE_SHARDS} shards,"
    )
    say(
        f"    {figures.pages} pages, {figures.query_seconds:.1f} s), then the worker"
        f" {run.worker_seconds:.1f} s ({workers:,} invocation{'s' if workers != 1 else ''})"
    )
    if run.invocation_seconds:
        took = run.invocation_seconds
        say(
            f"    worker invocations: {sum(took) / len(took):.1f} s on average, the longest"
            f" {max(took):.1f} s of their {run.timeout} s"
        )
        say(f"    (none takes another customer with less than {WORKER_RESERVE:.0f} s left)")
    if run.came_back or run.left:
        say(
            f"    {run.came_back:,} queue messages came back (a partial batch failure), each"
            " taken again once the"
        )
        say(
            f"    queue's visibility timeout had passed (the clock moved on"
            f" {run.waited_seconds:,} s for that, not in the run's time)"
            + (f"; {run.left:,} never done" if run.left else "")
        )
    say(f"  due customers (generated)            {figures.due:>9,}")
    say(f"  items read (due query's ScannedCount) {figures.read:>8,}")
    verdict = "met" if figures.ratio <= RATIO_TARGET else "NOT MET"
    say(
        f"  read / due                           {figures.ratio:>9.3f}"
        f"  (target at most {RATIO_TARGET}: {verdict})"
    )
    exact = "yes" if figures.exact else "NO"
    say(f"  enqueued exactly the due customers   {exact:>9}  ({figures.enqueued:,} enqueued)")
    whole = figures.per_thousand_due(figures.run_seconds)
    say(
        f"  run time per 1,000 due customers     {whole:>7.1f} s  (planner"
        f" {figures.per_thousand_due(run.planner_seconds):.1f} s, worker"
        f" {figures.per_thousand_due(run.worker_seconds):.1f} s)"
    )
    say(
        f"  messages sent (ledger rows sent)     {figures.sent:>9,}  (SES accepted"
        f" {figures.emails:,})"
    )
    kinds = [
        f"{name} {figures.ledger[kind]['sent']:,}"
        for kind, name in MESSAGES.items()
        if kind in figures.ledger
    ]
    for at in range(0, len(kinds), 3):
        say(f"    {', '.join(kinds[at : at + 3])}")
    unsent = Counter[str]()
    for statuses in figures.ledger.values():
        unsent.update({status: n for status, n in statuses.items() if status != "sent"})
    other = ", ".join(f"{status} {n:,}" for status, n in sorted(unsent.items())) or "none"
    say(
        f"    promo codes issued {figures.codes_issued:,}; held out {figures.held_out:,};"
        f" ledger rows not sent: {other}"
    )
    for line in _calls(figures):
        say(line)
    polled = ", ".join(
        f"{operation} {run.polling.made[('sqs', operation)]:,}" for operation in POLLING
    )
    say("  not the functions': the local stack's polling of the queue (Lambda's event source")
    say(f"    mapping in AWS), {polled}")
    say("  ConsumedCapacity (INDEXES), as moto gives it:")
    print(*(f"    {line}" for line in figures.capacity), sep="\n", file=out)


def run(
    sizes: Sequence[int] = (100_000, 1_000_000),
    due_share: float = 0.01,
    *,
    load: str = "auto",
    seed: int = 7,
    out: TextIO | None = None,
    progress: TextIO | None = sys.stderr,
) -> list[DueFigures]:
    """Measure and print each size (on `out`, else stdout); a summary line a size at the end."""
    out = out or sys.stdout
    print(
        f"The daily run over moto (in-process), the stack as infra/template.yaml defines it,"
        f" {due_share:.1%} of profiles due today",
        file=out,
        flush=True,
    )
    results = []
    for size in sizes:
        figures = measure(size, due_share, load=load, seed=seed, progress=progress)
        report(figures, out)
        out.flush()
        results.append(figures)
    print("", file=out)
    print(
        f"  {'profiles':>10}  {'due':>6}  {'read':>6}  {'read/due':>8}  {'sent':>6}"
        f"  {'calls/msg':>9}  {'run/1k due':>10}  {'planner':>8}  {'worker':>8}  {'in all':>8}",
        file=out,
    )
    for f in results:
        calls = sum(f.run.calls.made.values())
        print(
            f"  {f.profiles:>10,}  {f.due:>6,}  {f.read:>6,}  {f.ratio:>8.3f}  {f.sent:>6,}"
            f"  {_per(calls, f.sent):>9}  {f.per_thousand_due(f.run_seconds):>8.1f} s"
            f"  {f.run.planner_seconds:>6.1f} s  {f.run.worker_seconds:>6.1f} s"
            f"  {_duration(f.total_seconds):>8}",
            file=out,
        )
    print(
        "  times are moto's and this machine's: moto's query goes through every item of the"
        " table for\n  each page, and each call costs milliseconds of moto's own work;"
        " DynamoDB reads only each\n  shard's key range",
        file=out,
    )
    return results
