"""The daily run over the local stack (lifecycle/local/daily_run.py), as bench-due runs it:
each AWS call of the clients built after the hook counted once."""

from __future__ import annotations

import boto3

from lifecycle.local import daily_run
from tests.conftest import Aws


def test_the_hook_counts_each_call_of_the_clients_built_after_it(aws: Aws) -> None:
    session = boto3.Session()
    early = session.client("dynamodb")
    calls = daily_run.Calls()
    calls.attach(session.events)
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")

    dynamodb.list_tables()
    dynamodb.list_tables()
    sqs.list_queues()
    early.list_tables()  # built before: not counted
    calls.counting = False
    dynamodb.list_tables()

    assert calls.made == {("dynamodb", "ListTables"): 2, ("sqs", "ListQueues"): 1}
    assert calls.by_service() == {"dynamodb": 2, "sqs": 1}
    assert calls.seconds > 0
