"""`lifecycle replay --stack NAME`: read the stack's stream failure queues (or one saved
message), replay each parked batch through the function its stream triggers, and delete the
message once its records went through. One line per batch; exit 1 if any could not be
replayed (its message stays on the queue)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any

from lifecycle.replay import (
    FailedBatch,
    ReplayError,
    function_for,
    lambda_client,
    lambda_invoker,
    logged_records,
    messages,
    replay,
    stream_records,
)


def stream_failure_queues() -> list[str]:
    """Logical ids of the queues the template's stream event sources park batches on."""
    from lifecycle.local.stack import load_template

    found = []
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            destination = event["Properties"].get("DestinationConfig", {}).get("OnFailure", {})
            target = destination.get("Destination", {})
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                found.append(str(target["Fn::GetAtt"][0]))
    return sorted(found)


def _stack(cloudformation: Any, name: str) -> dict[str, str]:
    """Logical id -> physical id (a queue's URL, a table's name) of the stack's resources."""
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    return {str(r["LogicalResourceId"]): str(r["PhysicalResourceId"]) for r in resources}


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    resources = _stack(boto3.client("cloudformation"), args.stack)
    ledger = resources.get("LedgerTable")
    if ledger is None:
        print(f"lifecycle replay: stack {args.stack} has no LedgerTable", file=sys.stderr)
        return 1
    sqs = boto3.client("sqs")
    if args.message:
        bodies: Iterable[tuple[str, str | None, str]] = [
            (args.message.read_text(encoding="utf-8"), None, str(args.message))
        ]
    else:
        bodies = (
            (body, receipt, queue)
            for queue in stream_failure_queues()
            if queue in resources
            for body, receipt in messages(sqs, resources[queue], args.limit)
        )
    streams = boto3.client("dynamodbstreams")
    dynamodb = boto3.client("dynamodb")
    invoker = lambda_client()
    failed = done = 0
    for body, receipt, where in bodies:
        try:
            batch = FailedBatch.parse(body)
            function = function_for(invoker, batch)
            if args.dry_run:
                records = stream_records(streams, batch)
                source = "stream"
                if records is None:
                    records, source = logged_records(dynamodb, ledger, batch), "current items"
                count = "no" if records is None else str(len(records))
                print(
                    f"would replay {count} record(s) of {batch.table} "
                    f"({batch.start}-{batch.end}, from the {source}) through {function}"
                )
                continue
            result = replay(
                batch,
                streams=streams,
                dynamodb=dynamodb,
                ledger_table=ledger,
                invoke=lambda_invoker(invoker, function),
            )
        except (ReplayError, ClientError, BotoCoreError) as error:
            # This batch stays on its queue; the others are still replayed.
            failed += 1
            print(f"lifecycle replay: {where}: {error}", file=sys.stderr)
            continue
        done += 1
        print(
            f"replayed {result.records} record(s) of {batch.table} ({batch.start}-{batch.end}) "
            f"from the {result.source} through {function} in {result.invocations} invocation(s)"
        )
        if receipt is not None:
            queue_url = resources[where]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
    if not done and not failed:
        print("nothing to replay: the stream failure queues are empty")
    return 1 if failed else 0
