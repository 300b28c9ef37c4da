"""Preference centre Lambda (Function URL): one-click unsubscribe and the preferences page.

GET  /preferences?t=<token>   the page: leave one topic, all marketing, or a channel
POST /preferences?t=<token>   body `List-Unsubscribe=One-Click`: RFC 8058, takes effect at once
                              any other body: the page's form (needs its form token and a
                              same-origin request; a cross-site form changes nothing)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from pydantic import ValidationError

from lifecycle.messaging.links import InvalidLink, LinkClaims, LinkSigner
from lifecycle.messaging.message import TOPICS, Channel
from lifecycle.messaging.policy import ContactPolicy
from lifecycle.messaging.preferences import ALL_TOPICS, Source
from lifecycle.models import Customer, describe
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.settings import Env
from lifecycle.platform.web import browser_locale, form_fields, respond, same_origin
from lifecycle.stages.subscribers import journey

if TYPE_CHECKING:
    from lifecycle.adapters.preferences import DynamoPreferences
    from lifecycle.messaging.renderer import Renderer

app = LambdaFunctionUrlResolver()


def _needs_link_key(env: Env) -> None:
    env.required("LINK_SIGNING_SECRET")


UNIT = kit.Unit(stage="subscribers", service="preferences", settings=_needs_link_key)


@dataclass(frozen=True)
class Centre:
    """What the preference centre's handler needs, built once per cold start."""

    signer: LinkSigner
    preferences: DynamoPreferences
    renderer: Renderer
    customers: Callable[[str], dict[str, Any] | None]
    policy: ContactPolicy

    def blocked(self, customer: Customer | None) -> frozenset[Channel]:
        """The channels the contact policy refuses outright for this customer's addresses."""
        if customer is None:
            return frozenset()
        addresses = {Channel.EMAIL: customer.email, Channel.SMS: customer.phone}
        return frozenset(
            channel
            for channel, address in addresses.items()
            if address and self.policy.blocked(channel, address)
        )


def centre() -> Centre:
    ports = kit.context(UNIT).ports
    assert ports.signer is not None  # the unit's settings require LINK_SIGNING_SECRET
    policy = ContactPolicy(ports.suppressions, ports.preferences, ports.sms)
    return Centre(ports.signer, ports.preferences, ports.renderer, ports.customers, policy)


@dataclass(frozen=True)
class Subscriber:
    """The customer behind a link: what the page greets them with, and what the contact
    policy would see (None when their row is gone or unusable: then nothing is sent)."""

    first_name: str
    locale: str | None
    customer: Customer | None


def _subscriber(customer_id: str) -> Subscriber:
    raw = centre().customers(customer_id) or {}
    customer = None
    if raw:
        try:
            customer = Customer.model_validate(raw)
        except ValidationError as error:
            logger.warning("customer row unusable", extra={"problem": describe(error)})
    name, locale = raw.get("first_name"), raw.get("locale")
    return Subscriber(
        first_name=name if isinstance(name, str) else "",
        locale=locale if isinstance(locale, str) else None,
        customer=customer,
    )


_STATUS = {"malformed": 400, "forged": 403, "expired": 410, "request": 403}
# An expired link may still unsubscribe in one click; its page says so, and what to do.
_PROBLEM = {"expired": "preferences_expired"}


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str, locale: str | None = None) -> Response[str]:
    current = centre()
    page = current.renderer.page("invalid", locale, {"problem": _PROBLEM.get(problem, problem)})
    logger.warning("preference request refused", extra={"problem": problem})
    return respond(_STATUS[problem], page)


def _claims() -> LinkClaims:
    return centre().signer.verify(_token())


def _refuse_link(invalid: InvalidLink) -> Response[str]:
    """The page and its form refuse an expired link (it may still unsubscribe in one click).
    An expired link is genuine, so its page speaks the customer's language."""
    locale = None
    if invalid.kind == "expired":
        claims = centre().signer.verify(_token(), allow_expired=True)
        locale = _subscriber(claims.customer_id).locale
    return _refuse(invalid.kind, locale or browser_locale(app.current_event))


def _page(name: str, claims: LinkClaims, subscriber: Subscriber) -> Response[str]:
    current = centre()
    shown = journey.view(
        current.preferences.get(claims.customer_id),
        subscriber.customer,
        current.blocked(subscriber.customer),
    )
    token = _token()
    page = current.renderer.page(
        name,
        subscriber.locale,
        {
            "first_name": subscriber.first_name,
            "action": "?" + urlencode({"t": token}),
            "form_token": current.signer.form_token(token),
            "link_topic": claims.topic,
            "topics": TOPICS,
            "email": shown.email,
            "sms": shown.sms,
        },
    )
    return respond(200, page)


@app.get("/preferences")
def show() -> Response[str]:
    """Showing the page never changes anything (link scanners open links too)."""
    try:
        claims = _claims()
    except InvalidLink as invalid:
        return _refuse_link(invalid)
    return _page("preferences", claims, _subscriber(claims.customer_id))


def _one_click(token: str) -> Response[str]:
    """RFC 8058: the mailbox provider posts this. It can only ever unsubscribe, so a genuine
    link still works after its expiry; a repeated post finds the customer already out."""
    here = centre()
    try:
        claims = here.signer.verify(token, allow_expired=True)
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    current = here.preferences.get(claims.customer_id)
    changes = [c for c in journey.one_click(claims.topic) if c.entry not in current.opt_outs]
    if changes and current.allows(changes[0].channel, changes[0].topic):
        here.preferences.apply(
            claims.customer_id, changes, Source.ONE_CLICK, datetime.now(UTC), uuid.uuid4().hex
        )
    logger.info(
        "one-click unsubscribe",
        extra={"customer_id": claims.customer_id, "topic": claims.topic, "changed": bool(changes)},
    )
    strings = here.renderer.page_strings(_subscriber(claims.customer_id).locale)
    # Say what was left: this topic by email, or all marketing email (the only changes a
    # one-click post can make), so the confirmation is true whatever else they receive.
    done = (
        strings["one_click_all"]
        if journey.one_click(claims.topic)[0].topic == ALL_TOPICS
        else strings["one_click_topic"].format(topic=strings["topics"][claims.topic])
    )
    return respond(200, done + "\n", "text/plain; charset=utf-8")


@app.post("/preferences")
def change() -> Response[str]:
    form = form_fields(app.current_event)
    if form.get("List-Unsubscribe") == ["One-Click"]:
        return _one_click(_token())
    try:
        claims = _claims()
    except InvalidLink as invalid:
        return _refuse_link(invalid)
    current = centre()
    now = datetime.now(UTC)
    subscriber = _subscriber(claims.customer_id)
    if not same_origin(app.current_event) or not current.signer.check_form_token(
        _token(), (form.get("form_token") or [""])[0]
    ):
        return _refuse("request", subscriber.locale)
    action = (form.get("action") or ["save"])[0]
    before = current.preferences.get(claims.customer_id)
    try:
        changes = journey.form_changes(
            before,
            journey.view(before, subscriber.customer, current.blocked(subscriber.customer)),
            action,
            claims.topic,
            form,
        )
    except ValueError:
        return _refuse("request", subscriber.locale)
    if changes:
        current.preferences.apply(
            claims.customer_id, changes, Source.PREFERENCE_CENTRE, now, uuid.uuid4().hex
        )
    logger.info(
        "preferences saved",
        extra={"customer_id": claims.customer_id, "action": action, "changes": len(changes)},
    )
    return _page("saved", claims, subscriber)


# Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key).
handler = kit.http(app)
