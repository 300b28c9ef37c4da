"""What the retention tests share: a calendar in the business's time zone, customers and
orders written to the local stack's tables, and reads of what the run left behind."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lifecycle.adapters.profiles import DynamoProfiles
from lifecycle.platform.settings import Env
from lifecycle.profiles.settings import ProfileSettings

ZONE = ZoneInfo("Europe/Amsterdam")  # the local stack's DefaultTimezone
DAY0 = date(2026, 1, 5)
SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()


def at(day: int, hour: int = 10) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=day), datetime.min.time(), ZONE).replace(
        hour=hour
    )


def put(table: str, item: dict[str, Any]) -> None:
    boto3.client("dynamodb").put_item(
        TableName=table, Item={k: SERIALIZER.serialize(v) for k, v in item.items()}
    )


def customer(customer_id: str, name: str) -> None:
    put(
        "CustomersTable",
        {
            "customer_id": customer_id,
            "first_name": name,
            "email": f"{customer_id}@example.com",
            "created_at": at(0, 8).isoformat(),
            "locale": "en",
            "consent": {"email_marketing": True},
        },
    )


class Orders:
    """Orders on their days: placed at 10:00, delivered the next day at 10:00."""

    def __init__(self) -> None:
        self.by_day: dict[int, list[tuple[str, str, str, str | None]]] = {}
        self.count: Counter[str] = Counter()
        self.totals: dict[str, str] = {}

    def place(self, customer: str, day: int, total: str = "40", code: str | None = None) -> str:
        self.count[customer] += 1
        order_id = f"{customer}-{self.count[customer]:03d}"
        self.by_day.setdefault(day, []).append((order_id, customer, "scheduled", code))
        self.by_day.setdefault(day + 1, []).append((order_id, customer, "delivered", code))
        self.totals[order_id] = total
        return order_id

    def write(self, day: int) -> None:
        for order_id, customer, status, code in self.by_day.pop(day, []):
            item: dict[str, Any] = {
                "order_id": order_id,
                "customer_id": customer,
                "status": status,
                "updated_at": at(day).astimezone(UTC).isoformat(),
                "total": self.totals[order_id],
                "currency": "EUR",
                "delivery_window": {
                    "start": at(day + 1, 18).isoformat(),
                    "end": at(day + 1, 20).isoformat(),
                },
                "items": [{"name": "Wash & fold", "quantity": 1, "unit_price": 40}],
            }
            if code:
                item["promo_code"] = code
            put("OrdersTable", item)


def profiles() -> DynamoProfiles:
    settings = ProfileSettings.from_env(
        Env({"PROFILES_TABLE": "ProfilesTable", "DEFAULT_TIMEZONE": "Europe/Amsterdam"})
    )
    return DynamoProfiles(
        boto3.client("dynamodb"), settings.table, settings.loyalty, settings.stages
    )


def scan(table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += [{k: DESERIALIZER.deserialize(v) for k, v in i.items()} for i in page["Items"]]
    return items


def day_of(moment: str) -> int:
    return (datetime.fromisoformat(moment).astimezone(ZONE).date() - DAY0).days
