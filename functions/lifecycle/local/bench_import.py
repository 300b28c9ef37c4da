"""`lifecycle bench-import`: the Pinpoint import of a large export, over in-process moto.

The export is made up (`pinpoint_samples`, the same mix as the sample under events/pinpoint/:
opt-outs, bad addresses, push endpoints, second emails), written as an export job writes it:
gzipped JSON lines, 25,000 endpoints a file, in no user order. It is imported into a fresh
local stack three times, each through the command's own code:

1. a dry run (reads the tables, writes nothing),
2. the import (every customer new),
3. the same export again (every customer unchanged: nothing written).

Each prints its time, its DynamoDB requests by operation (counted at botocore, on the client
the import writes with) and the items it wrote per customer. moto answers in-process, so the
times are this machine's Python for the import and for moto both; DynamoDB itself answers a
batch write in a few milliseconds, so a deployed import is bound by the same reading and
batching, at a lower per-request cost.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from lifecycle.local.pinpoint_samples import SAMPLE_SEED, endpoints
from lifecycle.local.stack import LOCAL_PARAMETERS, REGION, LocalStack, local_aws, logs_to
from lifecycle.pinpoint import importer
from lifecycle.pinpoint.mapping import Mapping

LINES_PER_FILE = 25_000
LOG = Path("out/bench-import/log.jsonl")


def write_export(folder: Path, count: int, seed: int = SAMPLE_SEED) -> int:
    """`count` endpoints (whole users: a user's endpoints are never split off) in export
    files under `folder`; the number of users."""
    lines: list[str] = []
    users = 0
    made = endpoints(10**9, seed)
    current: str | None = None
    for endpoint in made:
        user = endpoint["User"]["UserId"]
        if user != current:
            if len(lines) >= count:
                break
            current, users = user, users + 1
        lines.append(json.dumps(endpoint, ensure_ascii=False, separators=(",", ":")))
    random.Random(seed + 1).shuffle(lines)  # noqa: S311 - sample order, repeatable
    folder.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(lines), LINES_PER_FILE)):
        chunk = "\n".join(lines[start : start + LINES_PER_FILE]) + "\n"
        (folder / f"part-{number:05d}.gz").write_bytes(gzip.compress(chunk.encode(), mtime=0))
    return users


@dataclass(frozen=True)
class Run:
    label: str
    seconds: float
    requests: Counter[str]
    report: importer.ImportReport

    @property
    def customers(self) -> int:
        c = self.report.customers
        return c.new + c.updated + c.unchanged

    def per_customer(self, value: int) -> float:
        return value / self.customers if self.customers else 0.0


def _counted(client: Any) -> Counter[str]:
    requests: Counter[str] = Counter()

    def before(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    client.meta.events.register("before-call.dynamodb", before)
    return requests


def _one(
    label: str, export: Path, stack: LocalStack, mapping: Mapping, dry_run: bool, out: Path
) -> Run:
    client = boto3.client("dynamodb", region_name=REGION)
    requests = _counted(client)
    tables = importer.Tables(
        stack.table_name("CustomersTable"), stack.table_name("PreferencesTable")
    )
    writer = importer.CustomerWriter(client, tables, dry_run)
    source = importer.LocalSource(export)
    started = time.perf_counter()
    report = importer.run(source, mapping, writer, out / "templates", out / "campaigns")
    return Run(label, time.perf_counter() - started, requests, report)


def measure(count: int, progress: TextIO | None = None) -> tuple[int, int, list[Run]]:
    mapping = Mapping(attributes={"Location.City": "city", "Attributes.ServiceZone": "zone"})
    with tempfile.TemporaryDirectory() as scratch:
        export = Path(scratch) / "export"
        started = time.perf_counter()
        users = write_export(export, count)
        lines = sum(1 for _ in _lines(export))
        if progress:
            print(
                f"export: {lines:,} endpoints of {users:,} users in"
                f" {len(list(export.iterdir()))} files ({time.perf_counter() - started:.1f} s)",
                file=progress,
                flush=True,
            )
        LOG.parent.mkdir(parents=True, exist_ok=True)
        runs: list[Run] = []
        with local_aws(), logs_to(LOG):
            stack = LocalStack.deployed(LOCAL_PARAMETERS)
            for label, dry_run in (
                ("dry run", True),
                ("import", False),
                ("the same export again", False),
            ):
                run = _one(label, export, stack, mapping, dry_run, Path(scratch))
                runs.append(run)
                if progress:
                    print(f"  {label}: {run.seconds:.1f} s", file=progress, flush=True)
    return lines, users, runs


def _lines(folder: Path) -> Iterator[bytes]:
    for path in sorted(folder.glob("*.gz")):
        yield from gzip.decompress(path.read_bytes()).splitlines()


def report(lines: int, users: int, runs: list[Run], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print(
        f"Pinpoint import of {lines:,} endpoints ({users:,} users), over in-process moto", file=out
    )
    for run in runs:
        c = run.report.customers
        total = sum(run.requests.values())
        by_operation = ", ".join(f"{op} {n:,}" for op, n in run.requests.most_common())
        print(
            f"  {run.label:<22} {run.seconds:7.1f} s"
            f"  ({lines / run.seconds:,.0f} endpoints/s);"
            f" customers {c.new:,} new, {c.updated:,} updated, {c.unchanged:,} unchanged;"
            f" opt-outs {c.opt_outs_new:,} new",
            file=out,
        )
        print(
            f"  {'':<22} DynamoDB: {total:,} requests ({run.per_customer(total):.3f} a customer:"
            f" {by_operation or 'none'}); items written {c.writes:,}"
            f" ({run.per_customer(c.writes):.3f} a customer)",
            file=out,
        )
    problems = runs[1].report.problems if len(runs) > 1 else []
    kinds = Counter(p.kind for p in problems)
    print(
        "  problems reported: "
        + (", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common()) or "none"),
        file=out,
    )


def run(count: int) -> int:
    if count < 1:
        print("lifecycle bench-import: --endpoints must be at least 1", file=sys.stderr)
        return 2
    lines, users, runs = measure(count, progress=sys.stderr)
    sys.stderr.flush()
    report(lines, users, runs)
    return 0
