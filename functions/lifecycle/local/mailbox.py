"""What moto's SES and SNS received, and rendered emails written out for a person to open."""

from __future__ import annotations

import email
import email.header
import html
from dataclasses import dataclass
from email.message import Message as MimeMessage
from pathlib import Path

from lifecycle.local.stack import ACCOUNT_ID, REGION


@dataclass(frozen=True)
class SentEmail:
    to: str
    mime: MimeMessage

    @property
    def subject(self) -> str:
        return str(email.header.make_header(email.header.decode_header(self.mime["Subject"])))

    def part(self, subtype: str) -> str:
        for part in self.mime.walk():
            if part.get_content_type() == f"text/{subtype}":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload.decode(part.get_content_charset() or "utf-8")
        return ""


def sent_emails() -> list[SentEmail]:
    """Every email moto's SES accepted, in order."""
    from moto.ses.models import ses_backends

    messages = ses_backends[ACCOUNT_ID][REGION].sent_messages
    parsed = [email.message_from_string(m.raw_data) for m in messages]
    return [SentEmail(to=str(m["To"]), mime=m) for m in parsed]


def sent_sms() -> list[tuple[str, str]]:
    """Every (phone, text) moto's SNS accepted, in order."""
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT_ID][REGION].sms_messages.values())


def write_emails(out_dir: Path, named: list[tuple[str, SentEmail]], title: str) -> Path:
    """Write each email as .html, .txt and .eml under `out_dir`, and an index page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for stem, sent in named:
        (out_dir / f"{stem}.html").write_text(sent.part("html"), encoding="utf-8")
        (out_dir / f"{stem}.txt").write_text(sent.part("plain"), encoding="utf-8")
        (out_dir / f"{stem}.eml").write_bytes(sent.mime.as_bytes())
        rows.append(
            f'<li><a href="{stem}.html">{html.escape(stem)}: {html.escape(sent.subject)}</a> '
            f'(<a href="{stem}.txt">text</a>, <a href="{stem}.eml">.eml</a>)</li>'
        )
    index = out_dir / "index.html"
    index.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>\n"
        '<body style="font-family:Arial,sans-serif;max-width:760px;margin:24px auto;'
        f'padding:0 12px"><h1>{html.escape(title)}</h1>\n<ul>\n'
        + "\n".join(rows)
        + "\n</ul>\n</body></html>\n",
        encoding="utf-8",
    )
    return index
