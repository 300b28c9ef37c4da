"""`lifecycle bench-due`: what the daily stages job's due query reads, at scale, over moto.

The Profiles table is created exactly as infra/template.yaml declares it (the local stack's
table creation) and filled with profile items of the real shape (`_profile_item` of real
`Profile` objects). Each profile comes from an order history folded by the real pure code
(`apply_order`, then `advance` for the changes time made since), moved in time so that a
chosen share of customers is due today:

- about 10% prospects (every order they placed was cancelled) and 20% dormant (no order for
  more than `STAGE_DORMANT_DAYS`): no next change, so no `due_day`, so not in the sparse index;
- `due_share` of them with a stage change due today;
- the rest due on a later day (within the next 59 days: with the default thresholds a stage
  can change at most `STAGE_DORMANT_DAYS` = 60 days after the last order).

The daily job ran yesterday, so nobody is left due from an earlier day. Which customers are due
is known from the generation alone, before anything is written; the query, through boto3 and
the real adapter (`DynamoProfiles.due`), must return exactly them. Items read is the sum of
the pages' ScannedCount (what the adapter reports); each request also asks for
ReturnConsumedCapacity=INDEXES, and what moto answers is printed as it is.

Writing through boto3 (`batch_write_item`, 25 items a request) costs 1.3 to 2 ms a profile
here, most of it moto building its item (its 400 KB guard measures the whole item again for
every attribute): 2 to 3 minutes for 100,000, 20 to 35 minutes for a million. So up to
`BOTO3_LOAD_LIMIT` profiles everything goes through boto3; past it the first `BOTO3_SAMPLE`
do (to time that way) and the rest go straight into moto's in-memory table through its own
`Table.put_item`, as moto's batch_write_item would put them. The output says which. The
query always goes through boto3 and the adapter.
"""

from __future__ import annotations

import functools
import itertools
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any, TextIO
from unittest import mock
from zoneinfo import ZoneInfo

import boto3

from lifecycle.adapters.profiles import DUE_INDEX, DUE_SHARDS, DynamoProfiles, _profile_item
from lifecycle.local.stack import ACCOUNT_ID, LOCAL_PARAMETERS, REGION, LocalStack, local_aws
from lifecycle.models import OrderStatus
from lifecycle.platform.settings import Env
from lifecycle.profiles.model import Contribution, LoyaltyRules, Profile
from lifecycle.profiles.settings import ProfileSettings
from lifecycle.profiles.stages import StageRules, advance, apply_order, next_change

RATIO_TARGET = 1.1
PROSPECT_SHARE = 0.10
DORMANT_SHARE = 0.20
# Up to this many profiles are written through boto3 (1.3 to 2 ms each on the 2-core
# development machine); past it, most go straight into moto's table (about 0.25 ms each).
BOTO3_LOAD_LIMIT = 100_000
# Past it, this many go through boto3 first: what the whole load would take that way.
BOTO3_SAMPLE = 10_000
PROGRESS_EVERY = 100_000
CHUNK = 25_000  # profiles generated, then written, at a time
# Distinct order histories the customers are drawn from (each moved to its own days).
HISTORIES = 1_500
# The function whose environment gives the stage thresholds and the table.
DAILY_FUNCTION = "DailyStagesFunction"
_ANCHOR = date(2001, 1, 1)  # a history's last order day, before it is moved


@dataclass(frozen=True)
class _History:
    """A customer's orders folded into a profile, anchored on the day of the last order:
    `states[k]` is the profile after the first k changes time makes, `changes[k]` the day
    (days after the last order) of the next one."""

    states: tuple[Profile, ...]
    changes: tuple[int, ...]
    writes: int  # order images folded, for the profile's version

    @functools.cached_property
    def quiet_days(self) -> tuple[int, ...]:
        """The days (after the last order) on which nothing changes, before the last change."""
        last = self.changes[-1] if self.changes else 0
        return tuple(day for day in range(1, last) if day not in self.changes)


@dataclass(frozen=True)
class Population:
    """What was generated: every profile item, and the customers due today."""

    items: Iterator[dict[str, Any]]
    due: frozenset[str]
    counts: dict[str, int]


@dataclass(frozen=True)
class DueFigures:
    profiles: int
    counts: dict[str, int]
    due: int
    read: int
    returned: int
    exact: bool
    pages: int
    query_seconds: float
    generate_seconds: float
    load_seconds: float
    through_boto3: int  # how many of the profiles were written through boto3
    boto3_seconds: float  # what writing those took
    capacity: list[str]
    total_seconds: float

    @property
    def ratio(self) -> float:
        if not self.due:
            return 0.0 if not self.read else float("inf")
        return self.read / self.due

    @property
    def met(self) -> bool:
        return self.exact and self.ratio <= RATIO_TARGET


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
) -> Profile:
    """The profile the Orders stream would leave: each order's last image folded in."""
    profile = Profile("history")
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
        profile = apply_order(profile, None, part, loyalty, rules).profile
    return profile


def _history(rng: random.Random, loyalty: LoyaltyRules, rules: StageRules) -> _History:
    zone = ZoneInfo(rules.timezone)
    orders = _order_times(rng, zone)
    state = _fold(orders, rng, loyalty, rules)
    assert state.as_of is not None
    states, changes = [state], []
    day = next_change(state, state.as_of, rules)
    while day is not None:
        state, moved = advance(state, day, rules)
        assert len(moved) == 1, moved  # next_change names the first day the stage moves
        states.append(state)
        changes.append((day - _ANCHOR).days)
        day = next_change(state, day, rules)
    return _History(tuple(states), tuple(changes), len(orders))


def _prospect(rng: random.Random, loyalty: LoyaltyRules, rules: StageRules) -> _History:
    """A customer whose every order was cancelled: a profile, but a prospect."""
    zone = ZoneInfo(rules.timezone)
    orders = [(moment, True) for moment, _ in _order_times(rng, zone)[-rng.randint(1, 2) :]]
    return _History((_fold(orders, rng, loyalty, rules),), (), len(orders))


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
        stage_since=later(profile.stage_since),
        as_of=profile.as_of + shift if profile.as_of else None,
        version=writes,
    )


def population(
    size: int,
    due_share: float,
    today: date,
    rules: StageRules,
    loyalty: LoyaltyRules,
    seed: int = 7,
) -> Population:
    """`size` profiles as the daily job left them last night; which are due today.

    The customers due are decided here, from the histories alone; the items come lazily, in
    customer order (the caller writes them as they come)."""
    rng = random.Random(seed)  # noqa: S311 - sample data, repeatable by seed
    kinds = min(HISTORIES, max(100, size // 10))
    histories = [_history(rng, loyalty, rules) for _ in range(kinds)]
    prospects = [_prospect(rng, loyalty, rules) for _ in range(kinds // 10)]
    plan: list[tuple[_History, int]] = []  # each customer's history and days since its anchor
    counts = {"prospect": 0, "dormant": 0, "due today": 0, "due later": 0}
    due: set[str] = set()
    for number in range(size):
        draw = rng.random()
        if draw < PROSPECT_SHARE:
            plan.append((rng.choice(prospects), rng.randint(1, 700)))
            counts["prospect"] += 1
            continue
        history = rng.choice(histories)
        last = history.changes[-1]
        if draw < PROSPECT_SHARE + DORMANT_SHARE:
            plan.append((history, last + rng.randint(1, 700)))
            counts["dormant"] += 1
        elif draw < PROSPECT_SHARE + DORMANT_SHARE + due_share:
            plan.append((history, rng.choice(history.changes)))
            counts["due today"] += 1
            due.add(customer_id(number))
        else:
            while not history.quiet_days:
                history = rng.choice(histories)
            plan.append((history, rng.choice(history.quiet_days)))
            counts["due later"] += 1

    def items() -> Iterator[dict[str, Any]]:
        for number, (history, since) in enumerate(plan):
            # `since`: days from the history's last order to today. The job ran yesterday, so
            # the profile holds every change up to then; the next one is its due day.
            applied = sum(1 for change in history.changes if change < since)
            days = (today - timedelta(days=since) - _ANCHOR).days
            profile = _moved(
                history.states[applied],
                customer_id(number),
                number,
                days,
                history.writes + applied,
            )
            due_day = None
            if applied < len(history.changes):
                due_day = _ANCHOR + timedelta(days=history.changes[applied] + days)
            yield _profile_item(profile, due_day)

    return Population(items(), frozenset(due), counts)


def customer_id(number: int) -> str:
    return f"cust-{number:07d}"


# ---------------------------------------------------------------------------------- loading
@dataclass
class _Load:
    """Writes the items in chunks: through boto3 up to `through_boto3` of them, the rest
    straight into moto's table; times generation and writing apart."""

    table: str
    total: int
    through_boto3: int
    progress: TextIO | None
    done: int = 0
    generating: float = 0.0
    writing: float = 0.0
    boto3_seconds: float = 0.0

    def run(self, items: Iterator[dict[str, Any]]) -> None:
        client = boto3.client("dynamodb", region_name=REGION)
        started = time.perf_counter()
        while self.done < self.total:
            clock_in = time.perf_counter()
            chunk = list(itertools.islice(items, min(CHUNK, self.total - self.done)))
            if not chunk:
                break
            self.generating += time.perf_counter() - clock_in
            clock_in = time.perf_counter()
            by_boto3 = chunk[: max(0, self.through_boto3 - self.done)]
            for first in range(0, len(by_boto3), 25):
                _batch_write(client, self.table, by_boto3[first : first + 25])
            boto3_done = time.perf_counter()
            self.boto3_seconds += boto3_done - clock_in
            if len(by_boto3) < len(chunk):
                _put_into_moto(self.table, chunk[len(by_boto3) :])
            self.writing += time.perf_counter() - clock_in
            before, self.done = self.done, self.done + len(chunk)
            if self.progress is not None and self.done // PROGRESS_EVERY > before // PROGRESS_EVERY:
                print(
                    f"  loaded {self.done:,} of {self.total:,} profiles"
                    f" ({time.perf_counter() - started:.0f} s)",
                    file=self.progress,
                    flush=True,
                )


def _say(progress: TextIO | None, line: str) -> None:
    if progress is not None:
        print(line, file=progress, flush=True)


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


# ---------------------------------------------------------------------------------- query
class _Capacity:
    """Asks every due-index query for ReturnConsumedCapacity=INDEXES and keeps the answers."""

    def __init__(self, client: Any) -> None:
        self.answers: list[dict[str, Any] | None] = []
        client.meta.events.register("provide-client-params.dynamodb.Query", self._ask)
        client.meta.events.register("after-call.dynamodb.Query", self._seen)

    @staticmethod
    def _ask(params: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") == DUE_INDEX:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _seen(self, parsed: dict[str, Any], **_: Any) -> None:
        self.answers.append(parsed.get("ConsumedCapacity"))

    def summary(self) -> list[str]:
        """What moto answered, as it is: total units, per request, and under which key."""
        given = [a for a in self.answers if a]
        if not given:
            return [f"none returned ({len(self.answers)} requests)"]
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


def _through_boto3(size: int, load: str) -> int:
    if load == "boto3" or (load == "auto" and size <= BOTO3_LOAD_LIMIT):
        return size
    return 0 if load == "moto" else BOTO3_SAMPLE


def measure(
    size: int,
    due_share: float = 0.01,
    *,
    today: date | None = None,
    load: str = "auto",
    seed: int = 7,
    progress: TextIO | None = sys.stderr,
) -> DueFigures:
    """Build the table, load `size` profiles, run the daily job's query once; the figures."""
    if size < 100:
        raise ValueError("bench-due needs at least 100 profiles")
    if not 0 < due_share <= 0.5:
        raise ValueError("the due share must be more than 0 and at most 0.5")
    if load not in ("auto", "boto3", "moto"):
        raise ValueError(f"load must be auto, boto3 or moto, not {load!r}")
    begun = time.perf_counter()
    with local_aws():
        stack = LocalStack.from_template(LOCAL_PARAMETERS)
        stack.create_tables()
        settings = ProfileSettings.from_env(Env(stack.function(DAILY_FUNCTION).environment))
        rules = settings.stages
        day = today or rules.day_of(datetime.now(UTC))
        generated = population(size, due_share, day, rules, settings.loyalty, seed)
        loader = _Load(settings.table, size, _through_boto3(size, load), progress)
        _say(progress, f"{size:,} profiles: generating and writing them")
        loader.run(generated.items)
        _say(progress, f"{size:,} profiles: querying the due index for {day}")

        client = boto3.client("dynamodb", region_name=REGION)
        capacity = _Capacity(client)
        profiles = DynamoProfiles(client, settings.table, settings.loyalty, rules)
        read: list[int] = []
        started = time.perf_counter()
        found = list(profiles.due(day, read.append))
        took = time.perf_counter() - started
    return DueFigures(
        profiles=size,
        counts=generated.counts,
        due=len(generated.due),
        read=sum(read),
        returned=len(found),
        exact=len(found) == len(set(found)) and set(found) == generated.due,
        pages=len(read),
        query_seconds=took,
        generate_seconds=loader.generating,
        load_seconds=loader.writing,
        through_boto3=min(loader.through_boto3, size),
        boto3_seconds=loader.boto3_seconds,
        capacity=capacity.summary(),
        total_seconds=time.perf_counter() - begun,
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _loaded(figures: DueFigures) -> list[str]:
    size, boto3_count = figures.profiles, figures.through_boto3
    written = (
        f"generated in {figures.generate_seconds:.1f} s, written in {figures.load_seconds:.1f} s"
    )
    if boto3_count == size:
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


def report(figures: DueFigures, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up now: a test may have replaced it
    counts = figures.counts
    print(f"{figures.profiles:,} profiles ({_duration(figures.total_seconds)} in all)", file=out)
    print(
        f"  in the due index: {counts['due today']:,} due today, {counts['due later']:,} due"
        f" later; not in it: {counts['prospect']:,} prospects, {counts['dormant']:,} dormant",
        file=out,
    )
    first, *more = _loaded(figures)
    print(f"  {first}", *(f"    {line}" for line in more), sep="\n", file=out)
    print(
        f"  due query (boto3, DynamoProfiles.due): {DUE_SHARDS} shards, {figures.pages} pages,"
        f" {figures.query_seconds:.2f} s",
        file=out,
    )
    print(f"  due customers (generated)           {figures.due:>9,}", file=out)
    print(f"  items read (pages' ScannedCount)    {figures.read:>9,}", file=out)
    verdict = "met" if figures.ratio <= RATIO_TARGET else "NOT MET"
    print(
        f"  read / due                          {figures.ratio:>9.3f}"
        f"  (target at most {RATIO_TARGET}: {verdict})",
        file=out,
    )
    exact = "yes" if figures.exact else "NO"
    print(
        f"  returned exactly the due customers  {exact:>9}  ({figures.returned:,} returned)",
        file=out,
    )
    print("  ConsumedCapacity (INDEXES), as moto gives it:", file=out)
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
        f"Daily due query over moto (in-process), ProfilesTable as infra/template.yaml defines"
        f" it, {due_share:.1%} of profiles due today",
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
        f"  {'profiles':>10}  {'due':>7}  {'read':>7}  {'read/due':>8}  {'pages':>5}"
        f"  {'query':>8}  {'write':>8}  {'in all':>8}",
        file=out,
    )
    for f in results:
        print(
            f"  {f.profiles:>10,}  {f.due:>7,}  {f.read:>7,}  {f.ratio:>8.3f}  {f.pages:>5}"
            f"  {f.query_seconds:>6.1f} s  {f.load_seconds:>6.1f} s"
            f"  {_duration(f.total_seconds):>8}",
            file=out,
        )
    print(
        "  query: moto's time, which grows with the table (it goes through every item for each"
        " page);\n  DynamoDB reads only the index entries in each shard's key range",
        file=out,
    )
    return results
