"""Preference centre Lambda (Function URL): one-click unsubscribe and the preferences page.

GET  /preferences?t=<token>   the page: leave one topic, all marketing, or a channel
POST /preferences?t=<token>   body `List-Unsubscribe=One-Click`: RFC 8058, takes effect at once
                              any other body: the page's form (needs its form token and a
                              same-origin request; a cross-site form changes nothing)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle import runtime
from lifecycle.handlers.web import form_fields, respond, same_origin
from lifecycle.journeys import preferences as journey
from lifecycle.messaging.links import InvalidLink, LinkClaims
from lifecycle.messaging.preferences import TOPICS, Source
from lifecycle.observability import logger

app = LambdaFunctionUrlResolver()

_STATUS = {"malformed": 400, "forged": 403, "expired": 410, "request": 403}


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str, locale: str | None = None) -> Response[str]:
    centre = runtime.preference_centre()
    page = centre.renderer.page("invalid", locale, {"problem": problem})
    logger.warning("preference request refused", extra={"problem": problem})
    return respond(_STATUS[problem], page)


def _claims() -> LinkClaims:
    return runtime.preference_centre().signer.verify(_token())


def _page(name: str, claims: LinkClaims, customer: dict[str, str]) -> Response[str]:
    centre = runtime.preference_centre()
    shown = journey.view(centre.preferences.get(claims.customer_id))
    token = _token()
    page = centre.renderer.page(
        name,
        customer.get("locale"),
        {
            "first_name": customer.get("first_name", ""),
            "action": "?" + urlencode({"t": token}),
            "form_token": centre.signer.form_token(token),
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
    customer = runtime.preference_centre().customers(claims.customer_id)
    return _page("preferences", claims, customer)


def _one_click(token: str) -> Response[str]:
    """RFC 8058: the mailbox provider posts this. It can only ever unsubscribe, so a genuine
    link still works after its expiry; a repeated post finds the customer already out."""
    centre = runtime.preference_centre()
    try:
        claims = centre.signer.verify(token, allow_expired=True)
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    current = centre.preferences.get(claims.customer_id)
    changes = [c for c in journey.one_click(claims.topic) if c.entry not in current.opt_outs]
    if changes and current.allows(changes[0].channel, changes[0].topic):
        centre.preferences.apply(
            claims.customer_id, changes, Source.ONE_CLICK, datetime.now(UTC), uuid.uuid4().hex
        )
    logger.info(
        "one-click unsubscribe",
        extra={"customer_id": claims.customer_id, "topic": claims.topic, "changed": bool(changes)},
    )
    customer = centre.customers(claims.customer_id)
    strings = centre.renderer.page_strings(customer.get("locale"))
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
    centre = runtime.preference_centre()
    now = datetime.now(UTC)
    customer = centre.customers(claims.customer_id)
    if not same_origin(app.current_event) or not centre.signer.check_form_token(
        _token(), (form.get("form_token") or [""])[0]
    ):
        return _refuse("request", customer.get("locale"))
    action = (form.get("action") or ["save"])[0]
    try:
        changes = journey.form_changes(
            centre.preferences.get(claims.customer_id), action, claims.topic, form
        )
    except ValueError:
        return _refuse("request", customer.get("locale"))
    if changes:
        centre.preferences.apply(
            claims.customer_id, changes, Source.PREFERENCE_CENTRE, now, uuid.uuid4().hex
        )
    logger.info(
        "preferences saved",
        extra={"customer_id": claims.customer_id, "action": action, "changes": len(changes)},
    )
    return _page("saved", claims, customer)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key)."""
    return app.resolve(event, context)
