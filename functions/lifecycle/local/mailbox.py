"""What moto's SES and SNS received, and rendered emails written out for a person to open."""

from __future__ import annotations

import email
import email.header
import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
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


_HTML_LANG = re.compile(r"<html\b[^>]*\blang=\"([^\"]+)\"", re.IGNORECASE)


def html_lang(body: str) -> str | None:
    """The language an HTML email declares (the layout's `<html lang>`: its copy locale)."""
    found = _HTML_LANG.search(body)
    return found.group(1) if found else None


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


@dataclass(frozen=True)
class Delivered:
    """One message as its recipient got it, for the index: an email (with its files) or an
    SMS. Who by customer id only: the index shows no address or phone number."""

    at: datetime  # on the simulated clock
    stage: str
    template: str
    locale: str  # the copy's locale
    channel: str  # "email" or "sms"
    customer_id: str
    text: str  # an email's subject, an SMS's whole text
    email: SentEmail | None = None
    stem: str = ""  # the email's files: <stem>.html, .txt, .eml
    day: int | None = None  # the simulation's day, as its timeline numbers them


# What the index can be filtered by: (row attribute, heading).
FILTERS = (("stage", "Stage"), ("locale", "Locale"), ("channel", "Channel"))

_STYLE = """
body{font-family:Arial,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}
td.text{max-width:480px;white-space:pre-wrap;overflow-wrap:anywhere}
tr.sms td.channel{color:#7a3e00}
.filters{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
fieldset{border:1px solid #ccc;border-radius:4px;padding:6px 10px}
fieldset label{display:inline-block;margin-right:10px;white-space:nowrap}
.count{color:#666}
.filters>button{align-self:center}
[hidden]{display:none !important}
"""

# Filters rows in place (the `hidden` attribute). Without it the page lists every message.
_SCRIPT = """
(function () {
  var form = document.getElementById("filters");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#messages tbody tr"));
  var shown = document.getElementById("shown");
  function apply() {
    var wanted = {};
    Array.prototype.forEach.call(form.querySelectorAll("input:checked"), function (input) {
      if (input.value) { wanted[input.name] = input.value; }
    });
    var visible = 0;
    rows.forEach(function (row) {
      var keep = Object.keys(wanted).every(function (name) {
        return row.dataset[name] === wanted[name];
      });
      row.hidden = !keep;
      if (keep) { visible += 1; }
    });
    shown.textContent = visible + " of " + rows.length + " shown";
  }
  form.hidden = false;
  form.addEventListener("change", apply);
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  apply();
})();
"""


def _when(at: datetime, day: int | None) -> str:
    return f"{at:%a %Y-%m-%d %H:%M}" if day is None else f"Day {day}, {at:%a %Y-%m-%d %H:%M}"


def _row(message: Delivered) -> str:
    cells = [
        f'<td class="when"><time datetime="{message.at.isoformat()}">'
        f"{html.escape(_when(message.at, message.day))}</time></td>",
        f'<td class="stage">{html.escape(message.stage)}</td>',
        f'<td class="template">{html.escape(message.template)}</td>',
        f'<td class="locale">{html.escape(message.locale)}</td>',
        f'<td class="channel">{html.escape(message.channel)}</td>',
        f'<td class="customer">{html.escape(message.customer_id)}</td>',
        f'<td class="text">{html.escape(message.text)}</td>',
    ]
    if message.email is not None:
        stem = html.escape(message.stem)
        cells.append(
            f'<td class="files"><a href="{stem}.html">HTML</a> '
            f'<a href="{stem}.txt">text</a> <a href="{stem}.eml">.eml</a></td>'
        )
    else:
        cells.append('<td class="files"></td>')
    data = " ".join(f'data-{name}="{html.escape(getattr(message, name))}"' for name, _ in FILTERS)
    return f'<tr class="{html.escape(message.channel)}" {data}>' + "".join(cells) + "</tr>"


def _fieldset(name: str, heading: str, counts: Counter[str], total: int) -> str:
    options = [
        f'<label><input type="radio" name="{name}" value="" checked> all '
        f'<span class="count">({total})</span></label>'
    ]
    for value in sorted(counts):
        options.append(
            f'<label><input type="radio" name="{name}" value="{html.escape(value)}"> '
            f'{html.escape(value)} <span class="count">({counts[value]})</span></label>'
        )
    return f"<fieldset><legend>{heading}</legend>" + "".join(options) + "</fieldset>"


def filter_options(messages: Sequence[Delivered]) -> dict[str, Counter[str]]:
    """Each filter's values present in `messages`, with how many messages have each."""
    return {name: Counter(getattr(m, name) for m in messages) for name, _ in FILTERS}


def write_messages(out_dir: Path, messages: Sequence[Delivered], title: str) -> Path:
    """Write each email as .html, .txt and .eml under `out_dir`, and an index of every
    message, emails and SMS, in time order, filterable by stage, locale and channel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(messages, key=lambda m: m.at)
    for message in ordered:
        if message.email is not None:
            sent = message.email
            (out_dir / f"{message.stem}.html").write_text(sent.part("html"), encoding="utf-8")
            (out_dir / f"{message.stem}.txt").write_text(sent.part("plain"), encoding="utf-8")
            (out_dir / f"{message.stem}.eml").write_bytes(sent.mime.as_bytes())
    options = filter_options(ordered)
    total = len(ordered)
    channels = options["channel"]
    summary = (
        f"{total} messages: {channels.get('email', 0)} emails, {channels.get('sms', 0)} SMS. "
        "Times are the simulated clock's, in UTC."
    )
    fieldsets = "".join(_fieldset(name, heading, options[name], total) for name, heading in FILTERS)
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "When (UTC)",
            "Stage",
            "Message",
            "Locale",
            "Channel",
            "Customer",
            "Subject or SMS text",
            "Files",
        )
    )
    index = out_dir / "index.html"
    index.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>"
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(summary)}</p>\n"
        # Shown by the script: without it the controls could not filter anything.
        f'<form id="filters" class="filters" hidden>{fieldsets}'
        '<button type="reset">Show all</button> <output id="shown"></output></form>\n'
        "<noscript><p>Counts: "
        + html.escape(
            "; ".join(
                f"{heading.lower()} "
                + ", ".join(f"{v} {options[name][v]}" for v in sorted(options[name]))
                for name, heading in FILTERS
            )
        )
        + ". Filtering needs JavaScript: every message is listed.</p></noscript>\n"
        f'<table id="messages"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(_row(m) for m in ordered)
        + f"\n</tbody></table>\n<script>{_SCRIPT}</script>\n</body></html>\n",
        encoding="utf-8",
    )
    return index
