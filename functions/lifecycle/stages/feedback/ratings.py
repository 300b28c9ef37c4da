"""Rating endpoint Lambda (Function URL): the one-tap ratings in feedback requests.

GET  /rate?t=<token>   a person's tap records the score (a second tap, of any score, updates
                       it) and shows the thank-you page with an optional comment box. A request
                       without a person's navigation headers (a mail scanner fetching every
                       link) only shows a confirmation button and records nothing.
POST /rate?t=<token>   the confirmation form (`action=rate`) casts the score; the thank-you
                       page's form (`action=comment`) adds a comment and never changes a later
                       score. Both need the form token and a same-origin request.

Forged, altered or made-up links get 400/403, expired ones 410, and change nothing. Complaints
and referral asks follow from the Ratings table's stream, not from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from lifecycle.messaging.links import RATING_SCORES, InvalidLink, LinkSigner, RatingClaims
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.web import browser_locale, form_fields, respond, same_origin
from lifecycle.stages.feedback import messages
from lifecycle.stages.feedback.settings import DeskSettings

if TYPE_CHECKING:
    from lifecycle.adapters.ratings import DynamoRatings
    from lifecycle.messaging.renderer import Renderer

app = LambdaFunctionUrlResolver()
UNIT = kit.Unit(stage=messages.STAGE, service="ratings", settings=DeskSettings.from_env)


@dataclass(frozen=True)
class Desk:
    """What the rating endpoint needs, built once per cold start."""

    signer: LinkSigner
    ratings: DynamoRatings
    renderer: Renderer
    customers: Callable[[str], dict[str, str]]


def desk() -> Desk:
    stage = kit.context(UNIT)
    ports = stage.ports
    assert ports.signer is not None  # DeskSettings requires LINK_SIGNING_SECRET
    return Desk(
        ports.signer,
        ports.ratings(stage.settings.ratings_table),
        ports.renderer,
        ports.page_customers,
    )


MAX_COMMENT = 1000  # characters
_STATUS = {"malformed": 400, "forged": 403, "expired": 410, "form": 403, "too_long": 400}


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str, locale: str | None = None) -> Response[str]:
    """The 4xx page, in the customer's language where the link was genuine, else in the
    browser's."""
    current = desk()
    chosen = locale or browser_locale(app.current_event)
    page = current.renderer.page("invalid", chosen, {"problem": problem})
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
    current = desk()
    token = _token()
    page = current.renderer.page(
        "rating",
        customer.get("locale"),
        {
            "order_id": claims.order_id,
            "score": claims.score,
            "scores": list(RATING_SCORES),
            "recorded": recorded,
            "commented": commented,
            "max_comment": MAX_COMMENT,
            "action": "?" + urlencode({"t": token}),
            "form_token": current.signer.form_token(token),
        },
    )
    response = respond(200, page)
    # Back to an earlier rating page comes from the browser's history, not the network: it
    # must not cast that earlier score again. (Private: only the customer's browser keeps it.)
    response.headers["Cache-Control"] = "private, max-age=600"
    return response


def _record(
    claims: RatingClaims, customer: dict[str, str], comment: str | None, *, tap: bool
) -> Response[str]:
    current = desk()
    now = datetime.now(UTC)
    ids = (claims.order_id, claims.customer_id, claims.score, now)
    if tap:
        stored = current.ratings.record(*ids, comment)
    elif comment:
        stored = current.ratings.comment(*ids, comment)
    else:
        return _page(claims, customer, recorded=True)  # an empty comment box: nothing to do
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
    current = desk()
    try:
        claims = current.signer.verify_rating(_token())
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    customer = current.customers(claims.customer_id)
    if not customer:  # erased since the email went out: keep nothing more about them
        return _refuse("expired")
    return claims, customer


@app.get("/rate")
def tap() -> Response[str]:
    verified = _verified()
    if isinstance(verified, Response):
        return verified
    claims, customer = verified
    if not _person_tapped():
        return _page(claims, customer, recorded=False)
    return _record(claims, customer, None, tap=True)


@app.post("/rate")
def submit() -> Response[str]:
    verified = _verified()
    if isinstance(verified, Response):
        return verified
    claims, customer = verified
    current = desk()
    form = form_fields(app.current_event)
    if not same_origin(app.current_event) or not current.signer.check_form_token(
        _token(), (form.get("form_token") or [""])[0]
    ):
        return _refuse("form", customer.get("locale"))
    # Browsers send a textarea's line breaks as CRLF: count them as the box did.
    comment = (form.get("comment") or [""])[0].replace("\r\n", "\n").strip()
    if len(comment) > MAX_COMMENT:
        return _refuse("too_long", customer.get("locale"))
    # The confirmation form casts the score; the thank-you page's form only adds a comment.
    tap = (form.get("action") or ["rate"])[0] != "comment"
    return _record(claims, customer, comment or None, tap=tap)


# Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key).
handler = kit.http(app)
