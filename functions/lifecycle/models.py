"""The data contract (what the business's systems write), as typed models.

Raw DynamoDB images stop at the handler: they are deserialised with boto3's TypeDeserializer
(through Powertools) and validated here. Validation messages never repeat the offending value,
so a reason can be logged and stored without leaking an address.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from lifecycle.phones import e164


def deliverable_email(value: str) -> str:
    """A deliverable form of the address: ASCII, with an internationalised domain in punycode.

    Addresses whose local part needs SMTPUTF8 are refused: SES cannot send to them.
    """
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        raise ValueError("not a valid email address") from None
    return checked.ascii_email or checked.normalized


def _timezone(value: str | None) -> str | None:
    # Optional with a documented fallback (the stack's default): an unusable value means
    # "not given", it does not cost the customer their messages.
    cleaned = value.strip() if isinstance(value, str) else None
    if not cleaned:
        return None
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return cleaned


def _locale(value: str | None) -> str | None:
    # Business systems write `nl_NL` as often as `nl-NL`; both mean the same. An unusable
    # value falls back to the stack's default locale, like a missing one.
    cleaned = value.strip().replace("_", "-") if isinstance(value, str) else None
    if not cleaned or not all(part.isalnum() for part in cleaned.split("-")):
        return None
    return cleaned


def _channel(value: str | None) -> str | None:
    cleaned = value.strip().lower() if isinstance(value, str) else None
    return cleaned if cleaned in ("email", "sms") else None


def _strip_blank(value: Any) -> Any:
    # An empty string written for an optional attribute means "not given".
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _lenient_moment(value: Any) -> Any:
    # An optional mark: a value that is not a time means "not given", it does not make the
    # customer invalid for every stage.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


Email = Annotated[str, AfterValidator(deliverable_email)]
Phone = Annotated[str, AfterValidator(e164)]
NonEmpty = Annotated[str, Field(min_length=1)]


class Consent(BaseModel):
    """Consent per channel and kind. A missing flag means no consent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    email_marketing: bool = False
    sms_marketing: bool = False
    sms_transactional: bool = False


class Customer(BaseModel):
    """One item of the Customers table."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    customer_id: NonEmpty
    first_name: NonEmpty
    created_at: datetime
    email: Annotated[Email | None, BeforeValidator(_strip_blank)] = None
    phone: Annotated[Phone | None, BeforeValidator(_strip_blank)] = None
    locale: Annotated[str | None, AfterValidator(_locale)] = None
    timezone: Annotated[str | None, AfterValidator(_timezone)] = None
    consent: Consent = Field(default_factory=Consent)
    # Optional: where the customer wants order updates, overriding each status's default.
    channel_preference: Annotated[str | None, AfterValidator(_channel)] = None
    # Optional: when an earlier system welcomed the customer (an import writes it): the
    # welcome stage records its messages as skipped instead of sending them.
    welcomed_at: Annotated[datetime | None, BeforeValidator(_lenient_moment)] = None

    @model_validator(mode="after")
    def _reachable(self) -> Customer:
        if self.email is None and self.phone is None:
            raise ValueError("needs an email or a phone")
        return self


class OrderStatus(StrEnum):
    SCHEDULED = "scheduled"
    PICKED_UP = "picked_up"
    IN_PROCESS = "in_process"
    READY = "ready"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


# How far along an order is, in the order its statuses happen (cancelled last: it ends one).
PROGRESS = {
    OrderStatus.SCHEDULED: 1,
    OrderStatus.PICKED_UP: 2,
    OrderStatus.IN_PROCESS: 3,
    OrderStatus.READY: 4,
    OrderStatus.OUT_FOR_DELIVERY: 5,
    OrderStatus.DELIVERED: 6,
    OrderStatus.CANCELLED: 7,
}


class Window(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    start: datetime
    end: datetime


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: NonEmpty
    quantity: Decimal
    unit_price: Decimal


def _utc_if_naive(value: datetime) -> datetime:
    # A time written without an offset is read as UTC, so every order time compares with
    # every other (a profile folds many orders' times together).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Order(BaseModel):
    """One item of the Orders table."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: NonEmpty
    customer_id: NonEmpty
    status: OrderStatus
    updated_at: Annotated[datetime, AfterValidator(_utc_if_naive)]
    pickup_window: Window | None = None
    delivery_window: Window | None = None
    items: list[OrderItem] = Field(default_factory=list)
    total: Decimal | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    # Optional: what was refunded of a delivered order (its points are taken back with it).
    refunded_total: Decimal | None = Field(default=None, ge=0)
    # Optional: a promo code the product issued, as the customer typed it (redeemed once).
    promo_code: Annotated[str | None, BeforeValidator(_strip_blank)] = None


class Rating(BaseModel):
    """A customer's rating of one order, as the Ratings table holds it (the product's own
    table, written by the rating endpoint)."""

    model_config = ConfigDict(extra="ignore")

    order_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    score: int = Field(ge=1, le=5)
    rated_at: datetime
    updated_at: datetime
    comment: str | None = Field(default=None, alias="customer_comment")


class Lifetime(BaseModel):
    """What a customer has had from the business: delivered orders and their cost."""

    model_config = ConfigDict(frozen=True)

    orders: int = 0
    spend: dict[str, Decimal] = Field(default_factory=dict)  # per currency


def describe(error: ValidationError) -> str:
    """Say what is wrong with a record, naming attributes but never their values."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "record"
        if item["type"] == "missing":
            parts.append(f"missing required attribute {where}")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            parts.append(f"{where}: {message}")
    return "; ".join(parts)
