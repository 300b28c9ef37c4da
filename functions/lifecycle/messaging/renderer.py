"""Render a message's templates: sandboxed Jinja, strict variables, per-locale fallback.

Layout on disk (templates/):

    <message>/email.subject.j2, email.html.j2, email.txt.j2, sms.txt.j2   English originals
    <message>/<locale>/...                                                per-locale overrides
    _layouts/email.html.j2, email.txt.j2                                  shared email layout
    _layouts/footer.html.j2, footer.txt.j2 (+ <locale>/ overrides)        shared footer

A customer's locale is tried most specific first (`nl-NL`, `nl`), then the stack's default
locale, then `en`; the first locale with a folder wins for every part of the message, so a
message never mixes languages. English lives at the message's root.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.message import EMAIL_PARTS, LAYOUTS, SMS_OPT_OUT, SMS_PART, Business

FALLBACK_LOCALE = "en"

# What the renderer itself puts in every template's context, beside the message's own values.
RENDERER_VARIABLES = frozenset({"business", "locale", "layout", "unsubscribe_url"})
# Web pages (the preference centre): templates/_pages/<page>.html.j2, texts in strings.json.
PAGES = "_pages"
PAGE_STRINGS = "strings.json"
PAGE_VARIABLES = frozenset(
    {"t", "first_name", "action", "form_token", "link_topic", "topics", "email", "sms", "problem"}
    # the rating page
    | {"order_id", "score", "scores", "recorded", "commented", "max_comment"}
)

_UNDEFINED = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_NO_ATTRIBUTE = re.compile(r"has no attribute '(?P<name>[^']+)'$")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    locale: str


@dataclass(frozen=True)
class RenderedSms:
    text: str
    locale: str


def locale_chain(locale: str | None, default_locale: str) -> list[str]:
    """Locales to try, most specific first: `nl-NL` -> `nl` -> default -> `en`."""
    chain: list[str] = []
    for tag in (locale, default_locale, FALLBACK_LOCALE):
        if not tag:
            continue
        parts = tag.replace("_", "-").split("-")
        # Keep the script subtag (zh-Hant-TW -> zh-Hant) before dropping to the language.
        for end in range(len(parts), 0, -1):
            candidate = "-".join(parts[:end])
            if candidate.lower() not in (c.lower() for c in chain):
                chain.append(candidate)
    return chain


class Renderer:
    """Renders one message's parts. Built once per cold start; compiled templates are cached."""

    def __init__(self, templates_dir: Path, default_locale: str, business: Business) -> None:
        self._root = templates_dir
        self._default_locale = default_locale
        self._business = {
            "name": business.name,
            "postal_address": business.postal_address,
            "website": business.website,
        }
        self._env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False, default=False
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._folders: dict[str, set[str]] = {}
        self._strings: dict[str, Any] | None = None

    @property
    def environment(self) -> ImmutableSandboxedEnvironment:
        """The sandboxed Jinja environment (for lint, which parses without rendering)."""
        return self._env

    def resolve_locale(self, template: str, locale: str | None) -> str:
        """The locale whose folder this message's parts come from (`en` is the root)."""
        available = self._locales_of(template)
        for candidate in locale_chain(locale, self._default_locale):
            match = next((f for f in available if f.lower() == candidate.lower()), None)
            if match:
                return match
            if candidate == FALLBACK_LOCALE:
                return FALLBACK_LOCALE
        return FALLBACK_LOCALE

    def email(self, template: str, locale: str | None, context: Mapping[str, Any]) -> RenderedEmail:
        """Render subject, HTML and text parts; the HTML and text extend the shared layout."""
        chosen = self.resolve_locale(template, locale)
        values = self._context(chosen, context)
        subject, html, text = (
            self._render(self._part(template, chosen, part), values) for part in EMAIL_PARTS
        )
        return RenderedEmail(
            subject=_WHITESPACE.sub(" ", subject).strip(),
            html=html.strip() + "\n",
            text=text.strip() + "\n",
            locale=chosen,
        )

    def sms(
        self,
        template: str,
        locale: str | None,
        context: Mapping[str, Any],
        *,
        opt_out: bool = False,
    ) -> RenderedSms:
        """Render the SMS text, whitespace collapsed so every character counts. Marketing SMS
        end with the carrier-required opt-out text from the layout (`sms.optout.txt.j2`)."""
        chosen = self.resolve_locale(template, locale)
        values = self._context(chosen, context)
        text = self._render(self._part(template, chosen, SMS_PART), values)
        if opt_out:
            text += " " + self._render(self._part(LAYOUTS, chosen, SMS_OPT_OUT), values)
        return RenderedSms(text=_WHITESPACE.sub(" ", text).strip(), locale=chosen)

    def page(self, name: str, locale: str | None, context: Mapping[str, Any]) -> str:
        """Render a web page in the customer's locale (texts from _pages/strings.json)."""
        chosen = self._page_locale(locale)
        values = {**self._context(chosen, {}), "t": self._page_strings()[chosen], **context}
        return self._render(f"{PAGES}/{name}.html.j2", values)

    def page_strings(self, locale: str | None) -> dict[str, Any]:
        """The page texts in the customer's locale (with the usual fallback)."""
        strings: dict[str, Any] = self._page_strings()[self._page_locale(locale)]
        return strings

    def _page_locale(self, locale: str | None) -> str:
        strings = self._page_strings()
        return next(
            (c for c in locale_chain(locale, self._default_locale) if c in strings),
            FALLBACK_LOCALE,
        )

    def _page_strings(self) -> dict[str, Any]:
        if self._strings is None:
            path = self._root / PAGES / PAGE_STRINGS
            loaded = json.loads(path.read_text(encoding="utf-8"))
            self._strings = {k: v for k, v in loaded.items() if not k.startswith("_")}
        return self._strings

    def _context(self, locale: str, context: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {
            "business": self._business,
            "locale": locale,
            "layout": {
                "html": self._part(LAYOUTS, locale, "email.html.j2"),
                "text": self._part(LAYOUTS, locale, "email.txt.j2"),
                "footer_html": self._part(LAYOUTS, locale, "footer.html.j2"),
                "footer_text": self._part(LAYOUTS, locale, "footer.txt.j2"),
            },
            "unsubscribe_url": None,
        }
        values.update(context)
        return values

    def _locales_of(self, template: str) -> set[str]:
        if template not in self._folders:
            folder = self._root / template
            self._folders[template] = (
                {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()
            )
        return self._folders[template]

    def _part(self, template: str, locale: str, part: str) -> str:
        localised = f"{template}/{locale}/{part}"
        if locale in self._locales_of(template) and (self._root / localised).is_file():
            return localised
        return f"{template}/{part}"

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(values)
        except UndefinedError as exc:
            variable = _variable_of(str(exc))
            where = _template_frame(sys.exc_info()[2], self._root) or name
            problem = f"undefined variable '{variable}'" if variable else str(exc)
            raise RenderError(where, problem, variable) from None
        except TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else name
            raise RenderError(missing, "template file not found") from None
        except TemplateSyntaxError as exc:
            raise RenderError(
                f"{exc.name or name}:{exc.lineno}", f"syntax error: {exc.message}"
            ) from None
        except SecurityError as exc:
            raise RenderError(name, f"not allowed in a template: {exc}") from None
        except TemplateError as exc:
            raise RenderError(name, str(exc)) from None


def _variable_of(message: str) -> str | None:
    for pattern in (_UNDEFINED, _NO_ATTRIBUTE):
        found = pattern.search(message)
        if found:
            return found.group("name")
    return None


def _template_frame(tb: TracebackType | None, root: Path) -> str | None:
    """Jinja rewrites tracebacks to point into template files: report the innermost one."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            try:
                relative = Path(filename).resolve().relative_to(root.resolve())
            except ValueError:
                relative = Path(filename)
            found = f"{relative.as_posix()}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found
