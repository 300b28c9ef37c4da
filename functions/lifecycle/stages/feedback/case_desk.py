"""Case page Lambda (Function URL): the staff links in complaint alerts.

GET  /case?t=<token>   a person's tap on "I'm on it" records the acknowledgement, on
                       "resolved" the resolution (which also acknowledges a case nobody
                       acknowledged); the first tap's time stays, later taps change nothing.
                       A request without a person's navigation headers (a mail scanner
                       fetching every link) only shows a confirmation button and records
                       nothing.
POST /case?t=<token>   the confirmation form (`action=confirm`) records the tap; the name
                       form (`action=name`) says who made it. Only the page the first tap got
                       shows the name form, and it is bound to that tap (its stored time,
                       signed): a later tap, or a colleague's, can name nobody. The name is
                       remembered in a cookie for this person's later taps, and a first tap
                       made with it is named at once. Both forms need the form token and a
                       request that says it comes from this page (Origin, or Sec-Fetch-Site:
                       same-origin).

Forged or altered links, and a customer's rating or unsubscribe link, get 403, malformed ones
400, expired ones 410, and change nothing. Its own function, apart from the rating endpoint:
it may touch the cases table and nothing else (no customer, no rating).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from lifecycle.messaging.links import CaseClaims, InvalidLink, LinkSigner
from lifecycle.observability import logger
from lifecycle.platform import kit
from lifecycle.platform.web import form_fields, respond, same_origin
from lifecycle.stages.feedback import messages
from lifecycle.stages.feedback.settings import CaseDeskSettings

if TYPE_CHECKING:
    from lifecycle.adapters.cases import DynamoCases
    from lifecycle.messaging.renderer import Renderer
    from lifecycle.stages.feedback.cases import Case

app = LambdaFunctionUrlResolver()
UNIT = kit.Unit(stage=messages.STAGE, service="case-desk", settings=CaseDeskSettings.from_env)
STAFF_LOCALE = "en"  # staff pages are in English, as the alerts are
NAME_COOKIE = "case_name"
NAME_COOKIE_DAYS = 180
MAX_NAME = 80  # characters


@dataclass(frozen=True)
class Desk:
    """What the case page needs, built once per cold start."""

    signer: LinkSigner
    cases: DynamoCases
    renderer: Renderer


def desk() -> Desk:
    stage = kit.context(UNIT)
    ports = stage.ports
    assert ports.signer is not None  # CaseDeskSettings requires LINK_SIGNING_SECRET
    return Desk(ports.signer, ports.cases(stage.settings.cases_table), ports.renderer)


_STATUS = {
    "malformed": 400,
    "forged": 403,
    "expired": 410,
    "form": 403,
    "too_long": 400,
    "missing": 404,
}


def _token() -> str:
    return app.current_event.get_query_string_value("t", "") or ""


def _refuse(problem: str) -> Response[str]:
    page = desk().renderer.page("invalid", STAFF_LOCALE, {"problem": problem})
    logger.warning("case link refused", extra={"problem": problem})
    return respond(_STATUS[problem], page)


def _person_tapped() -> bool:
    """Browsers mark a navigation a person started (Fetch Metadata); HTTP clients that scan
    links in mail do not, and must not acknowledge a complaint nobody read."""
    headers = app.current_event.headers
    return headers.get("sec-fetch-user") == "?1" and headers.get("sec-fetch-mode") == "navigate"


def _posted_here() -> bool:
    """A post from this page only: besides what `same_origin` refuses, a post that says
    nowhere where it came from (no Origin, no Sec-Fetch-Site: same-origin) changes nothing.
    Browsers send one of them with every form post; staff use browsers."""
    event = app.current_event
    headers = event.headers
    said = "origin" in headers or headers.get("sec-fetch-site") == "same-origin"
    return said and same_origin(event)


def clean_name(raw: str) -> str | None:
    """A name as typed, on one line without control characters; None if empty."""
    name = " ".join("".join(c for c in raw if c.isprintable()).split())
    return name or None


def _remembered_name() -> str | None:
    """The name this browser gave before (the cookie is the person's own, not a credential:
    it only fills in who tapped)."""
    event = app.current_event
    pairs = list(event.cookies or [])
    pairs += [p for p in event.headers.get("cookie", "").split(";") if p.strip()]
    for pair in pairs:
        key, _, value = pair.strip().partition("=")
        if key == NAME_COOKIE:
            name = clean_name(unquote(value))
            return name[:MAX_NAME] if name else None
    return None


def _name_cookie(name: str) -> Cookie:
    # HttpOnly (no script reads it), Secure, and Lax: the links open from webmail, a
    # cross-site navigation that a Strict cookie would miss. It is no credential (a tap still
    # needs its signed link, a post its form token and the same origin), and Lax keeps it off
    # other sites' posts and embedded requests.
    return Cookie(
        NAME_COOKIE,
        quote(name),
        path="/",
        secure=True,
        http_only=True,
        max_age=NAME_COOKIE_DAYS * 86400,
        same_site=SameSite.LAX_MODE,
    )


def _times(case: Case) -> dict[str, str | None]:
    """The case's times on the business's clock, as staff read them."""
    zone = ZoneInfo(kit.context(UNIT).core.default_timezone)
    moments = {
        "alerted": case.alerted_at,
        "acknowledged": case.acknowledged_at,
        "resolved": case.resolved_at,
        "escalated": case.escalated_at,
    }
    return {
        name: f"{moment.astimezone(zone):%a %d %b %Y %H:%M} ({zone.key})" if moment else None
        for name, moment in moments.items()
    }


def _stamp(moment: datetime) -> str:
    """A time as the cases table stores it (UTC, to the second)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _tap_signature(token: str, tapped_at: str) -> str:
    """Binds the name form to the first tap, whose stored time it carries."""
    return desk().signer.form_token(f"{token}\ntap={tapped_at}")


def _page(
    claims: CaseClaims, case: Case, *, recorded: bool, first: bool, named: bool = False
) -> Response[str]:
    current = desk()
    token = _token()
    done_at = _done_at(claims, case)
    done_by = case.resolved_by if claims.action == "resolve" else case.acknowledged_by
    # The name form only for the first tap's own page, while it names nobody.
    tap: dict[str, str] | None = None
    if recorded and first and done_at is not None and not done_by:
        tapped_at = _stamp(done_at)
        tap = {"at": tapped_at, "signature": _tap_signature(token, tapped_at)}
    page = current.renderer.page(
        "case",
        STAFF_LOCALE,
        {
            "case": case,
            "action": claims.action,
            "recorded": recorded,
            "first": first,
            "named": named,
            "done_at": done_at,
            "done_by": done_by,
            "tap": tap,
            "times": _times(case),
            "max_name": MAX_NAME,
            "form_action": "?" + urlencode({"t": token}),
            "form_token": current.signer.form_token(token),
        },
    )
    return respond(200, page)


def _done_at(claims: CaseClaims, case: Case) -> datetime | None:
    return case.resolved_at if claims.action == "resolve" else case.acknowledged_at


def _record(claims: CaseClaims, by: str | None) -> Response[str]:
    answered = desk().cases.answer(claims.case_id, claims.action, datetime.now(UTC), by)
    if answered is None:
        return _refuse("missing")
    # First: this tap's write set the time (of two taps at once, only one is first).
    case, first = answered.case, answered.first
    # Ids only: a staff member's name is not logged.
    logger.info(
        "case answered",
        extra={"case_id": case.case_id, "action": claims.action, "first": first},
    )
    return _page(claims, case, recorded=True, first=first)


def _verified() -> tuple[CaseClaims, Case] | Response[str]:
    current = desk()
    try:
        claims = current.signer.verify_case(_token())
    except InvalidLink as invalid:
        return _refuse(invalid.kind)
    case = current.cases.get(claims.case_id)
    if case is None:  # a genuine link to a case that was never stored
        return _refuse("missing")
    return claims, case


@app.get("/case")
def tap() -> Response[str]:
    verified = _verified()
    if isinstance(verified, Response):
        return verified
    claims, case = verified
    if not _person_tapped():
        return _page(claims, case, recorded=False, first=False)
    return _record(claims, _remembered_name())


@app.post("/case")
def submit() -> Response[str]:
    verified = _verified()
    if isinstance(verified, Response):
        return verified
    claims, _ = verified
    current = desk()
    form = form_fields(app.current_event)
    if not _posted_here() or not current.signer.check_form_token(
        _token(), (form.get("form_token") or [""])[0]
    ):
        return _refuse("form")
    if (form.get("action") or ["confirm"])[0] != "name":
        return _record(claims, _remembered_name())
    tapped_at = _tapped_at(form)
    name = clean_name((form.get("name") or [""])[0])
    if name is None or tapped_at is None:
        return _refuse("form")
    if len(name) > MAX_NAME:
        return _refuse("too_long")
    case = current.cases.name(claims.case_id, claims.action, name, tapped_at)
    if case is None:
        # Named already (a second submit), or the case is gone: nothing changes.
        after = current.cases.get(claims.case_id)
        if after is None:
            return _refuse("missing")
        return _page(claims, after, recorded=True, first=False)
    logger.info("case named", extra={"case_id": case.case_id, "action": claims.action})
    response = _page(claims, case, recorded=True, first=False, named=True)
    response.cookies.append(_name_cookie(name))
    return response


def _tapped_at(form: dict[str, list[str]]) -> datetime | None:
    """The first tap's time the name form carries, if its signature holds."""
    tapped_at = (form.get("tap") or [""])[0]
    signature = (form.get("tap_signature") or [""])[0]
    expected = _tap_signature(_token(), tapped_at)
    if not tapped_at or not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    try:
        moment = datetime.fromisoformat(tapped_at)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# Entry point named in infra/template.yaml (Function URL, auth NONE: the token is the key).
handler = kit.http(app)
