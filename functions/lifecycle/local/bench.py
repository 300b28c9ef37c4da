"""`lifecycle bench`: what one welcome message costs in the handler, with AWS stubbed.

Every AWS call goes through boto3 as in Lambda (parameter validation, serialisation, signing,
response parsing) but is answered at botocore's `before-send` hook with a canned response, so
the figures show our code and the SDK, not the network. Printed next to them: the same stubbed
SES send call alone (the floor any sender pays), and the handler module's import time in a
fresh interpreter from the source tree. The cold start as deployed (imports from the `sam build`
output with Python 3.13 and no writable bytecode) and the package sizes are in cold_start.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse

from lifecycle.adapters.ses import build_mime
from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REPO_ROOT,
    LocalContext,
    LocalStack,
    moto_environment,
)
from lifecycle.messaging.channels import OutboundEmail
from lifecycle.observability import logger
from lifecycle.platform import composition

_SNS_XML = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>bench-sms</MessageId></PublishResult><ResponseMetadata>"
    "<RequestId>bench</RequestId></ResponseMetadata></PublishResponse>"
)


_SNS_OPTED_OUT_XML = (
    '<CheckIfPhoneNumberIsOptedOutResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
    "<CheckIfPhoneNumberIsOptedOutResult><isOptedOut>false</isOptedOut>"
    "</CheckIfPhoneNumberIsOptedOutResult><ResponseMetadata><RequestId>bench</RequestId>"
    "</ResponseMetadata></CheckIfPhoneNumberIsOptedOutResponse>"
)


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _canned(body: bytes, content_type: str) -> AWSResponse:
    headers = {"Content-Type": content_type, "x-amzn-RequestId": "bench"}
    return AWSResponse("https://stubbed.invalid", 200, cast(Any, headers), _Body(body))


def _install_stubs(calls: list[str]) -> None:
    """Answer every AWS call of the default session without leaving the process."""
    session = boto3.DEFAULT_SESSION
    assert session is not None

    def answer(event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        calls.append(operation)
        if operation == "SendEmail":
            return _canned(b'{"MessageId":"bench-email"}', "application/json")
        if operation == "Publish":
            if sns_protocol == "query":
                return _canned(_SNS_XML.encode(), "text/xml")
            return _canned(b'{"MessageId":"bench-sms"}', "application/x-amz-json-1.0")
        if operation == "CheckIfPhoneNumberIsOptedOut":
            if sns_protocol == "query":
                return _canned(_SNS_OPTED_OUT_XML.encode(), "text/xml")
            return _canned(b'{"isOptedOut":false}', "application/x-amz-json-1.0")
        return _canned(b"{}", "application/x-amz-json-1.0")

    sns_protocol = session.client("sns").meta.service_model.protocol
    # botocore uses the first non-None answer to a before-send event as the HTTP response.
    session.events.register("before-send", cast(Any, answer))


def _event(customers: int) -> tuple[dict[str, Any], int]:
    """A Lambda-shaped batch of INSERTs; every other customer also gets an SMS."""
    sample = json.loads((REPO_ROOT / "events" / "customers-insert.json").read_text("utf-8"))
    template = sample["Records"][0]
    records = []
    messages = 0
    for n in range(customers):
        record = copy.deepcopy(template)
        image = record["dynamodb"]["NewImage"]
        image["customer_id"] = {"S": f"bench-{n}"}
        image["locale"] = {"S": ["en-GB", "nl-NL", "zh-TW", "tr-TR"][n % 4]}
        if n % 2:
            image["consent"]["M"]["sms_transactional"] = {"BOOL": False}
            messages += 1
        else:
            messages += 2
        record["dynamodb"]["SequenceNumber"] = str(10**20 + n)
        records.append(record)
    return {"Records": records}, messages


def _median_seconds(work: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _import_seconds(module: str, repeats: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "functions")}
    for _ in range(repeats):
        out = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep log lines and metrics off the terminal (they are still formatted and written)."""
    handler = logger.registered_handler
    sink = io.StringIO()
    previous = handler.setStream(sink) if hasattr(handler, "setStream") else None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if previous is not None and hasattr(handler, "setStream"):
            handler.setStream(previous)


def run(messages: int = 500, repeats: int = 5) -> dict[str, float]:
    """Print and return the figures (seconds)."""
    if messages < 2 or repeats < 1:
        raise ValueError("bench needs at least 2 customers and 1 repeat")
    saved = dict(os.environ)
    os.environ.update(moto_environment())
    os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)  # measure with metrics on, as deployed
    try:
        boto3.setup_default_session()
        composition.reset()
        # The send path is what is measured, at whatever hour the bench runs: quiet hours off.
        stack = LocalStack.from_template({**LOCAL_PARAMETERS, "QuietHours": "off"})
        spec = stack.function("WelcomeFunction")
        handler_module = spec.handler.rpartition(".")[0]
        calls: list[str] = []
        _install_stubs(calls)
        event, per_batch = _event(messages)
        handler = spec.load()
        context = LocalContext.for_function(spec)

        with stack.environment_of(spec), _quiet():
            one, _ = _event(1)
            started = time.perf_counter()
            handler(one, context)  # first call builds clients and compiles templates
            first_call = time.perf_counter() - started
            handler(copy.deepcopy(event), context)  # warm every locale's templates
            calls.clear()
            batch = _median_seconds(lambda: handler(copy.deepcopy(event), context), repeats)
            copying = _median_seconds(lambda: copy.deepcopy(event), repeats)
        aws_calls = len(calls) / repeats
        per_message = (batch - copying) / per_batch

        ses = boto3.client("sesv2")
        raw = build_mime(
            OutboundEmail(
                to="ann@example.com",
                sender="hello@freshfold.example",
                sender_name="Fresh Fold Laundry",
                subject="Welcome",
                html="<p>Welcome</p>",
                text="Welcome",
                message_key="bench",
            )
        )

        def bare_sends() -> None:
            for _ in range(per_batch):
                ses.send_email(
                    FromEmailAddress="hello@freshfold.example",
                    Destination={"ToAddresses": ["ann@example.com"]},
                    Content={"Raw": {"Data": raw}},
                )

        ses.send_email(
            FromEmailAddress="hello@freshfold.example",
            Destination={"ToAddresses": ["ann@example.com"]},
            Content={"Raw": {"Data": raw}},
        )
        bare = _median_seconds(bare_sends, repeats) / per_batch
    finally:
        composition.reset()
        os.environ.clear()
        os.environ.update(saved)

    handler_import = _import_seconds(handler_module, repeats)
    boto3_import = _import_seconds("boto3", repeats)

    print(f"Welcome path, AWS calls stubbed at botocore's before-send hook (median of {repeats})")
    print(f"  batch: {messages} customers -> {per_batch} messages, {aws_calls:.0f} AWS calls")
    print(f"  per message, whole welcome path     {per_message * 1000:8.3f} ms")
    print(f"  per message, bare boto3 SES send     {bare * 1000:8.3f} ms")
    print(f"  overhead of the message path         {(per_message - bare) * 1000:8.3f} ms")
    print(f"  import the welcome handler module    {handler_import * 1000:8.1f} ms (source tree)")
    print(f"  import boto3 alone, for reference    {boto3_import * 1000:8.1f} ms")
    print(
        f"  first invocation after import        {first_call * 1000:8.1f} ms (clients, templates)"
    )
    return {
        "per_message": per_message,
        "bare_send": bare,
        "handler_import": handler_import,
        "boto3_import": boto3_import,
        "first_call": first_call,
    }
