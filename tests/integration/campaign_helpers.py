"""What the campaign tests share: a templates folder with a test campaign's templates beside
the product's, customers written to the local stack, the campaign commands over it, and the
campaign's schedules fired as Scheduler would."""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import time_machine
from boto3.dynamodb.types import TypeSerializer

from lifecycle.campaign_control import Campaigns, StackNames
from lifecycle.local.stack import LocalContext
from lifecycle.stages.announcements.campaign import Campaign, parse
from tests.conftest import Aws

SERIALIZER = TypeSerializer()
REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# What the test campaign's templates say, per locale: a test reads the language back.
GREETING = {"en": "Hello", "nl": "Hallo", "tr": "Merhaba", "zh-TW": "你好"}
CAMPAIGN_FUNCTIONS = ("CampaignPlannerFunction", "CampaignSenderFunction", "DeferredSendFunction")


def templates_with_campaign(tmp: Path) -> Path:
    """The product's templates plus `campaign_test` (email and SMS, four locales)."""
    root = tmp / "templates"
    shutil.copytree(REPO_TEMPLATES, root)
    for variant in ("campaign_test", "campaign_test_b"):
        folder = root / variant
        tag = "A" if variant == "campaign_test" else "B"
        for locale, hello in GREETING.items():
            where = folder if locale == "en" else folder / locale
            where.mkdir(parents=True, exist_ok=True)
            (where / "email.subject.j2").write_text(f"{hello} {{{{ first_name }}}} [{tag}]\n")
            (where / "email.html.j2").write_text(
                "{% extends layout.html %}{% block content %}"
                f"<p>{hello} {{{{ first_name }}}} [{tag}] [{locale}]</p>"
                '<p><a href="{{ link }}">{{ details.what }}</a></p>'
                "{% endblock %}"
            )
            (where / "email.txt.j2").write_text(
                "{% extends layout.text %}{% block content %}"
                f"{hello} {{{{ first_name }}}} [{tag}] [{locale}] {{{{ link }}}}"
                "{% endblock %}"
            )
            (where / "sms.txt.j2").write_text(
                f"{hello} {{{{ first_name }}}} [{tag}] {{{{ link }}}}"
            )
        (folder / "sample.json").write_text(
            json.dumps(
                {
                    "context": {
                        "first_name": "Ann",
                        "prospect": False,
                        "link": "https://freshfold.example/eco",
                        "details": {"what": "Eco wash"},
                    }
                }
            )
        )
    return root


def use_templates(aws: Aws, templates: Path) -> None:
    for name in CAMPAIGN_FUNCTIONS:
        aws.stack.overrides.setdefault(name, {})["TEMPLATES_DIR"] = str(templates)


def put_customer(customer_id: str, **values: Any) -> None:
    item = {
        "customer_id": customer_id,
        "first_name": values.pop("first_name", "Sam"),
        "created_at": "2026-01-05T08:00:00+00:00",
        **values,
    }
    boto3.client("dynamodb").put_item(
        TableName="CustomersTable", Item={k: SERIALIZER.serialize(v) for k, v in item.items()}
    )


def put_profile(customer_id: str, stage: str, delivered: int, last_order_at: str) -> None:
    item = {
        "customer_id": customer_id,
        "sk": "profile",
        "stage": stage,
        "delivered": delivered,
        "last_order_at": last_order_at,
    }
    boto3.client("dynamodb").put_item(
        TableName="ProfilesTable", Item={k: SERIALIZER.serialize(v) for k, v in item.items()}
    )


def campaign(**changes: Any) -> Campaign:
    data: dict[str, Any] = {
        "id": "eco-test",
        "name": "Eco wash launch",
        "channels": ["email"],
        "send": {"at": "2026-03-02T09:00:00Z"},
        "message": {
            "template": "campaign_test",
            "link": "https://freshfold.example/eco",
            "details": {"what": "Eco wash"},
        },
    }
    data.update(changes)
    return parse(data)


def control(aws: Aws) -> Campaigns:
    env = aws.stack.function("CampaignPlannerFunction").environment
    return Campaigns(boto3.client, StackNames.from_environment(env))


def fire(aws: Aws, name: str, group: str = "CampaignSchedulesGroup") -> dict[str, Any]:
    """Invoke what the schedule targets with its payload, at its time, as Scheduler would,
    then deliver every queue message (plan steps, pages) as Lambda's event sources would."""
    scheduler = boto3.client("scheduler")
    schedule = scheduler.get_schedule(Name=name, GroupName=group)
    at = datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
    payload = json.loads(schedule["Target"]["Input"])
    with time_machine.travel(at, tick=True):
        result = aws.invoke("CampaignPlannerFunction", payload)
        aws.stack.drain_queues(LocalContext.for_function)
    with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
        scheduler.delete_schedule(Name=name, GroupName=group)  # unless a cancel did
    return dict(result)


def schedules(group: str = "CampaignSchedulesGroup") -> list[str]:
    listed = boto3.client("scheduler").list_schedules(GroupName=group)["Schedules"]
    return sorted(s["Name"] for s in listed)
