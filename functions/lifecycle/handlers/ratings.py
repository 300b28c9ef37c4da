"""Rating endpoint Lambda (Function URL): the one-tap ratings in feedback requests.

GET  /rate?t=<token>   a person's tap records the score (a second tap, of any score, updates
                       it) and shows the thank-you page with an optional comment box. A request
                       without a person's navigation headers (a mail scanner fetching every
                       link) only shows a confirmation button and records nothing.
POST /rate?t=<token>   the page's form: the score again, with an optional comment (needs its
                       form token and a same-origin request)

Forged, altered or made-up links get 400/403, expired ones 410, and change nothing. Complaints
and referral asks follow from the Ratings table's stream, not from here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle import runtime
from lifecycle.handlers.web import form_fields, respond, same_origin
from lifecycle.messaging.links import RATING_SCORES, InvalidLink, RatingClaims
from lifecycle.observability import logger

app = LambdaFunctionUrlResolver()

MAX_COMMENT = 1000  # characters
_STATUS = {"malformed": 400, "forged": 403, "expired": 410, "form": 403, "too_long": 400}


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str, locale: str | None = None) -> Response[str]:
    desk = runtime.rating_desk()
    page = desk.renderer.page("invalid", locale, {"problem": problem})
    logger.warning("rating refused", extra={"problem": problem})
    return respond(_STATUS[problem], page)


def _person_tapped() -> bool:
    """Browsers mark a navigation a person started (Fetch Metadata); HTTP clients that scan
    links in mail do not, and must not cast votes by fetching all five links."""
    headers = app.current_event.headers
    return headers.get("sec-fetch-user") == "?1" and headers.get("sec-fetch-mode") == "navigate"


def _page(
    claims: RatingClaims, customer: dict[str, str], *, recorded: bool, commented: bool = False
) -> Response[str]:
    desk = runtime.rating_desk()
    token = _token()
    page = desk.renderer.page(
        "rating",
        customer.get("locale"),
        {
            "first_name": customer.get("first_name", ""),
            "order_id": claims.order_id,
            "score": claims.score,
            "scores": list(RATING_SCORES),
            "recorded": recorded,
            "commented": commented,
            "max_comment": MAX_COMMENT,
            "action": "?" + urlencode({"t": token}),
            "form_token": desk.signer.form_token(token),
        },
    )
    return respond(200, page)


def _record(claims: RatingClaims, customer: dict[str, str], comment: str | None) -> Response[str]:
    desk = runtime.rating_desk()
    stored = desk.ratings.record(
        claims.order_id, claims.customer_id, claims.score, datetime.now(UTC), comment
    )
    if not stored:  # the order's rating belongs to someone else: a link we never made
        return _refuse("forged", customer.get("locale"))
    logger.info(
        "rating recorded",
        extra={
            "order_id": claims.order_id,
            "customer_id": claims.customer_id,
            "score": claims.score,
            "with_comment": bool(comment),
        },
    )
    return _page(claims, customer, recorded=True, commented=bool(comment))


def _verified() -> tuple[RatingClaims, dict[str, str]] | Response[str]:
    """The link's claims and the customer's name and locale, or the refusal page."""
    desk = runtime.rating_desk()
    try:
        claims = desk.signer.verify_rating(_token())
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    return claims, desk.customers(claims.customer_id)


@app.get("/rate")
def tap() -> Response[str]:
    verified = _verified()
    if isinstance(verified, Response):
        return verified
    claims, customer = verified
    if not _person_tapped():
        return _page(claims, customer, recorded=False)
    return _record(claims, customer, None)


@app.post("/rate")
def submit() -> Response[str]:
    verified = _verified()
    if isinstance(verified, Response):
        return verified
    claims, customer = verified
    desk = runtime.rating_desk()
    form = form_fields(app.current_event)
    if not same_origin(app.current_event) or not desk.signer.check_form_token(
        _token(), (form.get("form_token") or [""])[0]
    ):
        return _refuse("form", customer.get("locale"))
    comment = (form.get("comment") or [""])[0].strip()
    if len(comment) > MAX_COMMENT:
        return _refuse("too_long", customer.get("locale"))
    return _record(claims, customer, comment or None)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key)."""
    return app.resolve(event, context)
