"""Feedback: the request after delivery, and what a rating leads to. Pure.

- The request goes by email a while after `delivered` (the order flow schedules it), once per
  order, with five one-tap rating links, unless the customer had one in the last few days.
- A rating of 1-2, or a comment on a rating of 3 or less, is a complaint: ops get an alert and
  the customer an apology saying a person will follow up.
- A 5 from a repeat customer (two or more delivered orders) gets a referral ask, at most once
  per quiet period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from lifecycle.messaging.formatting import Formatter, Money
from lifecycle.messaging.links import RATING_SCORES
from lifecycle.messaging.message import Cap, Channel, Message, MessageSpec
from lifecycle.messaging.plan import Alert, OpenCase, Plan, Send, Step
from lifecycle.models import Customer, Lifetime, Order, OrderStatus, Rating
from lifecycle.stages.feedback import messages
from lifecycle.stages.feedback.cases import CaseLinks, Opening, link_lines
from lifecycle.stages.feedback.messages import STAGE

COMPLAINT_SCORE = 2  # a rating this low is a complaint by itself
LOW_SCORE = 3  # a comment on a rating this low is a complaint
REPEAT_ORDERS = 2  # delivered orders that make a repeat customer


def request_blocked(order: Order) -> str | None:
    """Why a feedback request firing now should not go, or None."""
    if order.status is not OrderStatus.DELIVERED:
        return f"order is {order.status}"
    return None


def _email(
    spec: MessageSpec,
    key: str,
    customer: Customer,
    cap: Cap | None = None,
    about_order: str | None = None,
    **context: Any,
) -> Message:
    """Every feedback-stage message is an email in the customer's name."""
    return spec.message(
        key,
        customer,
        Channel.EMAIL,
        {"first_name": customer.first_name, **context},
        cap=cap,
        order_id=about_order,
    )


def request_message(
    order: Order, customer: Customer, rating_url: Callable[[int], str], quiet_days: int
) -> Message:
    """The feedback request: five links, one per score, each signed for this order; at most
    one per customer per `quiet_days`."""
    ratings = [{"score": score, "url": rating_url(score)} for score in RATING_SCORES]
    cap = Cap(
        key=f"feedback-quiet#{customer.customer_id}",
        owner=order.order_id,
        window=timedelta(days=quiet_days),
        reason=f"feedback requested within the last {quiet_days} days",
    )
    return _email(
        messages.FEEDBACK_REQUEST,
        f"{STAGE}#{order.order_id}",
        customer,
        cap,
        order.order_id,
        order_id=order.order_id,
        ratings=ratings,
    )


@dataclass(frozen=True)
class Complaint:
    key: str  # raised at most once per key
    reason: str  # "rating" or "comment"


@dataclass(frozen=True)
class FollowUp:
    alerts: tuple[Complaint, ...]
    apologise: bool
    ask_referral: bool  # if the customer is a repeat customer and not asked lately


def follow_up(new: Rating, old: Rating | None) -> FollowUp:
    """What this change to a rating calls for. Keys make replays and second taps harmless:
    one alert for a low rating per order, one per distinct comment on a low rating (also when
    the score drops to low after the comment)."""
    alerts: list[Complaint] = []
    if new.score <= COMPLAINT_SCORE:
        alerts.append(Complaint(f"complaint#{new.order_id}#rating", "rating"))
    if new.comment and new.score <= LOW_SCORE:
        digest = hashlib.sha256(new.comment.encode()).hexdigest()[:16]
        alerts.append(Complaint(f"complaint#{new.order_id}#comment#{digest}", "comment"))
    five_now = new.score == 5 and (old is None or old.score != 5)
    return FollowUp(alerts=tuple(alerts), apologise=bool(alerts), ask_referral=five_now)


def apology_message(rating: Rating, customer: Customer) -> Message:
    key = f"{STAGE}#{rating.order_id}#apology"
    return _email(
        messages.FEEDBACK_APOLOGY, key, customer, None, rating.order_id, order_id=rating.order_id
    )


def is_repeat(lifetime: Lifetime) -> bool:
    return lifetime.orders >= REPEAT_ORDERS


def referral_link(base: str, customer_id: str) -> str:
    """The customer's invite link: the business's booking page with their id in `ref`."""
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{urlencode({'ref': customer_id})}"


def referral_message(
    rating: Rating, customer: Customer, referral_base: str, quiet_days: int
) -> Message:
    """The referral ask, at most once per customer per `quiet_days`."""
    cap = Cap(
        key=f"referral-quiet#{customer.customer_id}",
        owner=rating.order_id,
        window=timedelta(days=quiet_days),
        reason=f"referral asked within the last {quiet_days} days",
    )
    return _email(
        messages.REFERRAL_ASK,
        f"referral#{customer.customer_id}#{rating.order_id}",
        customer,
        cap,
        rating.order_id,
        referral_url=referral_link(referral_base, customer.customer_id),
    )


def alert_text(
    alert: Complaint,
    rating: Rating,
    customer: Customer,
    lifetime: Lifetime,
    links: CaseLinks | None = None,
) -> tuple[str, str, dict[str, str]]:
    """Subject, body and filterable attributes of the ops alert. It names the customer by id
    and first name; their address and number stay in the business's own systems. `links`:
    the case's signed "I'm on it" and "resolved" links."""
    english = Formatter("en")  # ops read alerts in English
    spend = ", ".join(
        english.money(Money(amount, currency))
        for currency, amount in sorted(lifetime.spend.items())
    )
    if alert.reason == "comment":
        what = "a comment on a low rating"
        subject = f"Complaint comment: order {rating.order_id} (rated {rating.score}/5)"
    else:
        what = "a low rating"
        subject = f"Complaint: order {rating.order_id} rated {rating.score}/5"
    lines = [
        f"{customer.first_name} ({customer.customer_id}) left {what}.",
        "",
        f"Order:     {rating.order_id}",
        f"Rating:    {rating.score} of 5 (first rated {rating.rated_at:%Y-%m-%d %H:%M} UTC)",
        f"Customer:  {customer.customer_id}, {customer.first_name}, "
        f"locale {customer.locale or '-'}",
        f"Lifetime:  {lifetime.orders} delivered order(s), {spend or 'no spend recorded'}",
        f"Comment:   {rating.comment or '(none yet)'}",
        "",
        "The customer has been sent an apology saying a person will follow up.",
    ]
    if links is not None:
        lines += ["", *link_lines(links)]
    attributes = {
        "kind": "complaint",
        "reason": alert.reason,
        "rating": str(rating.score),
        "order_id": rating.order_id,
        "customer_id": customer.customer_id,
        "lifetime_orders": str(lifetime.orders),
        "lifetime_spend": spend or "none",
    }
    return subject, "\n".join(lines) + "\n", attributes


def follow_up_plan(
    plan: FollowUp,
    rating: Rating,
    customer: Customer,
    lifetime: Lifetime,
    referral_base: str,
    referral_quiet_days: int,
    opening: Opening | None = None,
) -> Plan:
    """The alerts to staff (once each), each opening its case where `opening` says how, the
    apology, and the referral ask for a repeat customer who gave a 5."""
    steps: list[Step] = []
    for complaint in plan.alerts:
        links = None
        if opening is not None:
            case = opening.case(
                complaint.key, rating.order_id, customer.customer_id, complaint.reason, rating.score
            )
            steps.append(OpenCase(case))
            links = opening.links(complaint.key)
        subject, text, attributes = alert_text(complaint, rating, customer, lifetime, links)
        steps.append(Alert(complaint.key, subject, text, attributes))
    if plan.apologise:
        steps.append(Send(apology_message(rating, customer)))
    if plan.ask_referral and is_repeat(lifetime):
        steps.append(Send(referral_message(rating, customer, referral_base, referral_quiet_days)))
    return Plan(tuple(steps))
