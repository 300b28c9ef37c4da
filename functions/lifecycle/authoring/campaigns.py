"""`lifecycle campaign lint [PATH ...]`: check campaign files (`campaigns/<id>.yaml`) before
they are scheduled, with located findings (`file:line: what is wrong`), never a traceback.

For each file:
- it is YAML (a syntax error names its line), one document, no key given twice;
- it is a campaign (`campaign.parse`: every problem, each at the line of its field);
- its id is the file's name (`eco-wash-launch.yaml` holds `id: eco-wash-launch`);
- each variant's template folder is a campaign folder under the templates, with the parts of
  every channel the campaign sends by;
- each variant renders, by email and (if the campaign sends by it) SMS, in every locale folder
  its template has, for a prospect and for a customer, with the campaign's own link and
  details and the sample's first name, through the renderer a real send uses; an SMS over its
  segment budget is an error, a subject over 78 characters a warning.
Warnings do not fail it: an audience that looks empty (a condition with no values), a holdout
above half the audience.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lifecycle.authoring.lint import ERROR, MAX_SUBJECT, WARNING, Finding
from lifecycle.authoring.samples import LAYOUTS, SAMPLE_FILE, SampleError, Samples
from lifecycle.messaging.errors import RenderError
from lifecycle.messaging.formatting import FALLBACK_LOCALE
from lifecycle.messaging.message import EMAIL_PARTS, SMS_PART, Channel, MessageSpec
from lifecycle.messaging.renderer import Renderer
from lifecycle.messaging.sms import measure
from lifecycle.stages.announcements import campaign as model
from lifecycle.stages.announcements import messages

if TYPE_CHECKING:
    from yaml import Node

CAMPAIGNS_DIR = "campaigns"
SUFFIXES = (".yaml", ".yml")
# Past this share held out, most of the audience gets nothing: worth a second look.
HOLDOUT_WARNING = 0.5
_PARTS = {Channel.EMAIL: ", ".join(EMAIL_PARTS), Channel.SMS: SMS_PART}


class CampaignLintError(ValueError):
    """The check cannot start (a path that is not there, PyYAML not installed)."""


def campaign_files(paths: Iterable[Path]) -> list[Path]:
    """The campaign files named: a folder's `*.yaml` (and `*.yml`), a file itself."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        elif path.name == CAMPAIGNS_DIR and not path.exists():
            raise CampaignLintError(
                f"{path} is not there: campaign files live in {CAMPAIGNS_DIR}/<id>.yaml "
                "(run from the repository root, or name the files)"
            )
        else:
            raise CampaignLintError(f"{path}: no such file or folder")
    return found


def lint_campaigns(paths: Iterable[Path], templates_dir: Path) -> list[Finding]:
    """Every problem in the campaign files under `paths` (errors and warnings), by file and
    line."""
    _yaml()
    files = campaign_files(paths)
    templates = _Templates.load(templates_dir)
    findings = list(templates.findings)
    if not files:
        names = ", ".join(str(p) for p in paths)
        findings.append(Finding(names, 0, "no campaign files (*.yaml) found", WARNING))
    for path in files:
        try:
            findings += _File(path, templates).check()
        except Exception as exc:  # it reports, it never crashes
            problem = f"could not be checked: {type(exc).__name__}: {exc}"
            findings.append(Finding(str(path), 0, problem))
    return sorted(set(findings))


def load_campaign(path: Path, templates_dir: Path) -> model.Campaign:
    """The campaign in one file, once it passes `campaign lint` (its errors, one a line, in
    the CampaignLintError otherwise): what `schedule` and `dry-run` act on."""
    findings = lint_campaigns([path], templates_dir)
    errors = [str(f) for f in findings if f.severity == ERROR]
    if errors:
        raise CampaignLintError("the campaign does not pass lint:\n" + "\n".join(errors))
    return model.parse(_yaml().safe_load(path.read_text(encoding="utf-8")), source=str(path))


def _yaml() -> ModuleType:
    try:
        import yaml  # CLI-only (the `cli` extra): never on a Lambda function's path
    except ImportError:
        raise CampaignLintError(
            "reading campaign files needs PyYAML: pip install 'lifecycle[cli]'"
        ) from None
    return yaml


@dataclass
class _Templates:
    """The templates folder, the renderer a real send uses and the sample data."""

    root: Path
    renderer: Renderer | None
    samples: Samples | None
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path) -> _Templates:
        if not root.is_dir():
            problem = "templates folder is not there (give --templates)"
            return cls(root, None, None, [Finding(str(root), 0, problem)])
        try:
            samples = Samples.load(root)
        except SampleError as exc:
            where = f"{root}/{LAYOUTS}/{SAMPLE_FILE}"
            return cls(root, None, None, [Finding(where, 0, str(exc).split(": ", 1)[-1])])
        return cls(root, Renderer(root, FALLBACK_LOCALE, samples.business), samples)


class _File:
    def __init__(self, path: Path, templates: _Templates) -> None:
        self.path = path
        self.templates = templates
        self.findings: list[Finding] = []
        self.tree: Node | None = None

    def add(self, line: int, message: str, severity: str = ERROR) -> None:
        self.findings.append(Finding(str(self.path), line, message, severity))

    def line(self, *where: str | int) -> int:
        """The line of the field at this path (`send`, `local_time`), or of the nearest field
        above it that is there; 0 when the file has no mapping at all."""
        return _line_of(self.tree, [str(step) for step in where])

    def check(self) -> list[Finding]:
        data = self._load()
        if data is _UNREADABLE:
            return self.findings
        send = data.get("send") if isinstance(data, dict) else None
        if isinstance(send, dict) and isinstance(send.get("local_time"), int):
            # YAML 1.1 reads an unquoted 10:00 as the number 600 (minutes and seconds), which
            # would be read as ten past midnight.
            self.add(self.line("send", "local_time"), 'write local_time in quotes: "10:00"')
        try:
            campaign = model.parse(data, source=str(self.path))
        except model.CampaignError as error:
            self._parse_problems(str(error))
            return self.findings
        if campaign.id != self.path.stem:
            self.add(
                self.line("id"),
                f"id {campaign.id!r} is not the file's name: call the file {campaign.id}"
                f"{self.path.suffix}, or the campaign {self.path.stem!r}",
            )
        self._audience(campaign)
        if campaign.holdout > HOLDOUT_WARNING:
            self.add(
                self.line("holdout"),
                f"holdout {campaign.holdout:g}: most of the audience gets nothing",
                WARNING,
            )
        for variant, template in campaign.templates().items():
            spec = self._template(campaign, variant, template)
            if spec is not None:
                self._render(campaign, variant, spec)
        return self.findings

    # ------------------------------------------------------------------ the file
    def _load(self) -> Any:
        yaml = _yaml()
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.add(0, "not UTF-8 text")
            return _UNREADABLE
        except OSError as exc:
            self.add(0, f"cannot be read ({exc.strerror})")
            return _UNREADABLE
        try:
            self.tree = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
            if context and opened is not None:
                problem = f"{context} (line {opened.line + 1}): {problem}"
            self.add(mark.line + 1 if mark is not None else 0, f"not valid YAML: {problem}")
            return _UNREADABLE
        for line, key in _repeated_keys(self.tree):
            self.add(line, f"{key!r} is given twice (only the last one would count)")
        return data

    def _parse_problems(self, error: str) -> None:
        """Each problem `campaign.parse` names (`source: field.path: what`), at its field."""
        prefix = f"{self.path}: "
        for text in error.splitlines():
            where, _, problem = text.removeprefix(prefix).partition(": ")
            if not problem:  # not about one field: the file as a whole
                self.add(0, where)
            elif where == "campaign":
                self.add(self.line(), problem)
            else:
                self.add(self.line(*where.split(".")), f"{where}: {problem}")

    def _audience(self, campaign: model.Campaign) -> None:
        audience = campaign.audience
        empty = [name for name in ("stages", "locales") if getattr(audience, name) == ()]
        empty += [
            f"attributes.{name}" for name, values in audience.attributes.items() if not values
        ]
        for name in empty:
            self.add(
                self.line("audience", *name.split(".")),
                f"audience.{name} is empty: nobody is in the audience",
                WARNING,
            )

    # ------------------------------------------------------------------ its templates
    def _template_line(self, campaign: model.Campaign, variant: str) -> int:
        for index, each in enumerate(campaign.variants):
            if each.name == variant and each.template is not None:
                return self.line("variants", index, "template")
        return self.line("message", "template")

    def _template(
        self, campaign: model.Campaign, variant: str, template: str
    ) -> MessageSpec | None:
        """The variant's template's spec, if its folder is there and can send by every channel
        the campaign does."""
        line = self._template_line(campaign, variant)
        whose = f"variant {variant}'s template" if variant else "template"
        root = self.templates.root
        if not (root / template).is_dir():
            self.add(line, f"{whose} {template} is not a folder under {root}")
            return None
        spec = messages.spec_in(root, template)
        have = spec.channels if spec is not None else ()
        for channel in campaign.channels:
            if channel not in have:
                self.add(
                    line,
                    f"{whose} {template} cannot send by {channel}: {root}/{template} lacks "
                    f"{_PARTS[channel]}",
                )
        if spec is None or any(channel not in have for channel in campaign.channels):
            return None
        return spec

    def _render(self, campaign: model.Campaign, variant: str, spec: MessageSpec) -> None:
        renderer, samples = self.templates.renderer, self.templates.samples
        if renderer is None or samples is None:
            return  # the templates folder's own problem is already reported
        line = self._template_line(campaign, variant)
        failed: dict[str, tuple[str, list[tuple[str, bool]]]] = {}  # problem: where, for whom
        locales = [FALLBACK_LOCALE, *renderer.locale_folders(spec.template)]
        for locale in locales:
            if renderer.resolve_locale(spec.template, locale) != locale:
                continue  # a partial folder: `lifecycle lint` reports it
            try:
                sample = samples.context(spec, locale)
            except SampleError as exc:
                self.add(line, f"{spec.template}: {exc}")
                continue
            for prospect in (True, False):
                context = {
                    "first_name": sample["first_name"],
                    "prospect": prospect,
                    # The prospect is rendered with none of their own attributes: a recipient
                    # whose row lacks one must still get the message (the template's default).
                    "attributes": {} if prospect else dict(sample.get("attributes") or {}),
                    "link": campaign.message.link,
                    "details": dict(campaign.message.details),
                }
                who = f"{locale}, {'prospect' if prospect else 'customer'}"
                try:
                    self._render_one(campaign, spec, locale, context, who, line)
                except RenderError as error:
                    failed.setdefault(error.problem, (error.template, []))[1].append(
                        (locale, prospect)
                    )
        for problem, (first, whom) in failed.items():
            self.add(
                self.line("message", "details") if "details." in problem else line,
                f"{spec.template} does not render with this campaign ({_whom(whom)}): "
                f"{first}: {problem}",
            )

    def _render_one(
        self,
        campaign: model.Campaign,
        spec: MessageSpec,
        locale: str,
        context: dict[str, Any],
        who: str,
        line: int,
    ) -> None:
        renderer, samples = self.templates.renderer, self.templates.samples
        assert renderer is not None
        assert samples is not None
        if Channel.EMAIL in campaign.channels:
            email = renderer.email(
                spec.template, locale, {**context, "unsubscribe_url": samples.unsubscribe_url}
            )
            if len(email.subject) > MAX_SUBJECT:
                self.add(
                    line,
                    f"{spec.template} ({who}): subject is {len(email.subject)} characters "
                    f"(at most {MAX_SUBJECT}): {email.subject!r}",
                    WARNING,
                )
        if Channel.SMS in campaign.channels:
            size = measure(renderer.sms(spec.template, locale, context, opt_out=True).text)
            if size.segments > spec.sms_segments:
                self.add(
                    self.line("message", "details"),
                    f"{spec.template} ({who}): SMS takes {size.segments} segments "
                    f"({size.encoding}, {size.units} characters with this campaign's details); "
                    f"budget is {spec.sms_segments}",
                )


_UNREADABLE = object()


def _whom(rendered: list[tuple[str, bool]]) -> str:
    """`en, nl for prospects and customers`: the locales and recipients a render failed for."""
    locales = ", ".join(dict.fromkeys(locale for locale, _ in rendered))
    kinds = {prospect for _, prospect in rendered}
    who = (
        "prospects and customers"
        if len(kinds) == 2
        else "prospects"
        if True in kinds
        else "customers"
    )
    return f"{locales} for {who}"


def _line_of(node: Node | None, steps: list[str]) -> int:
    from yaml import MappingNode, SequenceNode

    if node is None:
        return 0
    line = int(node.start_mark.line) + 1
    for step in steps:
        child = None
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if str(key.value) == step:
                    line, child = int(key.start_mark.line) + 1, value
        elif isinstance(node, SequenceNode) and step.isdigit() and int(step) < len(node.value):
            child = node.value[int(step)]
            line = int(child.start_mark.line) + 1
        if child is None:
            break
        node = child
    return line


def _repeated_keys(node: Node | None) -> list[tuple[int, str]]:
    """Keys given twice in one mapping (YAML keeps the last silently), anywhere in the file."""
    from yaml import MappingNode, SequenceNode

    found: list[tuple[int, str]] = []
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                found.append((int(key.start_mark.line) + 1, name))
            seen.add(name)
            found += _repeated_keys(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            found += _repeated_keys(item)
    return found
