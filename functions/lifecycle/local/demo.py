"""`lifecycle demo`: the welcome stage end to end, locally, with no AWS account.

Builds the stack from infra/template.yaml over in-process moto, writes sample customers to the
Customers table, lets its stream drive the real welcome handler (with the template's filter,
batch size and retry rules), then prints what was sent to whom, what was skipped and why, and
writes every rendered email to files a person can open.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from lifecycle.local.mailbox import sent_emails, sent_sms, write_emails
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REGION,
    Invocation,
    LocalContext,
    LocalStack,
    local_aws,
    logs_to,
)
from lifecycle.privacy import mask_email, mask_phone

SAMPLE_CUSTOMERS = Path(__file__).with_name("demo_customers.json")


def seed_sample_customers(stack: LocalStack) -> None:
    """Write the sample customers into the local Customers table, as the business would."""
    serializer = TypeSerializer()
    client = boto3.client("dynamodb", region_name=REGION)
    created = datetime(2026, 1, 5, 8, tzinfo=UTC).isoformat()
    for row in json.loads(SAMPLE_CUSTOMERS.read_text(encoding="utf-8")):
        item = {"created_at": created, **row}
        client.put_item(
            TableName=stack.table_name("CustomersTable"),
            Item={k: serializer.serialize(v) for k, v in item.items()},
        )


@dataclass(frozen=True)
class LedgerRow:
    key: str
    record_type: str
    customer_id: str
    channel: str
    status: str
    reason: str


def _ledger() -> list[LedgerRow]:
    client = boto3.client("dynamodb", region_name=REGION)
    rows = []
    for item in client.scan(TableName="LedgerTable")["Items"]:
        values = {name: next(iter(value.values())) for name, value in item.items()}
        if values.get("record_type") not in ("message", "rejection"):
            continue  # the demo shows what became of each message and record
        key = str(values["message_key"])
        rows.append(
            LedgerRow(
                key=key,
                record_type=str(values.get("record_type", "")),
                customer_id=str(values.get("customer_id", "?")),
                channel=str(values.get("channel", "-")),
                status=str(values["status"]),
                reason=str(values.get("reason", "")),
            )
        )
    return sorted(rows, key=lambda r: (r.customer_id, r.channel))


def _throttle_once(recipient: str) -> None:
    """Make SES refuse the first send to `recipient` with a throttling error, as SES does
    under load, to show a partial batch failure and its retry."""
    fired: list[bool] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        if not fired and params["Destination"]["ToAddresses"] == [recipient]:
            fired.append(True)
            raise ClientError(
                {
                    "Error": {
                        "Code": "TooManyRequestsException",
                        "Message": "Maximum sending rate exceeded.",
                    }
                },
                "SendEmail",
            )

    session = boto3.DEFAULT_SESSION
    assert session is not None
    session.events.register("before-parameter-build.sesv2.SendEmail", hook)


def _describe(invocations: list[Invocation]) -> list[str]:
    lines = []
    for call in invocations:
        what = "retry of" if call.retried else "batch of"
        failed = len(call.failed_sequence_numbers)
        result = "all processed" if not failed else f"{failed} reported in batchItemFailures"
        lines.append(f"  {call.function}: {what} {call.records} record(s) -> {result}")
    return lines


def run(out_dir: Path, stream: TextIO = sys.stdout) -> int:
    """Run the demo; returns the number of messages sent."""

    def say(text: str = "") -> None:
        print(text, file=stream)

    customers: list[dict[str, Any]] = json.loads(SAMPLE_CUSTOMERS.read_text(encoding="utf-8"))
    by_id = {c["customer_id"]: c for c in customers}

    log_file = out_dir / "lambda-logs.jsonl"
    with local_aws(), logs_to(log_file) as log:
        # Quiet hours off: this walkthrough runs on the wall clock and is about failures (the
        # simulation shows quiet hours, on its own clock).
        stack = LocalStack.deployed({**LOCAL_PARAMETERS, "QuietHours": "off"})
        stack.stdout = log
        functions = stack.functions()
        say("Lifecycle demo: the stack in infra/template.yaml, run locally over moto")
        say(f"  tables:    {', '.join(stack.resources('AWS::DynamoDB::Table'))}")
        for spec in functions:
            for source in spec.streams:
                say(
                    f"  function:  {spec.logical_id} ({spec.handler}) <- {source.table} stream, "
                    f"filter {json.dumps(list(source.patterns))}, batch {source.batch_size}, "
                    f"{source.max_retries} retries"
                )
        say()

        # 1. sign-ups
        table = boto3.client("dynamodb", region_name=REGION)
        serializer = TypeSerializer()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        for customer in customers:
            item = {**customer, "created_at": created}
            table.put_item(
                TableName="CustomersTable",
                Item={k: serializer.serialize(v) for k, v in item.items()},
            )
        say(f"1. {len(customers)} customers sign up (written to CustomersTable)")
        say("   SES is made to throttle the first send to one address, as it does under load.")
        say("   That record and every later one come back: nothing overtakes a failed record.")
        _throttle_once(by_id["c-1002"]["email"])
        say(_join(_describe(stack.pump(LocalContext.for_function))))
        say()

        rows = _ledger()
        emails = {sent.to: sent for sent in sent_emails()}
        sms = dict(sent_sms())
        say(f"   {'customer':<9} {'name':<13} {'locale':<7} {'channel':<8} {'result':<9} detail")
        for row in rows:
            customer = by_id.get(row.customer_id, {})
            name = str(customer.get("first_name", ""))
            locale = str(customer.get("locale", ""))
            detail = row.reason
            if row.status == "sent" and row.channel == "email":
                sent = emails[customer["email"]]
                detail = f'{mask_email(customer["email"])}  "{sent.subject}"'
            elif row.status == "sent" and row.channel == "sms":
                detail = f'{mask_phone(customer["phone"])}  "{sms[customer["phone"]]}"'
            status = "REJECTED" if row.record_type == "rejection" else row.status.upper()
            channel = row.channel if row.channel != "-" else "-"
            say(f"   {row.customer_id:<9} {name:<13} {locale:<7} {channel:<8} {status:<9} {detail}")
        say()

        # 2. exactly once: an update, then the whole stream replayed
        before = (len(sent_emails()), len(sent_sms()))
        table.update_item(
            TableName="CustomersTable",
            Key={"customer_id": {"S": "c-1001"}},
            UpdateExpression="SET first_name = :n",
            ExpressionAttributeValues={":n": {"S": "Annie"}},
        )
        say("2. Ann edits her profile (a MODIFY record), then the sign-up batch is delivered again")
        calls = stack.pump(LocalContext.for_function)
        say(
            "   MODIFY record: filtered out by the template's FilterCriteria, "
            f"{len(calls)} invocation(s)"
        )
        stack.rewind()  # replay the stream from the start, as a redrive would
        replayed = stack.pump(LocalContext.for_function)
        say(_join(_describe(replayed)))
        after = (len(sent_emails()), len(sent_sms()))
        say(
            f"   messages sent by the replay: {after[0] - before[0]} email, "
            f"{after[1] - before[1]} SMS (the send ledger already holds every key)"
        )
        say()

        # 3. what a person can open
        by_address = {str(v.get("email")): c for c, v in by_id.items()}
        named = [(f"{by_address[sent.to]}-welcome", sent) for sent in sent_emails()]
        write_emails(out_dir, named, "Welcome emails sent by the demo")

        sent_rows = [r for r in _ledger() if r.status == "sent"]
        skipped = [r for r in _ledger() if r.status == "skipped"]
        rejected = [r for r in _ledger() if r.record_type == "rejection"]
        say(
            f"3. Summary: {len(sent_rows)} sent "
            f"({sum(r.channel == 'email' for r in sent_rows)} email, "
            f"{sum(r.channel == 'sms' for r in sent_rows)} SMS), "
            f"{len(skipped)} skipped, {len(rejected)} rejected, "
            f"{len(stack.failures)} batch(es) parked in the failure queue"
        )
        say(f"   Rendered emails: {out_dir / 'index.html'} (plus .html, .txt and .eml per email)")
        say(f"   Handler log lines (JSON, addresses never logged): {log_file}")
        return len(sent_rows)


def _join(lines: list[str]) -> str:
    return "\n".join(lines) if lines else "  (no invocations)"
