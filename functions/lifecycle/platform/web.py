"""What the product's web pages (preference centre, rating endpoint) share: security headers,
form parsing, and the same-origin check that keeps cross-site forms from changing anything."""

from __future__ import annotations

import base64
from email.parser import BytesParser
from email.policy import default
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent

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


def respond(status: int, body: str, content_type: str = HTML) -> Response[str]:
    return Response(
        status_code=status, content_type=content_type, body=body, headers=dict(SECURITY_HEADERS)
    )


def form_fields(event: LambdaFunctionUrlEvent) -> dict[str, list[str]]:
    """The posted fields, URL-encoded or multipart/form-data."""
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


def same_origin(event: LambdaFunctionUrlEvent) -> bool:
    """Browsers say where a form post came from; only the page's own origin may change state."""
    headers = event.headers
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("host", "")
        return origin in (f"https://{host}", f"http://{host}") and bool(host)
    return True


def browser_locale(event: LambdaFunctionUrlEvent) -> str | None:
    """The browser's first language (for pages whose link could not name the customer)."""
    accepted = event.headers.get("accept-language", "")
    first = accepted.split(",")[0].split(";")[0].strip()
    return first if first and first != "*" else None
