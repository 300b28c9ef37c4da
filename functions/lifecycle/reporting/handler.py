"""Tally Lambda: the Ledger, Profiles, Ratings and Preferences streams -> the daily counts the
owner's report reads (see `tally`). One transaction per batch; it sends nothing and keeps its
own place on each stream, so it never holds a message back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lifecycle.adapters.tally import DynamoTally
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.settings import Env
from lifecycle.reporting.tally import Source, combined, deltas


@dataclass(frozen=True)
class TallySettings:
    table: str  # where the tally is kept: the engagement table
    sources: dict[str, Source]  # table name -> which stream it is

    @classmethod
    def from_env(cls, env: Env) -> TallySettings:
        tables = {
            Source.LEDGER: env.required("LEDGER_TABLE"),
            Source.PROFILES: env.required("PROFILES_TABLE"),
            Source.RATINGS: env.required("RATINGS_TABLE"),
            Source.PREFERENCES: env.required("PREFERENCES_TABLE"),
        }
        return cls(env.required("ENGAGEMENT_TABLE"), {t: s for s, t in tables.items()})


UNIT = kit.Unit(stage="report", service="tally", settings=TallySettings.from_env)


def source_of(record: kit.StreamRecord, settings: TallySettings) -> Source | None:
    """Which table a record is from: the table name in its stream ARN
    (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`)."""
    _, _, rest = record.stream_arn.partition(":table/")
    return settings.sources.get(rest.partition("/stream/")[0])


def _happened(record: kit.StreamRecord) -> datetime:
    stamp = (record.raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    return datetime.fromtimestamp(float(stamp), UTC) if stamp else datetime.now(UTC)


def on_batch(records: list[kit.StreamRecord], stage: kit.Stage[TallySettings]) -> None:
    counted = []
    for record in records:
        source = source_of(record, stage.settings)
        if source is None or record.event_name is None:
            logger.warning("record from an unknown stream", extra={"arn": record.stream_arn})
            continue
        found = deltas(
            source, record.event_name, record.new_image, record.old_image, _happened(record)
        )
        # Lambda always gives an eventID; the sequence number is unique within its stream.
        event_id = record.event_id or f"{record.stream_arn}#{record.sequence_number}"
        counted.append((event_id, list(combined(found).values())))
    stage.count("TallyBatches")
    tally = DynamoTally(stage.ports.client("dynamodb"), stage.settings.table)
    written = tally.apply(counted, datetime.now(UTC))
    logger.info("tallied", extra={"records": len(records), "counted": written})


# Entry point named in infra/template.yaml.
handler = kit.stream_batch(UNIT, on_batch)
