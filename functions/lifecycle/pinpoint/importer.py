"""`lifecycle import pinpoint`: read what a Pinpoint application left (an export job's files,
template and campaign definitions), turn it into this product's customers, opt-outs,
templates, campaign files and settings, and write them, or only tell what writing would do.

What it reads, from a local folder or an S3 prefix (`s3://bucket/prefix`), laid out as:

    <from>/**/*.gz               endpoint export files (CreateExportJob's gzipped JSON lines;
                                 `*.jsonl` too, uncompressed)
    <from>/templates/*.json      GetEmailTemplate / GetSmsTemplate responses
    <from>/campaigns/*.json      GetCampaign responses
    <from>/journeys/*.json       GetJourney responses
    <from>/segments/*.json       GetSegment responses (the campaigns' audiences)

Customers go to the Customers table: a new one in a batch write (25 a request), a changed one
as one update of only the attributes that changed (the business's own attributes, and an
existing customer's `created_at`, are left as they are); an unchanged one is not written. The
rows are read first in batches of 100, so a re-run of the same export writes nothing. An
opt-out is recorded only where the preference store does not already have it, and the import
never takes one back (a customer who left in either system stays out). New customers carry
`welcomed_at`: the welcome stage records their welcome as skipped, it does not send one.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from lifecycle.messaging.message import Channel
from lifecycle.pinpoint.endpoints import Endpoints, Imported, Line
from lifecycle.pinpoint.mapping import Mapping
from lifecycle.pinpoint.report import Outcome, Problem, by_kind

__all__ = ["Outcome"]  # the outcomes the report holds, for callers

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

EXPORT_SUFFIXES = (".gz", ".jsonl")
NOT_JSON_DOCUMENT = "file is not JSON"
DOCUMENT_FOLDERS = ("templates", "campaigns", "journeys", "segments")
BATCH = 100  # customers read (BatchGetItem's most) and then written per round
WRITE_BATCH = 25  # BatchWriteItem's most
EXAMPLES = 3  # problems shown per kind (--problems FILE writes them all)
# Attributes an update leaves as the table has them: when the customer came is the
# business's record once it has one, and the welcome mark only matters on insert.
_KEPT_ON_UPDATE = frozenset({"customer_id", "created_at", "welcomed_at"})


class PinpointImportError(ValueError):
    """Input the import cannot start from (no such folder, nothing in it)."""


# ---------------------------------------------------------------------------- sources
class Source(Protocol):
    """Where the export is: its endpoint lines and its JSON documents."""

    name: str

    def endpoint_lines(self) -> Iterator[Line]: ...

    def documents(self, folder: str) -> list[tuple[str, Any]]:
        """(name, parsed JSON) of each `<folder>/*.json`; one that is not JSON as an
        `Unreadable`."""
        ...


def _lines(name: str, data: bytes) -> Iterator[Line]:
    """A file's lines; a file that cannot be read (not gzip, cut short) or a line that is not
    UTF-8 comes as a line with its problem, and the rest of the export is read on."""
    stream: Any = gzip.GzipFile(fileobj=io.BytesIO(data)) if name.endswith(".gz") else None
    raw = stream if stream is not None else io.BytesIO(data)
    number = 0
    try:
        for number, binary in enumerate(raw, 1):
            try:
                text = binary.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield Line(f"{name}:{number}", "", problem="not UTF-8 text")
                continue
            if text.strip():
                yield Line(f"{name}:{number}", text)
    except (OSError, EOFError, zlib.error) as exc:
        where = f"{name}:{number + 1}" if number else name
        yield Line(where, "", problem=f"the file cannot be read on from here ({exc})")


def _document(name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        return Unreadable(f"{name}: not JSON ({exc})")


@dataclass(frozen=True)
class Unreadable:
    """A document that could not be read; the parts report it as a problem."""

    reason: str


class LocalSource:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise PinpointImportError(f"{root}: no such folder")
        self.root = root
        self.name = str(root)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def endpoint_lines(self) -> Iterator[Line]:
        for path in sorted(self.root.rglob("*")):
            parts = path.relative_to(self.root).parts
            if path.is_file() and path.name.endswith(EXPORT_SUFFIXES):
                if parts[0] in DOCUMENT_FOLDERS:
                    continue
                yield from _lines(self._relative(path), path.read_bytes())

    def documents(self, folder: str) -> list[tuple[str, Any]]:
        found = sorted((self.root / folder).glob("*.json"))
        return [(self._relative(p), _document(self._relative(p), p.read_bytes())) for p in found]


class S3Source:
    """An S3 prefix, as an export job writes it (`s3://bucket/prefix`)."""

    def __init__(self, client: Any, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise PinpointImportError(f"{url}: give s3://bucket/prefix")
        self.client, self.bucket = client, bucket
        # A prefix is a folder; one export file's key is read alone.
        self.single = prefix.endswith(EXPORT_SUFFIXES)
        folder = prefix.rpartition("/")[0] + "/" if self.single and "/" in prefix else prefix
        self.prefix = folder if not folder or folder.endswith("/") else folder + "/"
        self.key = prefix if self.single else None
        self.name = url

    def _keys(self) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(keys)

    def _read(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def endpoint_lines(self) -> Iterator[Line]:
        if self.key is not None:
            yield from _lines(self.key[len(self.prefix) :], self._read(self.key))
            return
        for key in self._keys():
            relative = key[len(self.prefix) :]
            if relative.split("/", 1)[0] in DOCUMENT_FOLDERS:
                continue
            if key.endswith(EXPORT_SUFFIXES):
                yield from _lines(relative, self._read(key))

    def documents(self, folder: str) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for key in self._keys():
            relative = key[len(self.prefix) :]
            if relative.startswith(f"{folder}/") and key.endswith(".json"):
                found.append((relative, _document(relative, self._read(key))))
        return found


def open_source(where: str, s3_client: Callable[[], Any]) -> Source:
    if where.startswith("s3://"):
        return S3Source(s3_client(), where)
    return LocalSource(Path(where))


# ---------------------------------------------------------------------------- progress
class Progress:
    """A progress bar on a terminal, a line every tenth elsewhere (a log); None: quiet."""

    WIDTH = 30

    def __init__(self, out: TextIO | None, what: str, total: int | None = None) -> None:
        self.out, self.what, self.total = out, what, total
        self.done = 0
        self._shown = -1 if total else 0
        self._tty = bool(out is not None and getattr(out, "isatty", lambda: False)())

    def advance(self, count: int) -> None:
        self.done += count
        if self.out is None:
            return
        if self.total:
            share = min(1.0, self.done / self.total)
            if self._tty:
                filled = int(share * self.WIDTH)
                bar = "#" * filled + "." * (self.WIDTH - filled)
                print(
                    f"\r  {self.what} [{bar}] {share:4.0%} {self.done:,}/{self.total:,}",
                    end="",
                    file=self.out,
                    flush=True,
                )
            elif int(share * 10) > self._shown:
                self._shown = int(share * 10)
                print(f"  {self.what}: {self.done:,} of {self.total:,}", file=self.out, flush=True)
        elif self.done // 10_000 > self._shown:
            self._shown = self.done // 10_000
            end = "" if self._tty else "\n"
            prefix = "\r" if self._tty else ""
            print(f"{prefix}  {self.what}: {self.done:,}", end=end, file=self.out, flush=True)

    def close(self) -> None:
        if self.out is not None and self._tty:
            print(file=self.out, flush=True)


# ---------------------------------------------------------------------------- customers
@dataclass(frozen=True)
class Tables:
    customers: str
    preferences: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> Tables:
        try:
            return cls(outputs["CustomersTableName"], outputs["PreferencesTableName"])
        except KeyError as missing:
            raise PinpointImportError(
                f"the stack has no output {missing}: deploy this version of the template"
            ) from None

    @classmethod
    def from_environment(cls, env: dict[str, str]) -> Tables:
        names = ("CUSTOMERS_TABLE", "PREFERENCES_TABLE")
        missing = [n for n in names if not env.get(n)]
        if missing:
            raise PinpointImportError(f"give --stack or --local, or set {', '.join(missing)}")
        return cls(env["CUSTOMERS_TABLE"], env["PREFERENCES_TABLE"])


@dataclass
class CustomerCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    opt_outs_new: int = 0
    opt_outs_kept: int = 0  # already in the preference store
    opt_outs_later_choice: int = 0  # the customer chose since (here): their choice stands
    opt_outs_not_imported: int = 0  # of users not imported (reported), recorded all the same
    calls: Counter[str] = field(default_factory=Counter)  # DynamoDB requests, by operation
    writes: int = 0  # items written (puts, updates, opt-out transactions x2)


class CustomerWriter:
    """Customers and opt-outs into the tables, a batch at a time; `dry_run` reads and counts
    but writes nothing.

    What a row says is the business's once it is in the table; the import only carries what
    Pinpoint changed. So each row keeps, in `pinpoint_import`, the values the import last
    wrote: a later import updates an attribute only where the export's value differs from
    that (Pinpoint changed it), never where the table alone moved (someone here edited it).
    A row the import did not write (no `pinpoint_import`) only gets the attributes it lacks.
    Consent is never raised on a row that is already there, only lowered (an opt-out)."""

    def __init__(self, client: DynamoDBClient, tables: Tables, dry_run: bool) -> None:
        from lifecycle.adapters.preferences import DynamoPreferences

        self.client, self.tables, self.dry_run = client, tables, dry_run
        self.preferences = DynamoPreferences(client, tables.preferences)
        self.counts = CustomerCounts()

    def check_tables(self) -> None:
        """Both tables are there (before a long read of the export, not after it)."""
        for table in (self.tables.customers, self.tables.preferences):
            try:
                self.client.describe_table(TableName=table)
            except self.client.exceptions.ResourceNotFoundException:
                raise PinpointImportError(
                    f"no table {table!r}: check --stack or the *_TABLE variables, and the region"
                ) from None

    def write(self, batch: list[Imported]) -> None:
        from lifecycle.adapters.audience import batch_get
        from lifecycle.adapters.dynamo import plain

        counts = self.counts
        rows = [c for c in batch if c.row is not None]
        keys = [{"customer_id": {"S": c.customer_id}} for c in rows]
        existing = {
            row["customer_id"]: row
            for row in map(plain, batch_get(self.client, self.tables.customers, keys))
        }
        counts.calls["BatchGetItem"] += -(-len(keys) // BATCH)
        for customer in rows:
            assert customer.row is not None
            before = existing.get(customer.customer_id)
            if before is None:
                counts.new += 1
                if not self.dry_run and not self._put(customer.row):
                    before = self._read(customer.customer_id)  # written meanwhile: update it
                    counts.new, counts.updated = counts.new - 1, counts.updated + 1
                if before is None:
                    continue
            changed = _changes(before, customer.row)
            if not changed:
                counts.unchanged += 1
                continue
            counts.updated += 1
            if not self.dry_run:
                self._update(customer.customer_id, before, changed)
        self._opt_outs([c for c in batch if c.opt_outs])

    def _read(self, customer_id: str) -> dict[str, Any] | None:
        from lifecycle.adapters.dynamo import plain

        item = self.client.get_item(
            TableName=self.tables.customers,
            Key={"customer_id": {"S": customer_id}},
            ConsistentRead=True,
        ).get("Item")
        self.counts.calls["GetItem"] += 1
        return plain(item) if item else None

    def _put(self, row: dict[str, Any]) -> bool:
        """A new customer, unless one was written since the batch was read (False)."""
        from boto3.dynamodb.types import TypeSerializer

        serialize = TypeSerializer().serialize
        item = {**row, SHADOW: _shadow(row)}
        try:
            self.client.put_item(
                TableName=self.tables.customers,
                Item={k: serialize(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(customer_id)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        finally:
            self.counts.calls["PutItem"] += 1
        self.counts.writes += 1
        return True

    def _update(self, customer_id: str, before: dict[str, Any], changed: dict[str, Any]) -> None:
        from boto3.dynamodb.types import TypeSerializer

        serialize = TypeSerializer().serialize
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for number, (name, value) in enumerate(changed.items()):
            names[f"#a{number}"] = name
            if name == "consent" and isinstance(before.get("consent"), dict):
                # Flag by flag: flags the business keeps beside the contract's stay.
                for index, (flag, granted) in enumerate(value.items()):
                    names[f"#f{number}_{index}"] = flag
                    values[f":f{number}_{index}"] = serialize(granted)
                    sets.append(f"#a{number}.#f{number}_{index} = :f{number}_{index}")
                continue
            values[f":a{number}"] = serialize(value)
            sets.append(f"#a{number} = :a{number}")
        self.client.update_item(
            TableName=self.tables.customers,
            Key={"customer_id": {"S": customer_id}},
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        self.counts.calls["UpdateItem"] += 1
        self.counts.writes += 1

    def _opt_outs(self, customers: list[Imported]) -> None:
        from lifecycle.messaging.preferences import ALL_TOPICS, Action, Change, Source

        if not customers:
            return
        counts = self.counts
        self.preferences.prefetch([c.customer_id for c in customers])
        counts.calls["BatchGetItem"] += -(-len(customers) // BATCH)
        pending: list[tuple[Imported, Any, bool]] = []
        for customer in customers:
            current = self.preferences.get(customer.customer_id)
            for opt_out in customer.opt_outs:
                if f"{opt_out.channel}:{ALL_TOPICS}" in current.opt_outs:
                    counts.opt_outs_kept += 1
                else:
                    pending.append((customer, opt_out, current.version > 0))
        self.preferences.forget_ahead()
        for customer, opt_out, chose_before in pending:
            if chose_before:
                counts.calls["Query"] += 1
                if current_choice_is_later(self.preferences, customer.customer_id, opt_out.at):
                    # They resubscribed (or chose anything) here after Pinpoint's opt-out.
                    counts.opt_outs_later_choice += 1
                    continue
            if customer.row is None:
                counts.opt_outs_not_imported += 1
            if self.dry_run:
                counts.opt_outs_new += 1
                continue
            change = Change(Channel(opt_out.channel), ALL_TOPICS, Action.UNSUBSCRIBE)
            applied = self.preferences.apply(
                customer.customer_id,
                [change],
                Source.PINPOINT_IMPORT,
                opt_out.at,
                opt_out.event_id,
            )
            counts.calls["GetItem"] += 1
            counts.calls["TransactWriteItems"] += 1
            if applied:
                counts.opt_outs_new += 1
                counts.writes += 2
            else:
                counts.opt_outs_kept += 1  # this very opt-out was recorded before


def current_choice_is_later(preferences: Any, customer_id: str, at: Any) -> bool:
    """Whether the customer changed their preferences here at or after `at`."""
    return any(event["at"] >= at.isoformat() for event in preferences.history(customer_id))


# The attribute in which a row keeps what the import last wrote to it.
SHADOW = "pinpoint_import"


def _shadow(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in _KEPT_ON_UPDATE}


def _changes(before: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """What to write to a stored row: the attributes whose export value differs from what
    the import wrote last (its shadow), or, on a row the import did not write, the
    attributes it lacks; consent only ever lowered. The new shadow goes with any change."""
    shadow = before.get(SHADOW)
    ours = isinstance(shadow, dict)
    last: dict[str, Any] = shadow if isinstance(shadow, dict) else {}
    changed: dict[str, Any] = {}
    for name, value in row.items():
        if name in _KEPT_ON_UPDATE:
            continue
        stored = before.get(name)
        if name == "consent":
            flags = {
                flag: False
                for flag, granted in value.items()
                if not granted and _flag(stored, flag) and (not ours or _flag(last.get(name), flag))
            }
            if flags:  # only flags the stored map holds as true: it is a map
                changed[name] = flags
            continue
        if ours:
            if last.get(name) != value and stored != value:
                changed[name] = value
        elif name not in before:
            changed[name] = value
    new_shadow = _shadow(row)
    if changed or (ours and shadow != new_shadow):
        changed[SHADOW] = new_shadow
    return changed


def _flag(consent: Any, flag: str) -> bool:
    return bool(consent.get(flag, False)) if isinstance(consent, dict) else False


# ---------------------------------------------------------------------------- the run
@dataclass
class ImportReport:
    source: str
    dry_run: bool
    lines: int = 0
    users: int = 0
    customers: CustomerCounts = field(default_factory=CustomerCounts)
    problems: list[Problem] = field(default_factory=list)
    templates: dict[str, Outcome] = field(default_factory=dict)
    campaigns: dict[str, Outcome] = field(default_factory=dict)
    policy: list[Any] = field(default_factory=list)  # settings.PolicySetting
    journeys: list[Any] = field(default_factory=list)  # settings.JourneyReport
    seconds: float = 0.0

    def summary(self) -> list[str]:
        c = self.customers
        verb = "would write" if self.dry_run else "wrote"
        out = [
            f"Pinpoint import from {self.source}"
            + (" (dry run: nothing written)" if self.dry_run else ""),
            f"  endpoints: {self.lines:,} lines read, {self.users:,} users",
            f"  customers: {c.new:,} new, {c.updated:,} updated, {c.unchanged:,} unchanged"
            f" ({verb} {c.new + c.updated:,})",
            f"  opt-outs: {c.opt_outs_new:,} new (source pinpoint-import),"
            f" {c.opt_outs_kept:,} already recorded",
        ]
        if c.opt_outs_not_imported:
            out.append(
                f"    of them {c.opt_outs_not_imported:,} of users not imported (reported"
                " below): recorded, so they stay out once your systems add them"
            )
        if c.opt_outs_later_choice:
            out.append(
                f"    {c.opt_outs_later_choice:,} not recorded: the customer chose here since"
                " (their later choice stands)"
            )
        if c.new:
            out.append(
                f"  welcome: the {c.new:,} new customers are marked as welcomed (welcomed_at);"
                " the welcome stage records their welcome as skipped and sends none"
            )
        for label, outcomes in (("templates", self.templates), ("campaigns", self.campaigns)):
            if outcomes:
                tally = Counter(outcomes.values())
                counted = ", ".join(f"{tally[o]} {o}" for o in Outcome if tally[o])
                out.append(f"  {label}: {counted} ({', '.join(sorted(outcomes))})")
        for journey in self.journeys:
            out.append(
                f"  journey {journey.name!r} ({journey.source}): no one-to-one equivalent;"
                f" covered by the {', '.join(journey.stages)} stage(s);"
                f" {len(journey.steps)} steps, {len(journey.templates)} templates"
            )
        if self.policy:
            out.append("  contact policy (stack parameters to set):")
            for setting in self.policy:
                out.append(
                    f"    {setting.name} = {setting.value}  (from {setting.source}): {setting.note}"
                )
            overrides = " ".join(f"{s.name}={s.value}" for s in self.policy)
            out.append(f"    deploy with: sam deploy --parameter-overrides {overrides}")
        kinds = by_kind(self.problems)
        if kinds:
            total = sum(kinds.values())
            out.append(f"  problems: {total:,} (not carried, or carried differently)")
            for kind, count in kinds.most_common():
                out.append(f"    {count:>6,}  {kind}")
                for problem in sorted(p for p in self.problems if p.kind == kind)[:EXAMPLES]:
                    out.append(f"            {problem.line()}")
        else:
            out.append("  problems: none")
        out.append(f"  took {self.seconds:.1f} s")
        return out


def import_endpoints(
    source: Source,
    mapping: Mapping,
    writer: CustomerWriter,
    report: ImportReport,
    progress: TextIO | None = None,
) -> None:
    """Read every endpoint line, then write the customers a batch at a time."""
    reading = Progress(progress, "endpoints read")
    found = Endpoints(mapping)
    for line in source.endpoint_lines():
        found.add(line)
        reading.advance(1)
    reading.close()
    report.lines, report.users = found.lines, found.users
    writing = Progress(progress, "customers", total=found.users)
    batch: list[Imported] = []
    users = 0
    for customer in found.each_user():
        users += 1
        if customer is not None:
            batch.append(customer)
        if len(batch) == BATCH:
            writer.write(batch)
            writing.advance(users)
            batch, users = [], 0
    if batch:
        writer.write(batch)
    writing.advance(users)
    writing.close()
    report.customers = writer.counts
    report.problems.extend(found.problems)


def _readable(source: Source, folder: str, report: ImportReport) -> list[tuple[str, Any]]:
    """A folder's documents that parse (the others reported)."""
    kept: list[tuple[str, Any]] = []
    for name, data in source.documents(folder):
        if isinstance(data, Unreadable):
            report.problems.append(Problem(NOT_JSON_DOCUMENT, name, data.reason))
        else:
            kept.append((name, data))
    return kept


def import_definitions(
    source: Source,
    mapping: Mapping,
    report: ImportReport,
    templates_dir: Path,
    campaigns_dir: Path,
    link: str | None,
) -> None:
    """Templates into template folders, campaigns and journeys into campaign files and
    contact-policy settings."""
    from lifecycle.pinpoint import settings, templates

    dry_run = report.dry_run
    converted = templates.convert(_readable(source, "templates", report), mapping)
    report.templates = templates.write(converted, templates_dir, dry_run)
    report.problems.extend(converted.problems)  # with what writing found
    made = settings.convert(
        _readable(source, "campaigns", report),
        _readable(source, "journeys", report),
        _readable(source, "segments", report),
        mapping=mapping,
        website=link,
    )
    report.campaigns = {
        Path(path).stem: outcome
        for path, outcome in settings.write(made, campaigns_dir, dry_run).items()
    }
    report.problems.extend(made.problems)
    report.policy = list(made.policy)
    report.journeys = list(made.journeys)


def run(
    source: Source,
    mapping: Mapping,
    writer: CustomerWriter,
    templates_dir: Path,
    campaigns_dir: Path,
    progress: TextIO | None = None,
    link: str | None = None,
) -> ImportReport:
    """The whole import: endpoints, then templates, then campaign settings."""
    report = ImportReport(source.name, writer.dry_run)
    writer.check_tables()
    import_endpoints(source, mapping, writer, report, progress)
    if not report.lines and not any(source.documents(f) for f in DOCUMENT_FOLDERS):
        raise PinpointImportError(
            f"{source.name}: no export files (*.gz, *.jsonl) and no templates/, campaigns/,"
            " journeys/ or segments/ JSON in it"
        )
    import_definitions(source, mapping, report, templates_dir, campaigns_dir, link)
    return report
