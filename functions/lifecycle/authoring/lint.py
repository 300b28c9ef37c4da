"""`lifecycle lint`: check every template against the message catalog, with located findings.

What it catches, each reported as `file:line: what is wrong`:
- a template syntax error;
- a variable the message does not provide (the catalog declares each message's context);
- a missing part (subject, HTML, text, SMS) or a missing locale variant;
- a marketing email without the unsubscribe link or the postal address;
- an SMS over its segment budget (GSM-7 160/153, UCS-2 70/67 characters a segment);
- a subject over 78 characters;
- an image without alt text, and a link that is not https.
Rendering uses the sample data beside the templates, in every supported locale.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from jinja2 import TemplateSyntaxError, meta, nodes

from lifecycle.authoring.samples import LAYOUTS, SAMPLE_FILE, SampleError, Samples
from lifecycle.messaging.catalog import CATALOG, SUPPORTED_LOCALES
from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.message import LAYOUT_PARTS, SMS_PART, Channel, Kind, MessageSpec
from lifecycle.messaging.renderer import (
    PAGE_STRINGS,
    PAGE_VARIABLES,
    PAGES,
    RENDERER_VARIABLES,
    Renderer,
)
from lifecycle.messaging.sms import measure

MAX_SUBJECT = 78
_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+)$")


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class _Linter:
    def __init__(self, templates_dir: Path) -> None:
        self.root = templates_dir
        self.findings: list[Finding] = []

    def add(self, relative: str, line: int, message: str) -> None:
        self.findings.append(Finding(f"{self.root.name}/{relative}", line, message))

    # ------------------------------------------------------------------ files
    def check_files(self) -> None:
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder.name not in (LAYOUTS, PAGES) and folder.name not in CATALOG:
                self.add(folder.name, 0, "folder is not a message in the catalog")
        for spec in CATALOG.values():
            self._check_parts(spec.template, spec.parts, SAMPLE_FILE)
        self._check_parts(LAYOUTS, LAYOUT_PARTS, None, localised=LAYOUT_PARTS[2:])

    def _check_parts(
        self,
        folder: str,
        parts: tuple[str, ...],
        sample: str | None,
        localised: tuple[str, ...] | None = None,
    ) -> None:
        base = self.root / folder
        for part in parts:
            if not (base / part).is_file():
                self.add(f"{folder}/{part}", 0, "missing template part")
        if sample and not (base / sample).is_file():
            self.add(f"{folder}/{sample}", 0, "missing sample data")
        known = set(parts)
        for locale in SUPPORTED_LOCALES[1:]:
            variant = base / locale
            if not variant.is_dir():
                self.add(f"{folder}/{locale}", 0, f"missing locale variant {locale}")
                continue
            for part in localised or parts:
                if not (variant / part).is_file():
                    self.add(f"{folder}/{locale}/{part}", 0, f"missing {locale} variant of {part}")
        for path in sorted(base.rglob("*.j2")):
            if path.name not in known:
                self.add(str(path.relative_to(self.root)), 0, "not a known template part")

    def check_page_strings(self) -> None:
        """Every supported locale has every text the pages use, with the same keys."""
        path = self.root / PAGES / PAGE_STRINGS
        relative = f"{PAGES}/{PAGE_STRINGS}"
        try:
            strings = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.add(relative, 0, "missing page texts")
            return
        except json.JSONDecodeError as exc:
            self.add(relative, exc.lineno, f"not valid JSON ({exc.msg})")
            return
        english = _keys(strings.get("en", {}))
        for locale in SUPPORTED_LOCALES:
            if locale not in strings:
                self.add(relative, 0, f"missing locale variant {locale}")
                continue
            missing = english - _keys(strings[locale])
            if missing:
                self.add(relative, 0, f"{locale} lacks {', '.join(sorted(missing))}")

    # ------------------------------------------------------------------ source checks
    def check_sources(self, renderer: Renderer) -> None:
        env = renderer.environment
        builtins = set(env.globals)
        for path in sorted(self.root.rglob("*.j2")):
            relative = path.relative_to(self.root).as_posix()
            folder = relative.split("/", 1)[0]
            spec = CATALOG.get(folder)
            own = spec.variables if spec else PAGE_VARIABLES if folder == PAGES else frozenset()
            allowed = RENDERER_VARIABLES | own | builtins
            source = path.read_text(encoding="utf-8")
            try:
                tree = env.parse(source, name=relative)
            except TemplateSyntaxError as exc:
                self.add(relative, exc.lineno, f"syntax error: {exc.message}")
                continue
            for name in sorted(meta.find_undeclared_variables(tree) - allowed):
                line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 0)
                provided = ", ".join(sorted(own | RENDERER_VARIABLES))
                self.add(
                    relative, line, f"variable '{name}' is not provided (provided: {provided})"
                )
            if path.name.endswith(".html.j2"):
                for line, message in _html_problems(source):
                    self.add(relative, line, message)

    # ------------------------------------------------------------------ rendered checks
    def check_rendered(self, renderer: Renderer, samples: Samples) -> None:
        for spec in CATALOG.values():
            for locale in SUPPORTED_LOCALES:
                if renderer.resolve_locale(spec.template, locale) != locale:
                    continue  # the missing variant is already reported
                try:
                    context = samples.context(spec, locale)
                except SampleError as exc:
                    self.add(f"{spec.template}/{SAMPLE_FILE}", 0, str(exc).split(": ", 1)[-1])
                    continue
                folder = spec.template if locale == "en" else f"{spec.template}/{locale}"
                if Channel.EMAIL in spec.channels:
                    self._check_email(renderer, samples, spec, locale, folder, context)
                if Channel.SMS in spec.channels:
                    self._check_sms(renderer, spec, locale, folder, context)

    def _render_failed(self, error: RenderError) -> None:
        located = _LOCATED.match(error.template)
        if located:
            self.add(located["file"], int(located["line"]), error.problem)
        else:
            self.add(error.template, 0, error.problem)

    def _check_email(
        self,
        renderer: Renderer,
        samples: Samples,
        spec: MessageSpec,
        locale: str,
        folder: str,
        context: dict[str, object],
    ) -> None:
        if spec.topic is not None:
            context = {**context, "unsubscribe_url": samples.unsubscribe_url}
        try:
            email = renderer.email(spec.template, locale, context)
        except RenderError as error:
            self._render_failed(error)
            return
        if len(email.subject) > MAX_SUBJECT:
            self.add(
                _source(self.root, folder, spec.template, "email.subject.j2"),
                1,
                f"subject is {len(email.subject)} characters with sample data "
                f"(at most {MAX_SUBJECT}): {email.subject!r}",
            )
        if spec.topic is not None:
            business = samples.business
            for part, body in (("email.html.j2", email.html), ("email.txt.j2", email.text)):
                where = _source(self.root, folder, spec.template, part)
                if samples.unsubscribe_url not in body.replace("&amp;", "&"):
                    self.add(where, 0, f"{spec.kind} email has no visible unsubscribe link")
                if business.postal_address not in body:
                    self.add(where, 0, f"{spec.kind} email does not show the postal address")

    def _check_sms(
        self,
        renderer: Renderer,
        spec: MessageSpec,
        locale: str,
        folder: str,
        context: dict[str, object],
    ) -> None:
        try:
            sms = renderer.sms(spec.template, locale, context, opt_out=spec.kind is Kind.MARKETING)
        except RenderError as error:
            self._render_failed(error)
            return
        size = measure(sms.text)
        if size.segments > spec.sms_segments:
            self.add(
                _source(self.root, folder, spec.template, SMS_PART),
                1,
                f"SMS takes {size.segments} segments ({size.encoding}, {size.units} characters "
                f"with sample data); budget is {spec.sms_segments}",
            )


def _source(root: Path, folder: str, template: str, part: str) -> str:
    """The file a rendered part came from: the locale's own, else the root original."""
    return f"{folder}/{part}" if (root / folder / part).is_file() else f"{template}/{part}"


def _keys(tree: object, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix.rstrip(".")}
    keys: set[str] = set()
    for key, value in tree.items():
        keys |= _keys(value, f"{prefix}{key}.")
    return keys


class _HtmlScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        line = self.getpos()[0]
        if tag == "img" and not (values.get("alt") or "").strip():
            self.problems.append((line, "image without alt text"))
        href = values.get("href")
        if tag in ("a", "area") and href is not None:
            link = href.strip()
            # A link that is wholly a template expression is checked where the value is made
            # (settings accept only https; signed links are built as https).
            if not (link.startswith("https://") or (link.startswith("{{") and link.endswith("}}"))):
                self.problems.append((line, f"link is not https: {link!r}"))


def _html_problems(source: str) -> list[tuple[int, str]]:
    scan = _HtmlScan()
    scan.feed(source)
    scan.close()
    return scan.problems


def lint(templates_dir: Path) -> list[Finding]:
    """Every problem found in `templates_dir`, sorted by file and line."""
    linter = _Linter(templates_dir)
    linter.check_files()
    linter.check_page_strings()
    try:
        samples = Samples.load(templates_dir)
    except SampleError as exc:
        linter.add(f"{LAYOUTS}/{SAMPLE_FILE}", 0, str(exc).split(": ", 1)[-1])
        return sorted(set(linter.findings))
    renderer = Renderer(templates_dir, SUPPORTED_LOCALES[0], samples.business)
    linter.check_sources(renderer)
    linter.check_rendered(renderer, samples)
    return sorted(set(linter.findings))
