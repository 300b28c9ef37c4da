"""Reading the simulation's index page back: its rows and the filter options it offers."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

from lifecycle.local.mailbox import Delivered, SentEmail

COLUMNS = ("when", "stage", "template", "locale", "channel", "customer", "text", "files")


@dataclass
class IndexPage:
    rows: list[dict[str, str]] = field(default_factory=list)  # cell text by column class
    data: list[dict[str, str]] = field(default_factory=list)  # each row's data-* attributes
    links: list[list[str]] = field(default_factory=list)  # each row's hrefs
    options: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> value -> label
    script: str = ""
    form_hidden: bool = False


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = IndexPage()
        self._cell: str | None = None
        self._label: tuple[str, str] | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-stage" in found:
            self.page.rows.append({})
            self.page.links.append([])
            self.page.data.append(
                {k.removeprefix("data-"): v for k, v in found.items() if k.startswith("data-")}
            )
        elif tag == "td" and self.page.rows and found.get("class") in COLUMNS:
            self._cell = found["class"]
            self.page.rows[-1][self._cell] = ""
        elif tag == "a" and self._cell == "files":
            self.page.links[-1].append(found["href"])
        elif tag == "input" and found.get("type") == "radio":
            self._label = (found["name"], found["value"])
            self.page.options.setdefault(found["name"], {})[found["value"]] = ""
        elif tag == "form" and found.get("id") == "filters":
            self.page.form_hidden = "hidden" in found
        elif tag == "script":
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "label":
            self._label = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.page.rows[-1][self._cell] += data
        if self._label is not None:
            name, value = self._label
            self.page.options[name][value] += data
        if self._in_script:
            self.page.script += data


def read_index(path: Path) -> IndexPage:
    reader = _Reader()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader.page


def an_email(subject: str, body: str, text: str = "text part") -> SentEmail:
    mime = EmailMessage()
    mime["Subject"] = subject
    mime["To"] = "someone@example.com"
    mime.set_content(text)
    mime.add_alternative(body, subtype="html")
    return SentEmail(to="someone@example.com", mime=mime)


def sample_messages() -> list[Delivered]:
    """Three emails and two SMS over two stages, three locales."""
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def email(
        hour: int, stage: str, template: str, locale: str, who: str, subject: str
    ) -> Delivered:
        sent = an_email(
            subject, f'<html lang="{locale}"><body>{html.escape(subject)}</body></html>'
        )
        stem = f"day000-{template}-{who}"
        return Delivered(
            at.replace(hour=hour), stage, template, locale, "email", who, subject, sent, stem
        )

    def sms(hour: int, stage: str, template: str, locale: str, who: str, text: str) -> Delivered:
        return Delivered(at.replace(hour=hour), stage, template, locale, "sms", who, text)

    return [
        email(9, "welcome", "welcome", "en", "c-1", "Welcome, <b>Ann</b> & co"),
        sms(10, "welcome", "welcome", "en", "c-1", "Welcome Ann <3"),
        email(11, "welcome", "welcome", "nl", "c-2", "Welkom, Sanne!"),
        sms(12, "order", "order_picked_up", "nl", "c-2", "Hoi Sanne, opgehaald"),
        email(13, "order", "order_scheduled", "zh-TW", "c-3", "預約成功"),
    ]
