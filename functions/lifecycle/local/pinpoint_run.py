"""`lifecycle import pinpoint --local`: the import into a fresh local stack (moto, in this
process), then the Customers stream played to its functions as Lambda would, so what the
welcome stage makes of the imported customers is there to see (their welcomes are recorded as
skipped, none is sent)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import boto3

from lifecycle.local.stack import (
    LOCAL_PARAMETERS,
    REGION,
    LocalContext,
    LocalStack,
    local_aws,
    logs_to,
)
from lifecycle.pinpoint import importer

LOG = Path("out/pinpoint-import-local.log")


def local_tables(stack: LocalStack) -> importer.Tables:
    return importer.Tables(stack.table_name("CustomersTable"), stack.table_name("PreferencesTable"))


def welcome_outcomes(stack: LocalStack) -> Counter[str]:
    """The welcome stage's ledger items by status and reason (the Customers stream played)."""
    client = boto3.client("dynamodb", region_name=REGION)
    found: Counter[str] = Counter()
    for page in client.get_paginator("scan").paginate(TableName=stack.table_name("LedgerTable")):
        for item in page["Items"]:
            if item.get("stage", {}).get("S") != "welcome":
                continue
            status = item.get("status", {}).get("S", "?")
            reason = item.get("reason", {}).get("S")
            found[f"{status}: {reason}" if reason else status] += 1
    return found


def import_locally(
    where: str,
    dry_run: bool,
    run: Callable[[importer.Source, importer.CustomerWriter], importer.ImportReport],
) -> tuple[importer.ImportReport, list[str]]:
    """`run` (the command's import) over a fresh local stack's tables."""
    LOG.parent.mkdir(exist_ok=True)
    with local_aws(), logs_to(LOG):
        stack = LocalStack.deployed(LOCAL_PARAMETERS)
        source = importer.open_source(where, lambda: boto3.client("s3", region_name=REGION))
        client = boto3.client("dynamodb", region_name=REGION)
        report = run(source, importer.CustomerWriter(client, local_tables(stack), dry_run))
        if dry_run:
            return report, ["  (local stack: a fresh one, so every customer is new)"]
        # The functions' metrics (printed, as Lambda's log would have them) go to the log.
        with LOG.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            stack.pump(LocalContext.for_function)
        welcomed = welcome_outcomes(stack)
    lines = [
        "  local stack: the Customers stream played to its functions (log: " + str(LOG) + ")",
        "  welcome stage: "
        + (", ".join(f"{count} {what}" for what, count in welcomed.most_common()) or "nothing"),
    ]
    return report, lines
