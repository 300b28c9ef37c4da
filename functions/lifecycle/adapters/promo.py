"""Promo codes in the Profiles table: two items per code.

    customer_id = <customer>, sk = "promo#<programme>"
        the code itself (state, expiry, the order that redeemed it), in its customer's item
        collection: bound to them, and exported and forgotten with the rest of their profile.
        One per customer and programme, so issuing again (a redelivered trigger) returns it.
    customer_id = "code#<code>", sk = "owner"
        the lookup by code (an order carries only the code): whose it is, under which
        programme. Written in the same transaction as the code, on the condition that no such
        item exists: that is what makes codes unique (a collision draws a new code).

Not a GSI: an index is eventually consistent, so it could neither refuse a duplicate code nor
find a code issued a moment ago. Every state change is a put conditioned on the state read, so
two orders racing for one code cannot both redeem it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lifecycle.adapters.dynamo import conditional, plain
from lifecycle.messaging.errors import TransientError
from lifecycle.profiles.promo import (
    PromoCode,
    PromoState,
    Redemption,
    give_back,
    issued,
    new_code,
    normalise,
    redeem,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CODE_SK = "promo#"
LOOKUP = "code#"
OWNER = "owner"
# New codes drawn before giving up: with 2**60 codes a single collision is already unheard of.
DRAWS = 5
# Re-reads after a lost race (another order changed the code between our read and write).
ATTEMPTS = 3


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def lookup_key(code: str) -> dict[str, Any]:
    return {"customer_id": _s(LOOKUP + code), "sk": _s(OWNER)}


def _code_key(customer_id: str, programme: str) -> dict[str, Any]:
    return {"customer_id": _s(customer_id), "sk": _s(CODE_SK + programme)}


def _item(promo: PromoCode) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_code_key(promo.customer_id, promo.programme),
        "code": _s(promo.code),
        "programme": _s(promo.programme),
        "issued_at": _s(promo.issued_at.isoformat()),
        "expires_at": _s(promo.expires_at.isoformat()),
        "state": _s(str(promo.state)),
    }
    if promo.redeemed_at is not None:
        item["redeemed_at"] = _s(promo.redeemed_at.isoformat())
    if promo.redeemed_order is not None:
        item["redeemed_order"] = _s(promo.redeemed_order)
    return item


def promo_from(item: dict[str, Any]) -> PromoCode:
    values = plain(item)
    return PromoCode(
        code=values["code"],
        customer_id=values["customer_id"],
        programme=values["programme"],
        issued_at=datetime.fromisoformat(values["issued_at"]),
        expires_at=datetime.fromisoformat(values["expires_at"]),
        state=PromoState(values["state"]),
        redeemed_at=(
            datetime.fromisoformat(values["redeemed_at"]) if values.get("redeemed_at") else None
        ),
        redeemed_order=values.get("redeemed_order"),
    )


class DynamoPromoCodes:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _read(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    def _issued(self, customer_id: str, programme: str) -> PromoCode | None:
        item = self._read(_code_key(customer_id, programme))
        return promo_from(item) if item else None

    def issue(self, customer_id: str, programme: str, valid_days: int, now: datetime) -> PromoCode:
        """The customer's code for `programme`: a new one, or the one issued before (so a
        redelivered trigger gives the customer the same code, never a second one)."""
        for _ in range(DRAWS):
            existing = self._issued(customer_id, programme)
            if existing is not None:
                return existing
            promo = issued(new_code(), customer_id, programme, valid_days, now)
            absent = "attribute_not_exists(sk)"
            lookup = {
                **lookup_key(promo.code),
                "owner": _s(customer_id),
                "programme": _s(programme),
            }
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": _item(promo),
                                "ConditionExpression": absent,
                            }
                        },
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": lookup,
                                "ConditionExpression": absent,
                            }
                        },
                    ]
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                # Either the code was drawn before (draw again) or a concurrent trigger issued
                # this programme's code first (the read at the top returns it).
                continue
            return promo
        raise TransientError(f"promo code for {customer_id}: no unique code after {DRAWS} draws")

    def get(self, code: str) -> PromoCode | None:
        """The code as stored, by what an order carries (typed leniently); None if unknown."""
        compact = normalise(code)
        if compact is None:
            return None
        owner = self._read(lookup_key(compact))
        if owner is None:
            return None
        return self._issued(owner["owner"]["S"], owner["programme"]["S"])

    def _put_if(self, promo: PromoCode, state: PromoState, order_id: str | None) -> bool:
        condition = "#state = :state"
        values: dict[str, Any] = {":state": _s(str(state))}
        if order_id is not None:
            condition += " AND redeemed_order = :order"
            values[":order"] = _s(order_id)
        return conditional(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=_item(promo),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            )
        )

    def redeem(self, code: str, customer_id: str, order_id: str, at: datetime) -> Redemption:
        """Redeem `code` for the order, or say why not. The same order again is the same
        success (a redelivered image), never a refusal."""
        for _ in range(ATTEMPTS):
            decision = redeem(self.get(code), customer_id, order_id, at)
            if not decision.ok or decision.again:
                return decision
            assert decision.code is not None
            if self._put_if(decision.code, PromoState.ISSUED, None):
                return decision
        # Lost every race: another order took it (the next read would say so), or it keeps
        # changing; the trigger retries and decides again.
        raise TransientError(f"promo code for order {order_id}: too many concurrent changes")

    def give_back(self, code: str, order_id: str) -> bool:
        """Free the code the order redeemed (it was cancelled); False if the order does not
        hold it (refused before, or given back already: a redelivery)."""
        promo = self.get(code)
        freed = give_back(promo, order_id) if promo is not None else None
        if freed is None:
            return False
        return self._put_if(freed, PromoState.REDEEMED, order_id)

    def codes(self, customer_id: str) -> list[PromoCode]:
        items: list[dict[str, Any]] = []
        for page in self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="customer_id = :c AND begins_with(sk, :p)",
            ExpressionAttributeValues={":c": _s(customer_id), ":p": _s(CODE_SK)},
            ConsistentRead=True,
        ):
            items.extend(page["Items"])
        return [promo_from(item) for item in items]
