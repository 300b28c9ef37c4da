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
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from lifecycle.messaging.links import InvalidLink, LinkClaims, LinkSigner
from lifecycle.messaging.message import TOPICS
from lifecycle.messaging.preferences import Source
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.settings import Env
from lifecycle.platform.web import form_fields, respond, same_origin
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
    customers: Callable[[str], dict[str, str]]


def centre() -> Centre:
    ports = kit.context(UNIT).ports
    assert ports.signer is not None  # the unit's settings require LINK_SIGNING_SECRET
    return Centre(ports.signer, ports.preferences, ports.renderer, ports.page_customers)


_STATUS = {"malformed": 400, "forged": 403, "expired": 410, "request": 403}


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str, locale: str | None = None) -> Response[str]:
    current = centre()
    page = current.renderer.page("invalid", locale, {"problem": problem})
    logger.warning("preference request refused", extra={"problem": problem})
    return respond(_STATUS[problem], page)


def _claims() -> LinkClaims:
    return centre().signer.verify(_token())


def _page(name: str, claims: LinkClaims, customer: dict[str, str]) -> Response[str]:
    current = centre()
    shown = journey.view(current.preferences.get(claims.customer_id))
    token = _token()
    page = current.renderer.page(
        name,
        customer.get("locale"),
        {
            "first_name": customer.get("first_name", ""),
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
        return _refuse(invalid.kind)
    customer = centre().customers(claims.customer_id)
    return _page("preferences", claims, customer)


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
    customer = here.customers(claims.customer_id)
    strings = here.renderer.page_strings(customer.get("locale"))
    return respond(200, strings["one_click_done"] + "\n", "text/plain; charset=utf-8")


@app.post("/preferences")
def change() -> Response[str]:
    form = form_fields(app.current_event)
    if form.get("List-Unsubscribe") == ["One-Click"]:
        return _one_click(_token())
    try:
        claims = _claims()
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    current = centre()
    now = datetime.now(UTC)
    customer = current.customers(claims.customer_id)
    if not same_origin(app.current_event) or not current.signer.check_form_token(
        _token(), (form.get("form_token") or [""])[0]
    ):
        return _refuse("request", customer.get("locale"))
    action = (form.get("action") or ["save"])[0]
    try:
        changes = journey.form_changes(
            current.preferences.get(claims.customer_id), action, claims.topic, form
        )
    except ValueError:
        return _refuse("request", customer.get("locale"))
    if changes:
        current.preferences.apply(
            claims.customer_id, changes, Source.PREFERENCE_CENTRE, now, uuid.uuid4().hex
        )
    logger.info(
        "preferences saved",
        extra={"customer_id": claims.customer_id, "action": action, "changes": len(changes)},
    )
    return _page("saved", claims, customer)


# Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key).
handler = kit.http(app)
