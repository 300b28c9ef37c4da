"""`lifecycle lint`: check every template against the message catalog, with located findings.
A campaign's template folder (`campaign_<name>`) is checked against the spec its parts make
(email when it holds the email parts, SMS when it holds `sms.txt.j2`), like a catalog message.

What it catches, each reported on one line as `file:line: what is wrong` (never a traceback):
- a template syntax error, an unknown filter, a block left open (at the line that opens it);
- a variable the message does not provide (the catalog declares each message's context), and an
  undefined attribute by its whole path (`business.nme`);
- text outside any block of a template that extends the layout (it is never shown);
- a missing part (subject, HTML, text, SMS), a missing supported locale, and a partial locale
  folder: every locale folder that exists must hold every part, or its customers would get the
  whole message from the next locale (the renderer never mixes two languages in one message);
- a marketing email without the unsubscribe link or the postal address;
- an SMS over its segment budget (GSM-7 160/153, UCS-2 70/67 characters a segment);
- a subject over 78 characters;
- an image without alt text, and a link that is not https;
- a link to the unsubscribe or preference centre page, or a rating link, without
  `ses:no-track`: SES would rewrite it for click tracking (its click counted as engagement,
  and a one-tap action going through a redirect).
Warnings do not fail lint: an SMS in a language GSM-7 can write (English, Dutch) that becomes
UCS-2, naming the character that did it. Notes say the same for languages that need UCS-2
(Turkish, Chinese); `--verbose` prints them. Rendering uses the sample data beside the
templates, in every locale folder that exists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from babel import Locale, UnknownLocaleError
from jinja2 import TemplateSyntaxError, meta, nodes

from lifecycle.authoring.samples import LAYOUTS, SAMPLE_FILE, SampleError, Samples
from lifecycle.messaging.catalog import CATALOG, SUPPORTED_LOCALES, specs_in
from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.formatting import FALLBACK_LOCALE, writes_in_gsm7
from lifecycle.messaging.message import (
    EMAIL_PARTS,
    LAYOUT_PARTS,
    LOCALISED_LAYOUT_PARTS,
    SMS_PART,
    Business,
    Channel,
    Kind,
    MessageSpec,
)
from lifecycle.messaging.renderer import (
    PAGE_STRINGS,
    PAGE_VARIABLES,
    PAGES,
    RENDERER_VARIABLES,
    Renderer,
    syntax_problem,
)
from lifecycle.messaging.sms import describe, measure, ucs2_culprit
from lifecycle.stages.announcements import messages as announcements

MAX_SUBJECT = 78
ERROR, WARNING, NOTE = "error", "warning", "note"
_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+)$")
# Only to check the templates' sources when the sample business details cannot be read.
_NO_BUSINESS = Business(name="", postal_address="", sender_email="", website="")


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    message: str
    severity: str = ERROR  # warnings and notes do not fail lint

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        label = "" if self.severity == ERROR else f"{self.severity}: "
        return f"{where}: {label}{self.message}"


class _Linter:
    def __init__(self, templates_dir: Path, renderer: Renderer) -> None:
        self.root = templates_dir
        self.renderer = renderer
        self.findings: list[Finding] = []
        # The catalog's messages and the campaign folders' (their specs made from their parts).
        self.specs = specs_in(templates_dir)

    def add(self, relative: str, line: int, message: str, severity: str = ERROR) -> None:
        self.findings.append(Finding(f"{self.root.name}/{relative}", line, message, severity))

    def has_error(self, relative: str) -> bool:
        path = f"{self.root.name}/{relative}"
        return any(f.path == path and f.severity == ERROR for f in self.findings)

    # ------------------------------------------------------------------ files
    def check_files(self) -> None:
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder.name in (LAYOUTS, PAGES) or folder.name in self.specs:
                continue
            if announcements.is_campaign_template(folder.name):
                self.add(
                    folder.name,
                    0,
                    "campaign folder holds no channel's parts (email: "
                    f"{', '.join(EMAIL_PARTS)}; SMS: {SMS_PART})",
                )
            else:
                self.add(folder.name, 0, "folder is not a message in the catalog")
        written_in = set(SUPPORTED_LOCALES[1:])
        for spec in self.specs.values():
            only = self._written_only_in(spec.template)
            written_in |= self._check_parts(
                spec.template, self._parts(spec), SAMPLE_FILE, None if only is None else only
            )
        layouts = self.root / LAYOUTS
        written_in |= (
            {p.name for p in layouts.iterdir() if p.is_dir()} if layouts.is_dir() else set()
        )
        self._check_parts(LAYOUTS, LAYOUT_PARTS, None, sorted(written_in), LOCALISED_LAYOUT_PARTS)

    def _written_only_in(self, template: str) -> list[str] | None:
        """The languages a campaign's sample.json says its copy is written in
        (`"languages": ["en"]`, as an import of single-language templates writes it), beyond
        the base folder's; None when it does not say (every supported locale is expected).
        Customers in the others get the base folder's copy, in its language throughout: a
        warning, not an error."""
        if not announcements.is_campaign_template(template):
            return None
        try:
            sample = json.loads((self.root / template / SAMPLE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # the sample's own problem is reported where it is read
        languages = sample.get("languages") if isinstance(sample, dict) else None
        if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
            return None
        declared = [x for x in languages if x != FALLBACK_LOCALE]
        left = [x for x in SUPPORTED_LOCALES[1:] if x not in declared]
        if left:
            self.add(
                f"{template}/{SAMPLE_FILE}",
                0,
                f"written in {', '.join([FALLBACK_LOCALE, *declared])} only: customers in "
                f"{', '.join(left)} get the {FALLBACK_LOCALE} copy (add a locale folder to "
                "translate it)",
                WARNING,
            )
        return declared

    def _parts(self, spec: MessageSpec) -> tuple[str, ...]:
        """The parts a message's folder must hold. A campaign's spec has the channels whose
        parts are there: one email part without the others is an email missing parts, not an
        SMS campaign with a stray file."""
        if spec.template in CATALOG or Channel.EMAIL in spec.channels:
            return spec.parts
        if any((self.root / spec.template / part).is_file() for part in EMAIL_PARTS):
            return (*EMAIL_PARTS, *spec.parts)
        return spec.parts

    def _check_parts(
        self,
        folder: str,
        parts: tuple[str, ...],
        sample: str | None,
        locales: list[str] | None = None,
        localised: tuple[str, ...] | None = None,
    ) -> set[str]:
        """Check a folder and every locale folder in it (and each supported locale, and for
        the layout each locale a message is written in); return the locale folders found."""
        base = self.root / folder
        for part in parts:
            if not (base / part).is_file():
                self.add(f"{folder}/{part}", 0, "missing template part")
        if sample and not (base / sample).is_file():
            self.add(f"{folder}/{sample}", 0, "missing sample data")
        found = {p.name for p in base.iterdir() if p.is_dir()} if base.is_dir() else set()
        expected = SUPPORTED_LOCALES[1:] if locales is None else locales
        for locale in sorted(set(expected) | found):
            variant = base / locale
            if not variant.is_dir():
                self.add(f"{folder}/{locale}", 0, f"missing locale variant {locale}")
                continue
            if not _is_locale(locale):
                self.add(
                    f"{folder}/{locale}", 0, f"{locale!r} is not a locale (BCP 47, like nl-BE)"
                )
            lacking = [part for part in localised or parts if not (variant / part).is_file()]
            fallback = "" if localised else self._fallback(folder, locale)
            for part in lacking:
                self.add(
                    f"{folder}/{locale}/{part}", 0, f"missing {locale} variant of {part}{fallback}"
                )
        for path in sorted(base.rglob("*.j2")):
            if path.name not in set(parts):
                self.add(str(path.relative_to(self.root)), 0, "not a known template part")
        return found

    def _fallback(self, template: str, locale: str) -> str:
        instead = self.renderer.resolve_locale(template, locale)
        return f" (partial folder: {locale} customers get the whole message in {instead})"

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
        except UnicodeDecodeError:
            self.add(relative, 0, "not UTF-8 text")
            return
        locales = (
            {k: v for k, v in strings.items() if not k.startswith("_")}
            if isinstance(strings, dict)
            else None
        )
        if locales is None or not all(isinstance(v, dict) for v in locales.values()):
            self.add(relative, 0, "must hold a JSON object of locales, each an object of texts")
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
    def check_sources(self) -> None:
        for path in sorted(self.root.rglob("*.j2")):
            relative = path.relative_to(self.root).as_posix()
            try:
                self._check_source(path, relative)
            except Exception as exc:  # lint reports, it never crashes
                self.add(relative, 0, f"could not be checked: {type(exc).__name__}: {exc}")

    def _check_source(self, path: Path, relative: str) -> None:
        env = self.renderer.environment
        folder = relative.split("/", 1)[0]
        spec = self.specs.get(folder)
        if spec is not None:
            own = spec.variables
        elif announcements.is_campaign_template(folder):
            own = announcements.VARIABLES
        else:
            own = PAGE_VARIABLES if folder == PAGES else frozenset()
        allowed = RENDERER_VARIABLES | own | set(env.globals)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.add(relative, 0, f"cannot be read as UTF-8 text ({exc})")
            return
        try:
            tree = env.parse(source, name=relative)
            undeclared = meta.find_undeclared_variables(tree)  # compiles: unknown filters fail
        except TemplateSyntaxError as exc:
            self.add(relative, *syntax_problem(env, exc, source))
            return
        for name in sorted(undeclared - allowed):
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), 0)
            provided = ", ".join(sorted(own | RENDERER_VARIABLES))
            self.add(relative, line, f"variable '{name}' is not provided (provided: {provided})")
        for line, text in _outside_blocks(tree):
            self.add(
                relative,
                line,
                f"text outside any block is never shown (the template extends a layout): {text!r}",
            )
        if path.name.endswith(".html.j2"):
            for line, message in _html_problems(source):
                self.add(relative, line, message)

    # ------------------------------------------------------------------ rendered checks
    def check_rendered(self, samples: Samples) -> None:
        renderer = self.renderer
        for spec in self.specs.values():
            for locale in [FALLBACK_LOCALE, *renderer.locale_folders(spec.template)]:
                if renderer.resolve_locale(spec.template, locale) != locale:
                    continue  # a partial folder: already reported
                try:
                    context = samples.context(spec, locale)
                except SampleError as exc:
                    self.add(f"{spec.template}/{SAMPLE_FILE}", 0, str(exc).split(": ", 1)[-1])
                    continue
                folder = spec.template if locale == FALLBACK_LOCALE else f"{spec.template}/{locale}"
                if Channel.EMAIL in spec.channels:
                    self._check_email(renderer, samples, spec, locale, folder, context)
                if Channel.SMS in spec.channels:
                    self._check_sms(renderer, spec, locale, folder, context)

    def _render_failed(self, error: RenderError) -> None:
        located = _LOCATED.match(error.template)
        file, line = (located["file"], int(located["line"])) if located else (error.template, 0)
        if not self.has_error(file):  # the source check already said what is wrong there
            self.add(file, line, error.problem)

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
        source = _source(self.root, folder, spec.template, SMS_PART)
        if size.segments > spec.sms_segments:
            self.add(
                source,
                1,
                f"SMS takes {size.segments} segments ({size.encoding}, {size.units} characters "
                f"with sample data); budget is {spec.sms_segments}",
            )
        sources = renderer.sms_sources(spec.template, locale, opt_out=spec.kind is Kind.MARKETING)
        culprit = ucs2_culprit(sms.text, "".join(sources.values()))
        if culprit is None:
            return
        where = next(
            (
                (name, number)
                for name, copy in sources.items()
                for number, text in enumerate(copy.splitlines(), 1)
                if culprit in text
            ),
            (source, 0),
        )
        origin = "" if where[1] else " (in an inserted value)"
        gsm = writes_in_gsm7(locale)
        self.add(
            where[0],
            where[1] or 1,
            f"UCS-2 because of {describe(culprit)}{origin}: {size.segments} segment(s)"
            + (
                f" ({locale} can be written in GSM-7: 160 characters a segment, not 70)"
                if gsm
                else ""
            ),
            WARNING if gsm else NOTE,
        )


def _source(root: Path, folder: str, template: str, part: str) -> str:
    """The file a rendered part came from: the locale's own, else the root original."""
    return f"{folder}/{part}" if (root / folder / part).is_file() else f"{template}/{part}"


def _is_locale(tag: str) -> bool:
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return False
    return True


def _outside_blocks(tree: nodes.Template) -> list[tuple[int, str]]:
    """What a template that extends another prints outside its blocks (never shown), one
    entry per line."""
    if not any(isinstance(node, nodes.Extends) for node in tree.body):
        return []
    lines: dict[int, list[str]] = {}
    for child in _printed_outside_blocks(tree):
        if isinstance(child, nodes.TemplateData):
            text = child.data.strip()
            if text:
                skipped = child.data[: len(child.data) - len(child.data.lstrip())]
                lines.setdefault(child.lineno + skipped.count("\n"), []).append(_short(text))
        else:
            lines.setdefault(child.lineno, []).append("{{ ... }}")
    return [(line, " ".join(pieces)) for line, pieces in sorted(lines.items())]


def _printed_outside_blocks(node: nodes.Node) -> list[nodes.Node]:
    printed: list[nodes.Node] = []
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Block | nodes.Macro | nodes.CallBlock):
            continue
        if isinstance(child, nodes.Output):
            printed += child.nodes
        else:
            printed += _printed_outside_blocks(child)
    return printed


def _short(text: str) -> str:
    line = text.splitlines()[0]
    return line if len(line) <= 40 else line[:37] + "..."


def _keys(tree: object, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix.rstrip(".")}
    keys: set[str] = set()
    for key, value in tree.items():
        keys |= _keys(value, f"{prefix}{key}.")
    return keys


# Links the product signs for one person (unsubscribe, preference centre, ratings): never
# rewritten by SES's click tracking, so their anchors must carry `ses:no-track`.
_UNTRACKED_LINK = re.compile(r"\{\{[^}]*\b(unsubscribe_url|preferences?_url|ratings?[._]url)\b")
NO_TRACK = "ses:no-track"


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
            signed = _UNTRACKED_LINK.search(link)
            if signed and NO_TRACK not in values:
                self.problems.append(
                    (
                        line,
                        f"link to {signed[1]} lacks {NO_TRACK}: SES click tracking would "
                        "rewrite it (write <a ses:no-track href=...>)",
                    )
                )


def _html_problems(source: str) -> list[tuple[int, str]]:
    scan = _HtmlScan()
    scan.feed(source)
    scan.close()
    return scan.problems


def lint(templates_dir: Path) -> list[Finding]:
    """Every problem found in `templates_dir` (errors, warnings and notes), sorted by file and
    line."""
    samples: Samples | None = None
    problem = None
    try:
        samples = Samples.load(templates_dir)
    except SampleError as exc:
        problem = str(exc).split(": ", 1)[-1]
    business = samples.business if samples else _NO_BUSINESS
    linter = _Linter(templates_dir, Renderer(templates_dir, FALLBACK_LOCALE, business))
    if problem:
        linter.add(f"{LAYOUTS}/{SAMPLE_FILE}", 0, problem)
    linter.check_files()
    linter.check_page_strings()
    linter.check_sources()
    if samples is not None:
        linter.check_rendered(samples)
    return sorted(set(linter.findings))
