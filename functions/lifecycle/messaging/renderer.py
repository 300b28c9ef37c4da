"""Render a message's templates: sandboxed Jinja, strict variables, per-locale fallback, and
formatting in the locale of the copy.

Layout on disk (templates/):

    <message>/email.subject.j2, email.html.j2, email.txt.j2, sms.txt.j2   English originals
    <message>/<locale>/...                                                per-locale copies
    _layouts/email.html.j2, email.txt.j2                                  shared email layout
    _layouts/footer.html.j2, footer.txt.j2, sms.optout.txt.j2 (+ <locale>/ copies)

One message is one language. The renderer first resolves the copy locale: the customer's
locale is tried most specific first (`nl-BE`, `nl`), then the stack's default locale, then
`en`; the first locale with a complete folder wins for every part of the message. A folder is
complete when it holds every template part the English original has and `_layouts/<locale>/`
holds the localised layout parts; a partial folder (a subject without a body, say) is never
used, so its customers get the whole message from the next locale in the chain (lint reports
the partial folder as an error). Then every date, time, window, amount and quantity in the
context is formatted with that same locale while rendering: templates write
`{{ pickup_window|window }}`, `{{ total|money }}`, `{{ item.quantity|quantity }}`,
`{{ when|date }}`, `{{ when|time }}` (a raw value printed without a filter is formatted the
same way). In an SMS, what these insert keeps GSM-7 copy in GSM-7.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateRuntimeError,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
    pass_context,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.formatting import FALLBACK_LOCALE, Formatter
from lifecycle.messaging.message import (
    EMAIL_PARTS,
    LAYOUTS,
    LOCALISED_LAYOUT_PARTS,
    SMS_OPT_OUT,
    SMS_PART,
    Business,
)

# Where the message's Formatter sits in the render context; only the filters read it.
FORMATTER = "_formatter"

# What the renderer itself puts in every template's context, beside the message's own values.
RENDERER_VARIABLES = frozenset({"business", "locale", "layout", "unsubscribe_url"})
# Web pages (the preference centre): templates/_pages/<page>.html.j2, texts in strings.json.
PAGES = "_pages"
PAGE_STRINGS = "strings.json"
PAGE_VARIABLES = frozenset(
    {"t", "first_name", "action", "form_token", "link_topic", "topics", "email", "sms", "problem"}
    # the rating page
    | {"order_id", "score", "scores", "recorded", "commented", "max_comment"}
    # the staff's case page
    | {"case", "first", "named", "done_at", "done_by", "tap", "times", "max_name", "form_action"}
)

_UNDEFINED = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_NO_ATTRIBUTE = re.compile(r"has no attribute '(?P<name>[^']+)'$")
_NO_FILTER = re.compile(r"^No (?P<kind>filter|test) named '(?P<name>[^']+)'")
_WHITESPACE = re.compile(r"\s+")
# Tags that open a block closed by `end<tag>` (`set` only in its block form, without `=`).
_BLOCK_TAGS = frozenset(
    {"if", "for", "block", "macro", "call", "filter", "with", "set", "autoescape", "trans"}
)


def _format_filter(method: str) -> Callable[..., str]:
    """A filter that formats with the message's Formatter (`{{ total|money }}`)."""

    @pass_context
    def apply(context: Context, value: Any, *args: Any) -> str:
        try:
            return str(getattr(context[FORMATTER], method)(value, *args))
        except UndefinedError:
            raise
        except Exception as exc:  # a wrong value is a template error, never a crash
            kind = type(value).__name__
            raise TemplateRuntimeError(f"filter '{method}' cannot format {kind} {value!r}") from exc

    return apply


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    formatter: Formatter | None = context.get(FORMATTER)
    return formatter.value(value) if formatter is not None else value


# What templates use to format raw values: `{{ pickup_window|window }}`, `{{ when|date }}`,
# `{{ when|date("yMMMd") }}` (a CLDR skeleton), `{{ when|time }}`, `{{ total|money }}`,
# `{{ item.quantity|quantity }}`.
FORMAT_FILTERS = {m: _format_filter(m) for m in ("date", "time", "window", "money", "quantity")}


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


def formatting_locale(copy: str, customer: str | None) -> str:
    """The locale values are formatted in: the customer's own when it is a variant of the
    copy's language (`en-GB` customers reading the `en` copy get `3 Dec`, `nl-BE` ones reading
    `nl` their own), else the copy's (a French customer reading English gets English dates)."""
    if customer:
        tag = customer.replace("_", "-")
        if tag.lower() == copy.lower() or tag.lower().startswith(copy.lower() + "-"):
            return tag
    return copy


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
            finalize=_finalize,
        )
        self._env.filters.update(FORMAT_FILTERS)
        self._folders: dict[str, dict[str, tuple[str, ...]]] = {}
        self._formatters: dict[tuple[str, bool], Formatter] = {}
        self._strings: dict[str, Any] | None = None

    @property
    def environment(self) -> ImmutableSandboxedEnvironment:
        """The sandboxed Jinja environment (for lint, which parses without rendering)."""
        return self._env

    def resolve_locale(self, template: str, locale: str | None) -> str:
        """The copy locale: the locale whose complete folder every part of this message comes
        from (`en` is the root), and in which its values are formatted."""
        usable = [f for f, lacks in self.locale_folders(template).items() if not lacks]
        for candidate in locale_chain(locale, self._default_locale):
            match = next((f for f in usable if f.lower() == candidate.lower()), None)
            if match:
                return match
            if candidate == FALLBACK_LOCALE:
                return FALLBACK_LOCALE
        return FALLBACK_LOCALE

    def locale_folders(self, template: str) -> dict[str, tuple[str, ...]]:
        """Each locale folder of a message and what it lacks to be used (nothing: complete).
        A folder lacks a part the English original has, or a localised layout part."""
        if template not in self._folders:
            folder = self._root / template
            originals = {p.name for p in folder.glob("*.j2")} if folder.is_dir() else set()
            found: dict[str, tuple[str, ...]] = {}
            for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if originals else ():
                lacks = [part for part in sorted(originals) if not (sub / part).is_file()]
                lacks += [
                    f"{LAYOUTS}/{sub.name}/{part}"
                    for part in LOCALISED_LAYOUT_PARTS
                    if not (self._root / LAYOUTS / sub.name / part).is_file()
                ]
                found[sub.name] = tuple(lacks)
            self._folders[template] = found
        return self._folders[template]

    def email(self, template: str, locale: str | None, context: Mapping[str, Any]) -> RenderedEmail:
        """Render subject, HTML and text parts; the HTML and text extend the shared layout."""
        chosen = self.resolve_locale(template, locale)
        values = self._context(chosen, context, sms=False, customer=locale)
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
        values = self._context(chosen, context, sms=True, customer=locale)
        text = self._render(self._part(template, chosen, SMS_PART), values)
        if opt_out:
            text += " " + self._render(self._part(LAYOUTS, chosen, SMS_OPT_OUT), values)
        return RenderedSms(text=_WHITESPACE.sub(" ", text).strip(), locale=chosen)

    def sms_sources(self, template: str, locale: str | None, *, opt_out: bool) -> dict[str, str]:
        """The template files an SMS is rendered from (relative path: source text), for lint
        and preview to tell the copy a marketer wrote from what the product inserts."""
        chosen = self.resolve_locale(template, locale)
        names = [self._part(template, chosen, SMS_PART)]
        names += [self._part(LAYOUTS, chosen, SMS_OPT_OUT)] if opt_out else []
        return {name: (self._root / name).read_text(encoding="utf-8") for name in names}

    def page(self, name: str, locale: str | None, context: Mapping[str, Any]) -> str:
        """Render a web page in the customer's locale (texts from _pages/strings.json)."""
        chosen = self._page_locale(locale)
        values = {
            **self._context(chosen, {}, sms=False),
            "t": self._page_strings()[chosen],
            **context,
        }
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

    def _context(
        self,
        locale: str,
        context: Mapping[str, Any],
        *,
        sms: bool,
        customer: str | None = None,
    ) -> dict[str, Any]:
        key = (formatting_locale(locale, customer), sms)
        if key not in self._formatters:
            self._formatters[key] = Formatter(key[0], sms=sms)
        values: dict[str, Any] = {
            FORMATTER: self._formatters[key],
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

    def _part(self, template: str, locale: str, part: str) -> str:
        """A message's locale folder is complete once chosen; the layout's email frames are
        shared by every locale (they hold no words)."""
        localised = f"{template}/{locale}/{part}"
        if locale != FALLBACK_LOCALE and (self._root / localised).is_file():
            return localised
        return f"{template}/{part}"

    def _render(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(values)
        except UndefinedError as exc:
            variable = _variable_of(str(exc))
            where = _template_frame(sys.exc_info()[2], self._root) or name
            if variable:
                variable = self._path_of(where, variable)
            problem = f"undefined variable '{variable}'" if variable else str(exc)
            raise RenderError(where, problem, variable) from None
        except TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else name
            raise RenderError(missing, "template file not found") from None
        except TemplateSyntaxError as exc:
            failed = exc.name or name
            try:
                source = (self._root / failed).read_text(encoding="utf-8")
            except OSError:
                source = ""
            line, problem = syntax_problem(self._env, exc, source)
            raise RenderError(f"{failed}:{line}", problem) from None
        except SecurityError as exc:
            raise RenderError(name, f"not allowed in a template: {exc}") from None
        except TemplateError as exc:
            where = _template_frame(sys.exc_info()[2], self._root) or name
            raise RenderError(where, str(exc)) from None
        except UnicodeDecodeError:
            raise RenderError(name, "the template file is not UTF-8 text") from None
        except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as exc:
            # A template that computes something impossible ({{ total + 1 }} on money, a
            # division by zero, an include of itself): the template is wrong, so the message
            # fails for good, named where it broke, and is never retried as if in doubt.
            where = _template_frame(sys.exc_info()[2], self._root) or name
            raise RenderError(where, f"{type(exc).__name__}: {exc}") from None

    def _path_of(self, where: str, name: str) -> str:
        """`business.nme`, not just `nme`: the whole expression an undefined attribute ends."""
        file, _, line = where.rpartition(":")
        try:
            tree = self._env.parse((self._root / file).read_text(encoding="utf-8"))
        except (OSError, TemplateSyntaxError):
            return name
        return attribute_path(tree, name, int(line) if line.isdigit() else 0)


def attribute_path(tree: nodes.Template, name: str, line: int) -> str:
    """The dotted path (`business.nme`, `item.price`) of the expression in `tree` that looks up
    `name`, preferring one on `line`; `name` itself if none does."""
    paths = [
        (node.lineno != line, path)
        for node in tree.find_all((nodes.Getattr, nodes.Getitem))
        if _looked_up(node) == name and (path := _dotted(node)) is not None
    ]
    return min(paths)[1] if paths else name


def _looked_up(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return str(node.arg.value)
    return None


def _dotted(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return str(node.name)
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        base = _dotted(node.node)
        looked = _looked_up(node)
        return f"{base}.{looked}" if base is not None and looked is not None else None
    return None


def syntax_problem(
    env: ImmutableSandboxedEnvironment, exc: TemplateSyntaxError, source: str
) -> tuple[int, str]:
    """Where a syntax error is and what it is, in the words lint prints: an unknown filter is
    named (with the nearest known one), and a block left open is reported where it opens."""
    line = exc.lineno or 0
    unknown = _NO_FILTER.match(exc.message or "")
    if unknown:
        import difflib  # only for a broken template: not on every cold start

        kind, wrong = unknown["kind"], unknown["name"]
        known = env.filters if kind == "filter" else env.tests
        close = difflib.get_close_matches(wrong, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return line, f"unknown {kind} '{wrong}'{hint}"
    message = exc.message or ""
    ended = message.startswith("Unexpected end of template")
    if ended or "The innermost block that needs to be closed is" in message:
        # Jinja notices a block left open where the file (or the enclosing block) ends:
        # report the tag that opened it.
        opened = _open_blocks(env, source, None if ended else line)
        if opened:
            tag, where = opened[-1]
            found = "the end of the file" if ended else f"line {line}"
            return where, (
                f"syntax error: {{% {tag} %}} is never closed (no {{% end{tag} %}} before {found})"
            )
    return line, f"syntax error: {exc.message}"


def _open_blocks(
    env: ImmutableSandboxedEnvironment, source: str, before: int | None = None
) -> list[tuple[str, int]]:
    """The blocks still open at the end of `source` (or before line `before`), outermost
    first, with their lines."""
    stack: list[tuple[str, int]] = []
    try:
        for tag, words, line in _tags(env, source):
            if before is not None and line >= before:
                break
            if tag in _BLOCK_TAGS and not (tag == "set" and "=" in words):
                stack.append((tag, line))
            elif tag.startswith("end") and stack and stack[-1][0] == tag[3:]:
                stack.pop()
    except TemplateSyntaxError:
        return []
    return stack


def _tags(env: ImmutableSandboxedEnvironment, source: str) -> Iterator[tuple[str, list[str], int]]:
    """Each `{% tag ... %}` of `source`: its name, its other tokens, its line."""
    inside: list[str] | None = None
    line = 0
    for lineno, kind, value in env.lex(source):
        if kind == "block_begin":
            inside, line = [], lineno
        elif kind == "block_end" and inside is not None:
            if inside:
                yield inside[0], inside[1:], line
            inside = None
        elif inside is not None and kind != "whitespace":
            inside.append(value)


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
