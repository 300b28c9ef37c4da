"""A stand-in Lambda for the local SQS event source: records every event it gets, and does
what each message's JSON body tells it to (a plain-text body tells it nothing).

`{"do": "fail"}` is reported in batchItemFailures on every delivery, `{"do": "fail-once"}` on
its first; `{"do": "raise-once"}` raises on its first delivery; `{"then": {...}}` enqueues that
body on QUEUE_URL. A scheduled event enqueues `{"from": "schedule", "time": ...}` there."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import boto3

received: list[tuple[str, dict[str, Any]]] = []  # (function name, event)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    received.append((os.environ["AWS_LAMBDA_FUNCTION_NAME"], copy.deepcopy(event)))
    sqs = boto3.client("sqs")
    if event.get("detail-type") == "Scheduled Event":
        body = {"from": "schedule", "time": event["time"]}
        sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(body))
        return {}
    failures = []
    for record in event["Records"]:
        try:
            body = json.loads(record["body"])
        except ValueError:
            body = {}  # plain text: nothing to do
        first = record["attributes"]["ApproximateReceiveCount"] == "1"
        action = body.get("do")
        if action == "raise-once" and first:
            raise RuntimeError("the probe was told to raise")
        if action == "fail" or (action == "fail-once" and first):
            failures.append({"itemIdentifier": record["messageId"]})
        elif "then" in body:
            sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=json.dumps(body["then"]))
    return {"batchItemFailures": failures}
