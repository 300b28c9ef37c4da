"""Preference centre Lambda (Function URL): one-click unsubscribe and the preferences page.

GET  /preferences?t=<token>   the page: leave one topic, all marketing, or a channel
POST /preferences?t=<token>   body `List-Unsubscribe=One-Click`: RFC 8058, takes effect at once
                              any other body: the page's form (needs its form token and a
                              same-origin request; a cross-site form changes nothing)
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import default
from typing import Any
from urllib.parse import parse_qs, urlencode

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle import runtime
from lifecycle.journeys import preferences as journey
from lifecycle.messaging.links import InvalidLink, LinkClaims
from lifecycle.messaging.preferences import TOPICS, Source
from lifecycle.observability import logger

app = LambdaFunctionUrlResolver()

HTML = "text/html; charset=utf-8"
# Pages carry no script at all, and may not be framed or post anywhere but here.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Same-origin (not no-referrer): browsers then send a real Origin on the form post, and
    # the token in the URL still never leaves for another site.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_STATUS = {"malformed": 400, "forged": 403, "expired": 410, "request": 403}


def _respond(status: int, body: str, content_type: str = HTML) -> Response[str]:
    return Response(
        status_code=status, content_type=content_type, body=body, headers=dict(SECURITY_HEADERS)
    )


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str, locale: str | None = None) -> Response[str]:
    centre = runtime.preference_centre()
    page = centre.renderer.page("invalid", locale, {"problem": problem})
    logger.warning("preference request refused", extra={"problem": problem})
    return _respond(_STATUS[problem], page)


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
    return _respond(200, page)


@app.get("/preferences")
def show() -> Response[str]:
    """Showing the page never changes anything (link scanners open links too)."""
    try:
        claims = _claims()
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    customer = runtime.preference_centre().customers(claims.customer_id)
    return _page("preferences", claims, customer)


def _form() -> dict[str, list[str]]:
    """The posted fields, URL-encoded or multipart/form-data (RFC 8058 asks providers for the
    latter, and allows the former)."""
    event = app.current_event
    content_type = event.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        raw = (
            base64.b64decode(event.body or "")
            if event.is_base64_encoded
            else ((event.body or "").encode())
        )
        header = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=default).parsebytes(header + raw)
        fields: dict[str, list[str]] = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields.setdefault(name, []).append(payload.decode("utf-8", "replace").strip())
        return fields
    return parse_qs(event.decoded_body or "", keep_blank_values=True)


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
    return _respond(200, strings["one_click_done"] + "\n", "text/plain; charset=utf-8")


@app.post("/preferences")
def change() -> Response[str]:
    form = _form()
    if form.get("List-Unsubscribe") == ["One-Click"]:
        return _one_click(_token())
    try:
        claims = _claims()
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    centre = runtime.preference_centre()
    now = datetime.now(UTC)
    customer = centre.customers(claims.customer_id)
    if not _same_origin() or not centre.signer.check_form_token(
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


def _same_origin() -> bool:
    """Browsers say where a form post came from; only this page's own origin may change state."""
    headers = app.current_event.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("host", "")
        return origin in (f"https://{host}", f"http://{host}") and bool(host)
    return True


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key)."""
    return app.resolve(event, context)
