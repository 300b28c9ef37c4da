"""`lifecycle import pinpoint`, templates: Amazon Pinpoint message templates (the JSON of
GetEmailTemplate / GetSmsTemplate) become campaign template folders (`templates/campaign_<name>/`)
that render the same text for the same recipient, or a Problem says what could not be carried
and where (`<template> <part> line N`). Pure: it reads parsed JSON and returns file texts.

What becomes what (Pinpoint's Handlebars as its user guide documents it -> the product's Jinja):

- `{{User.UserAttributes.FirstName}}` (the mapping's first name) -> `{{ first_name }}`.
- A variable mapped to an attribute (`{{Location.City}}`, `{{Attributes.Tier}}`) ->
  `{{ attributes.get("city", "<its DefaultSubstitutions value, or empty>") }}`: a recipient may
  lack it, and `.get` also keeps Handlebars truthiness in tests. `.[0]` after it reads the same
  (the import keeps a list attribute as its values joined with ", ").
- `{{{x}}}` and `{{&x}}` -> `{{ x }}`: HTML parts are autoescaped (customer data is never markup).
- A variable with no equivalent (`User.UserId`, `Address`, `ChannelType`, an unmapped attribute,
  `.[1]`) -> its DefaultSubstitutions value as text, or nothing; reported "no equivalent".
- `{{#if x}}` `{{else if y}}` `{{else}}` `{{/if}}` -> `{% if x %}` `{% elif y %}` `{% else %}`
  `{% endif %}`; `{{#unless x}}`, `{{^x}}` -> `{% if not x %}`. A test known while converting (a
  variable with no equivalent is its default) is decided then.
- `{{#each Attributes.Services}}...{{this}}...{{@index}}...{{else}}` -> `{% for item in
  attributes.get("services", "").split(", ") if item %}...{{ item }}...{{ loop.index0 }}...
  {% else %}` (`@first`, `@last` -> `loop.first`, `loop.last`): the values joined with ", "
  split back, exact unless a value itself holds ", ".
- `{{#with Attributes.X}}{{this}}` -> `{% if attributes.get("x", "") %}{{ attributes.get(...) }}`;
  `{{#with Location}}{{City}}{{/with}}` -> its paths read under Location, shown to every
  recipient (Pinpoint leaves it out for an endpoint without Location): reported.
- `eq`, `neq` (block, inline, sub-expression) -> `a == b`, `a != b`; `gt`, `gte`, `lt`, `lte` ->
  `(a|float) > (b|float)` (reported: numbers compared); `and`, `or`, `not` -> `and`, `or`, `not`;
  inline `yes=`/`no=` -> `"y" if test else "n"`, without them `true`/`false`.
- `upper`, `lower` -> `|upper`, `|lower`; `capitalizeFirst x` -> `x[:1]|upper ~ x[1:]`;
  `capitalize x` -> `x.split(" ")|map("capitalize")|join(" ")` (exact with `fully=true`; without
  it Pinpoint keeps the rest of each word as it is: reported); `abbreviate x 6` ->
  `x|truncate(6, True, "...", 0)`; `join x ", "`, `replace`, `cut`, `substring` -> the values,
  `|replace(...)`, `x[1:4]`; `inflect n "bag" "bags"` -> `"bag" if (n|float) == 1 else "bags"`.
- `dateFormat x ...` -> the value as stored, unformatted (reported: attributes are text; the
  product formats only the dates a journey passes).
- `now`, the math and encoding helpers, `center`, `ljust`, `rjust`, `slugify`, `stripTags`,
  `yesno`, `ordinalize`, partials and inline partials -> nothing (reported "no equivalent").
- `{{!-- --}}`, `{{! }}` -> dropped; `{%`, `{#`, `{{` in Pinpoint's text -> `{{ "{" }}%`...,
  printed as text.

Lines Handlebars leaves out (a block tag, `{{else}}` or comment alone on its line) are left out
in the same way: such tags become Jinja tags alone on their line (the renderer trims them);
other tags get `{%+` / `+%}` where the renderer's trimming would otherwise change the text.

An email's subject becomes email.subject.j2; its HTML body (inside Pinpoint's own
<html>/<body>) the content block of email.html.j2, which extends the layout: the layout adds the
footer with the postal address and the unsubscribe link, so a link of Pinpoint's own that looks
like an unsubscribe or opt-out link is left out (reported "replaced by the layout"), and so is a
<style> in the head. The text part becomes email.txt.j2 (derived from the HTML without one); an
SMS body sms.txt.j2. sample.json holds the defaults. Pinpoint templates have one language: the
folder is the product's English original, and lint asks for each supported locale's copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from lifecycle.pinpoint import handlebars as hb
from lifecycle.pinpoint.mapping import Mapping, template_folder
from lifecycle.pinpoint.report import Outcome, Problem, write_files

NOT_A_TEMPLATE = "not a template"
NO_EQUIVALENT = "no equivalent"
CARRIED_DIFFERENTLY = "carried differently"
REPLACED_BY_LAYOUT = "replaced by the layout"
MALFORMED = "malformed template"
DERIVED = "derived part"
SAME_FOLDER = "same folder"
NEEDS_TRANSLATION = "needs translation"
NOT_WRITTEN = "not written"

SUPPORTED_TYPES = ("EMAIL", "SMS")
WRAPPERS = {"EmailTemplateResponse": "EMAIL", "SMSTemplateResponse": "SMS"}
# A list attribute is kept as its values joined so (mapping.read_value); `each` splits it back.
LIST_SEPARATOR = ", "
SAMPLE_FIRST_NAME = "Alex"
SAMPLE_LINK = "https://example.com/offer"
_UNSUBSCRIBE = re.compile(r"unsubscri|opt[\s_-]?out|optout|afmeld|uitschrijv", re.IGNORECASE)
_HELPERS_REPORTED = frozenset(
    {
        "center",
        "ljust",
        "rjust",
        "slugify",
        "stripTags",
        "yesno",
        "ordinalize",
        "add",
        "ceiling",
        "decode64",
        "divide",
        "encode64",
        "floor",
        "md5",
        "modulo",
        "multiply",
        "round",
        "sha256",
        "sha512",
        "subtract",
        "uuid",
        "lookup",
        "log",
        "numberFormat",
        "currencyFormat",
    }
)
_COMPARISONS = {"eq": "==", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_LOGIC = frozenset({"and", "or", "not"})
_CONDITIONS = frozenset({"if", "unless", *_COMPARISONS, *_LOGIC})
_VALUE_HELPERS = frozenset(
    {
        "upper",
        "lower",
        "capitalize",
        "capitalizeFirst",
        "abbreviate",
        "join",
        "replace",
        "cut",
        "substring",
        "inflect",
        "dateFormat",
        "now",
    }
)


@dataclass
class TemplateImport:
    """What converting Pinpoint templates made: each folder's files (relative name -> text),
    the Pinpoint templates each folder came from, and what could not be carried."""

    folders: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class _Value:
    """A Jinja expression (`code`), or a value known while converting (`literal`: a default,
    a quoted string). `boolean`: the expression is a test (prints as true/false)."""

    code: str | None = None
    literal: str | int | float | bool | None = None
    boolean: bool = False

    @property
    def static(self) -> bool:
        return self.code is None

    def jinja(self) -> str:
        if self.code is not None:
            return self.code
        if isinstance(self.literal, bool) or self.literal is None:
            return "true" if self.literal else "false"
        return _quote(self.literal) if isinstance(self.literal, str) else str(self.literal)

    def text(self) -> str:
        """An expression that prints this value as Handlebars would."""
        if self.boolean:
            return f'"true" if {self.code} else "false"'
        return self.jinja()

    def test(self) -> str:
        return self.jinja() if self.code is not None else ("true" if self.truthy() else "false")

    def truthy(self) -> bool:
        """Handlebars truthiness of a known value: false, null, "", 0 are falsy."""
        return bool(self.literal)

    def shown(self) -> str:
        """A known value as Handlebars prints it."""
        value = self.literal
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_ATOM = re.compile(
    r'^(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\((?:"(?:[^"\\]|\\.)*"(?:, )?)*\))?'
    r'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)$'
)


def _group(code: str) -> str:
    return code if _ATOM.match(code) else f"({code})"


# ---------------------------------------------------------------------------------- one part
@dataclass
class _Scope:
    kind: str  # "each" (loop variable `name`), "with" (paths under `prefix`), "value"
    name: str = ""
    prefix: tuple[str, ...] = ()
    value: _Value | None = None


@dataclass
class _Piece:
    kind: str  # "text", "expr" (a {{ }}), "tag" (a {% %}), "none" (a tag printing nothing)
    code: str = ""
    tag: hb.Tag | None = None


class _Part:
    """Converts one template part (a subject, an HTML body, a text part, an SMS body)."""

    def __init__(
        self,
        template: str,
        part: str,
        mapping: Mapping,
        defaults: dict[str, str],
        report: Callable[[str, str, str], None],
    ) -> None:
        self.template = template
        self.part = part
        self.mapping = mapping
        self.defaults = defaults
        self.report = report
        self.scopes: list[_Scope] = []
        self.pieces: list[_Piece] = []
        self.attributes: set[str] = set()

    def where(self, line: int) -> str:
        return f"{self.template} {self.part} line {line}"

    def problem(self, kind: str, line: int, detail: str) -> None:
        self.report(kind, self.where(line), detail)

    def convert(self, source: str, first_line: int = 1, *, html_text: bool = False) -> str:
        """The Jinja for `source` (Handlebars); raises hb.Malformed."""
        self.emit(hb.parse(source, first_line))
        return _assemble(self.pieces, html_text=html_text)

    # -------------------------------------------------------------- nodes
    def emit(self, nodes: list[hb.Node]) -> None:
        for node in nodes:
            if isinstance(node, hb.Text):
                self.pieces.append(_Piece("text", node.value))
            elif isinstance(node, hb.Mustache):
                self.mustache(node)
            elif isinstance(node, hb.Block):
                self.block(node)
            else:
                if node.tag.kind == "partial":
                    self.problem(
                        NO_EQUIVALENT,
                        node.tag.line,
                        f"partial {{{{{'#' if node.tag.body[:1] in '*>' else '>'}"
                        f"{node.tag.body}}}}} is left out (the product has no partials; "
                        "write its text in the template)",
                    )
                self.pieces.append(_Piece("none", tag=node.tag))

    def mustache(self, node: hb.Mustache) -> None:
        value = self.call(node.call, node.tag.line)
        if value.static:
            shown = value.shown()
            if shown:
                self.pieces.append(_Piece("expr", _quote(shown)))
        else:
            self.pieces.append(_Piece("expr", value.text()))

    def tag(self, tag: hb.Tag, code: str | None) -> None:
        self.pieces.append(_Piece("tag", code, tag) if code else _Piece("none", tag=tag))

    def block(self, node: hb.Block) -> None:
        name = node.name
        line = node.open.line
        if name in _CONDITIONS or node.inverted:
            self.condition_block(node)
        elif name == "each":
            self.each_block(node)
        elif name == "with":
            self.with_block(node)
        else:
            self.problem(
                NO_EQUIVALENT,
                line,
                f"block helper {{{{#{node.call.text}}}}} is left out with its contents "
                "(no equivalent)",
            )
            self.tag(node.open, None)
            if node.otherwise is not None:
                self.tag(node.otherwise, None)
            self.tag(node.close, None)

    def branch_test(self, node: hb.Block) -> _Value:
        if node.inverted:
            return _negate(self.value(node.call, node.open.line))
        if node.name in ("if", "unless"):
            if len(node.call.params) != 1:
                raise hb.Malformed(node.open.line, f"{{{{#{node.name}}}}} takes one value")
            value = self.value(node.call.params[0], node.open.line)
            return _negate(value) if node.name == "unless" else value
        return self.condition(node.call, node.open.line)

    def condition_block(self, node: hb.Block) -> None:
        """An if / elif / else chain: branches whose test is known while converting are
        decided now (a variable with no equivalent is its default)."""
        branches: list[tuple[hb.Tag, _Value, list[hb.Node]]] = []
        current: hb.Block | None = node
        otherwise: tuple[hb.Tag, list[hb.Node]] | None = None
        while current is not None:
            branches.append((current.open, self.branch_test(current), current.body))
            inverse = current.inverse
            if inverse is not None and len(inverse) == 1 and isinstance(inverse[0], hb.Block):
                chained = inverse[0]
                if chained.chained and (chained.name in _CONDITIONS):
                    current = chained
                    continue
            if inverse is not None and current.otherwise is not None:
                otherwise = (current.otherwise, inverse)
            current = None
        opened = False
        decided = False
        for tag, test, body in branches:
            if decided:
                self.tag(tag, None)
                continue
            if test.static:
                if test.truthy():
                    decided = True
                    self.tag(tag, "else" if opened else None)
                    self.emit(body)
                else:
                    self.tag(tag, None)
                continue
            self.tag(tag, f"{'elif' if opened else 'if'} {test.test()}")
            opened = True
            self.emit(body)
        if otherwise is not None:
            tag, body = otherwise
            if decided:
                self.tag(tag, None)
            else:
                self.tag(tag, "else" if opened else None)
                self.emit(body)
        self.tag(node.close, "endif" if opened else None)

    def each_block(self, node: hb.Block) -> None:
        line = node.open.line
        if len(node.call.params) != 1:
            raise hb.Malformed(line, "{{#each}} takes one list")
        subject = self.value(node.call.params[0], line)
        if subject.boolean:
            self.problem(NO_EQUIVALENT, line, f"{{{{#each {node.call.text}}}}} needs a list")
            subject = _Value(literal="")
        if subject.static and not subject.shown():
            self.tag(node.open, None)
            if node.otherwise is not None:
                self.tag(node.otherwise, None)
                self.emit(node.inverse or [])
            self.tag(node.close, None)
            return
        depth = sum(scope.kind == "each" for scope in self.scopes)
        name = "item" if not depth else f"item{depth + 1}"
        items = f"{_group(subject.jinja())}.split({_quote(LIST_SEPARATOR)})"
        self.tag(node.open, f"for {name} in {items} if {name}")
        self.scopes.append(_Scope("each", name=name))
        self.emit(node.body)
        self.scopes.pop()
        if node.otherwise is not None:
            self.tag(node.otherwise, "else")
            self.emit(node.inverse or [])
        self.tag(node.close, "endfor")

    def with_block(self, node: hb.Block) -> None:
        line = node.open.line
        param = node.call.params[0] if len(node.call.params) == 1 else None
        if not isinstance(param, hb.Path) or param.data or param.depth:
            raise hb.Malformed(line, "{{#with}} takes one path")
        parts = self.absolute(param)
        if _is_object(parts):
            self.problem(
                CARRIED_DIFFERENTLY,
                line,
                f"{{{{#with {param.text}}}}} is shown to every recipient (Pinpoint leaves it "
                f"out for an endpoint without {'.'.join(parts)})"
                + ("; its {{else}} is left out" if node.otherwise is not None else ""),
            )
            self.tag(node.open, None)
            self.scopes.append(_Scope("with", prefix=parts))
            self.emit(node.body)
            self.scopes.pop()
            if node.otherwise is not None:
                self.tag(node.otherwise, None)
            self.tag(node.close, None)
            return
        value = self.value(param, line)
        self.scopes.append(_Scope("value", value=value))
        body = hb.Block("if", node.call, node.body, node.inverse, node.open, node.close)
        body.otherwise = node.otherwise
        self.condition_block(body)
        self.scopes.pop()

    # -------------------------------------------------------------- expressions
    def call(self, call: hb.Call, line: int) -> _Value:
        """A mustache's value: a helper's result, or a variable."""
        name = call.name
        if name is not None and (call.params or call.hash or name in ("now", "uuid")):
            return self.helper(name, call, line)
        if call.params or call.hash:
            self.problem(NO_EQUIVALENT, line, f"{{{{{call.text}}}}} is not a helper Pinpoint has")
            return _Value(literal="")
        return self.value(call.head, line)

    def value(self, param: hb.Param, line: int) -> _Value:
        if isinstance(param, hb.Literal):
            return _Value(literal=param.value)
        if isinstance(param, hb.Call):
            return self.call(param, line)
        return self.path(param, line)

    def absolute(self, path: hb.Path) -> tuple[str, ...]:
        scopes = self.scopes[: len(self.scopes) - path.depth] if path.depth else self.scopes
        prefix: tuple[str, ...] = ()
        for scope in scopes:
            if scope.kind == "with":
                prefix = scope.prefix
        parts = path.parts
        if parts[:1] == ("root",) and path.data:
            return parts[1:]
        return prefix + parts

    def path(self, path: hb.Path, line: int) -> _Value:
        scopes = self.scopes[: len(self.scopes) - path.depth] if path.depth else self.scopes
        inner = scopes[-1] if scopes else None
        if path.data and path.parts[:1] != ("root",):
            loop = next((s for s in reversed(scopes) if s.kind == "each"), None)
            field_name = path.parts[0] if path.parts else ""
            loop_fields = {"index": "loop.index0", "first": "loop.first", "last": "loop.last"}
            if loop is not None and field_name in loop_fields and loop is inner:
                return _Value(loop_fields[field_name], boolean=field_name != "index")
            self.problem(NO_EQUIVALENT, line, f"{{{{{path.text}}}}} has no equivalent here")
            return _Value(literal="")
        if path.is_this:
            if inner is not None and inner.kind == "each":
                return _Value(inner.name)
            if inner is not None and inner.kind == "value" and inner.value is not None:
                return inner.value
            self.problem(NO_EQUIVALENT, line, f"{{{{{path.text or 'this'}}}}} has no equivalent")
            return _Value(literal="")
        parts = self.absolute(path)
        while parts and parts[-1].isdigit():
            if parts[-1] != "0":
                return self.missing(
                    ".".join(parts), line, "the product keeps one text per attribute"
                )
            parts = parts[:-1]
        key = ".".join(parts)
        expression = self.mapping.variable(key)
        default = self.defaults.get(key)
        if expression is None:
            reason = (
                "no mapped attribute holds it (add it to the mapping's attributes)"
                if _mappable(parts)
                else "the product's customers have no such field"
            )
            return self.missing(path.text, line, reason, default)
        if expression == "first_name":
            return _Value("first_name")
        name = expression.split(".", 1)[1]
        self.attributes.add(name)
        return _Value(f"attributes.get({_quote(name)}, {_quote(default or '')})")

    def missing(self, text: str, line: int, reason: str, default: str | None = None) -> _Value:
        shown = f"its default {default!r}" if default else "nothing"
        self.problem(NO_EQUIVALENT, line, f"{{{{{text}}}}}: {reason}; shown as {shown}")
        return _Value(literal=default or "")

    def condition(self, call: hb.Call, line: int) -> _Value:
        """A test: eq / neq / gt / gte / lt / lte / and / or / not."""
        name = call.name or ""
        values = [self.value(p, line) for p in call.params]
        if name in _COMPARISONS:
            if len(values) != 2:
                raise hb.Malformed(line, f"{name} takes two values")
            left, right = values
            operator = _COMPARISONS[name]
            if name in ("eq", "neq"):
                if left.static and right.static:
                    same = left.literal == right.literal
                    return _Value(literal=same if name == "eq" else not same)
                code = f"{_group(left.jinja())} {operator} {_group(right.jinja())}"
                return _Value(code, boolean=True)
            self.problem(
                CARRIED_DIFFERENTLY,
                line,
                f"{name} compares numbers (a value that is not a number counts as 0)",
            )
            code = f"({_group(left.jinja())}|float) {operator} ({_group(right.jinja())}|float)"
            return _Value(code, boolean=True)
        if name == "not":
            if len(values) != 1:
                raise hb.Malformed(line, "not takes one value")
            return _negate(values[0])
        if name in ("and", "or"):
            if len(values) < 2:
                raise hb.Malformed(line, f"{name} takes two values or more")
            known = [v for v in values if v.static]
            if name == "and" and any(not v.truthy() for v in known):
                return _Value(literal=False)
            if name == "or" and any(v.truthy() for v in known):
                return _Value(literal=True)
            dynamic = [v for v in values if not v.static]
            if not dynamic:
                return _Value(literal=name == "and")
            code = f" {name} ".join(_group(v.test()) for v in dynamic)
            return _Value(code, boolean=True)
        if name in ("if", "unless") and len(values) == 1:
            return values[0] if name == "if" else _negate(values[0])
        raise hb.Malformed(line, f"{name} is not a test")

    def helper(self, name: str, call: hb.Call, line: int) -> _Value:
        if name in _CONDITIONS - {"if", "unless"}:
            test = self.condition(call, line)
            yes, no = call.option("yes"), call.option("no")
            if yes is None and no is None:
                return test if not test.static else _Value(literal=test.shown() or "false")
            yes_value = self.value(yes, line) if yes is not None else _Value(literal="")
            no_value = self.value(no, line) if no is not None else _Value(literal="")
            if test.static:
                return yes_value if test.truthy() else no_value
            return _Value(
                f"{_group(yes_value.text())} if {test.test()} else {_group(no_value.text())}"
            )
        if name not in _VALUE_HELPERS:
            why = (
                "has no equivalent" if name in _HELPERS_REPORTED else "is not a helper Pinpoint has"
            )
            self.problem(
                NO_EQUIVALENT, line, f"{{{{{call.text}}}}}: {name} {why}; shown as nothing"
            )
            return _Value(literal="")
        if name == "now":
            self.problem(
                NO_EQUIVALENT,
                line,
                f"{{{{{call.text}}}}}: campaign templates are given no send time; shown as "
                "nothing (put the date in the campaign's details)",
            )
            return _Value(literal="")
        if not call.params:
            raise hb.Malformed(line, f"{name} needs a value")
        subject = self.value(call.params[0], line)
        arguments = [self.value(p, line) for p in call.params[1:]]
        return self.string_helper(name, call, subject, arguments, line)

    def string_helper(
        self, name: str, call: hb.Call, subject: _Value, arguments: list[_Value], line: int
    ) -> _Value:
        source = _group(subject.text())
        if name in ("upper", "lower"):
            if subject.static:
                shown = subject.shown()
                return _Value(literal=shown.upper() if name == "upper" else shown.lower())
            return _Value(f"{source}|{name}")
        if name == "capitalizeFirst":
            if subject.static:
                shown = subject.shown()
                return _Value(literal=shown[:1].upper() + shown[1:])
            return _Value(f"{source}[:1]|upper ~ {source}[1:]")
        if name == "capitalize":
            fully = call.option("fully")
            if not (isinstance(fully, hb.Literal) and fully.value is True):
                self.problem(
                    CARRIED_DIFFERENTLY,
                    line,
                    "capitalize also lowercases the rest of each word ('mcDonald' becomes "
                    "'Mcdonald'; Pinpoint keeps it)",
                )
            return _Value(f'{source}.split(" ")|map("capitalize")|join(" ")')
        if name == "abbreviate":
            width = arguments[0].literal if arguments else None
            if not isinstance(width, int) or isinstance(width, bool) or width < 4:
                raise hb.Malformed(line, "abbreviate takes a width of 4 or more")
            return _Value(f'{source}|truncate({width}, True, "...", 0)')
        if name == "join":
            separator = (
                arguments[0].shown() if arguments and arguments[0].static else LIST_SEPARATOR
            )
            code = source
            if separator != LIST_SEPARATOR:
                code = f"{source}.split({_quote(LIST_SEPARATOR)})|join({_quote(separator)})"
            for key, side in (("prefix", "before"), ("suffix", "after")):
                option = call.option(key)
                if option is not None:
                    extra = self.value(option, line).text()
                    code = f"{extra} ~ {code}" if side == "before" else f"{code} ~ {extra}"
            return _Value(code)
        if name in ("replace", "cut"):
            old = arguments[0] if arguments else _Value(literal=" ")
            new = arguments[1] if name == "replace" and len(arguments) > 1 else _Value(literal="")
            return _Value(f"{source}|replace({old.text()}, {new.text()})")
        if name == "substring":
            start = arguments[0].literal if arguments else None
            end = arguments[1].literal if len(arguments) > 1 else None
            if not isinstance(start, int) or (end is not None and not isinstance(end, int)):
                raise hb.Malformed(line, "substring takes whole-number offsets")
            return _Value(f"{source}[{start}:{'' if end is None else end}]")
        if name == "inflect":
            if len(arguments) < 2:
                raise hb.Malformed(line, "inflect takes a count, a singular and a plural")
            singular, plural = arguments[0].text(), arguments[1].text()
            include = call.option("includeCount")
            counted = isinstance(include, hb.Literal) and include.value is True
            test = f"({source}|float) == 1"
            code = f"{_group(singular)} if {test} else {_group(plural)}"
            return _Value(f'{source} ~ " " ~ ({code})' if counted else code)
        # dateFormat
        self.problem(
            CARRIED_DIFFERENTLY,
            line,
            f"{{{{{call.text}}}}}: the date is shown as stored, unformatted (attributes are "
            "text; the product formats only the dates a journey passes)",
        )
        return subject


def _negate(value: _Value) -> _Value:
    if value.static:
        return _Value(literal=not value.truthy())
    return _Value(f"not {_group(value.test())}", boolean=True)


def _is_object(parts: tuple[str, ...]) -> bool:
    """A path naming a whole part of an endpoint (Location, User.UserAttributes)."""
    return parts in {
        ("User",),
        ("User", "UserAttributes"),
        ("Attributes",),
        ("Location",),
        ("Demographic",),
        ("Metrics",),
    }


def _mappable(parts: tuple[str, ...]) -> bool:
    return len(parts) >= 2 and (
        parts[0] in ("Attributes", "Demographic", "Location", "Metrics")
        or parts[:2] == ("User", "UserAttributes")
    )


# ---------------------------------------------------------------------------------- assembly
_OPENERS = re.compile(r"\{(?=[{%#])")


def _escape(text: str, before_code: bool) -> str:
    """Pinpoint text that Jinja would read as a tag, printed as text."""
    escaped = _OPENERS.sub('{{ "{" }}', text)
    if before_code and escaped.endswith("{"):
        escaped = escaped[:-1] + '{{ "{" }}'
    return escaped


def _assemble(pieces: list[_Piece], *, html_text: bool) -> str:
    merged: list[_Piece] = []
    for piece in pieces:
        if piece.kind == "text" and merged and merged[-1].kind == "text":
            merged[-1] = _Piece("text", merged[-1].code + piece.code)
        else:
            merged.append(piece)
    out: list[str] = []
    swallow = False
    for index, piece in enumerate(merged):
        following = merged[index + 1] if index + 1 < len(merged) else None
        if piece.kind == "text":
            text = piece.code[1:] if swallow and piece.code.startswith("\n") else piece.code
            text = html_escape(text, quote=False) if html_text else text
            out.append(_escape(text, following is not None))
            swallow = False
            continue
        swallow = False
        tag = piece.tag
        if piece.kind == "expr":
            out.append(f"{{{{ {piece.code} }}}}")
        elif piece.kind == "none":
            swallow = tag is not None and tag.standalone
        elif tag is not None and tag.standalone:
            out.append(f"{tag.indent}{{% {piece.code} %}}")
        else:
            line = "".join(out).rsplit("\n", 1)[-1]
            start = "{%+" if line and not line.strip(" \t") else "{%"
            newline_next = (
                following is not None
                and following.kind == "text"
                and following.code.startswith("\n")
            )
            end = "+%}" if newline_next else "%}"
            out.append(f"{start} {piece.code} {end}")
    return "".join(out)


# ---------------------------------------------------------------------------------- HTML
class _HtmlScan(HTMLParser):
    """Where Pinpoint's HTML has its body, title and head styles, and its own unsubscribe
    links (offsets into the source)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.body: tuple[int, int] | None = None
        self.body_end: int | None = None
        self.title: tuple[int, int] | None = None
        self.style_line = 0
        self.stack: list[tuple[str, int, int]] = []  # tag, start offset, end of start tag
        self.links: list[tuple[int, int, int]] = []  # start, end, line of an unsubscribe link
        self.link_text: list[str] | None = None
        self.link_href = ""
        self.paragraph_texts: dict[int, list[str]] = {}

    def position(self) -> int:
        line, column = self.getpos()
        return self.starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        start = self.position()
        end = start + len(self.get_starttag_text() or "")
        if tag == "body":
            self.body = (start, end)
        elif tag == "style" and self.body is None:
            self.style_line = self.getpos()[0]
        if tag in ("p", "div", "li", "a", "title", "td", "span", "small"):
            self.stack.append((tag, start, end))
        if tag == "a":
            self.link_text = []
            self.link_href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self.link_text is not None:
            self.link_text.append(data)
        for _, start, _ in self.stack:
            self.paragraph_texts.setdefault(start, []).append(data)

    def handle_endtag(self, tag: str) -> None:
        start = self.position()
        close = self.source.find(">", start) + 1 or len(self.source)
        if tag == "body":
            self.body_end = start
        opened = next(
            (i for i in range(len(self.stack) - 1, -1, -1) if self.stack[i][0] == tag), None
        )
        if opened is None:
            return
        name, begin, begin_end = self.stack[opened]
        del self.stack[opened:]
        if name == "title":
            self.title = (begin_end, start)
        if name == "a" and self.link_text is not None:
            words = " ".join(self.link_text) + " " + self.link_href
            self.link_text = None
            if _UNSUBSCRIBE.search(words):
                line = self.source.count("\n", 0, begin) + 1
                self.links.append(self.enclosing(begin, close, line))

    def enclosing(self, begin: int, close: int, line: int) -> tuple[int, int, int]:
        """The link, or the short paragraph it is the point of ("Don't want these? <a>")."""
        for name, start, _ in reversed(self.stack):
            if name in ("p", "div", "li", "small"):
                text = "".join(self.paragraph_texts.get(start, []))
                end_tag = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(self.source, close)
                if end_tag and len(text.strip()) <= 120:
                    return start, end_tag.end(), line
                break
        return begin, close, line


_OPENS = re.compile(r"^\{\{~?(#|\^(?!\s*~?\}\}))")
_CLOSES = re.compile(r"^\{\{~?(/|else\b|\^\s*~?\}\})")
_ELSE = re.compile(r"^\{\{~?(else\b|\^\s*~?\}\})")
_COMMENT = re.compile(r"^\{\{~?!.*\}\}$")


class _HtmlToText(HTMLParser):
    """A text part from an HTML body (its Handlebars kept): paragraphs, line breaks, list
    items, links as `text: href`, images by their alt text."""

    BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: str | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("style", "script", "head", "title"):
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "a":
            self.href = values.get("href")
        elif tag == "img" and values.get("alt"):
            self.out.append(values["alt"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.href:
            self.out.append(f": {self.href}")
            self.href = None

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        lines = [" ".join(line.split()) for line in data.split("\n")]
        self.out.append("\n".join(lines) if "\n" in data else " ".join(data.split(" ")))

    def text(self) -> str:
        """The text, a paragraph break before a block moved inside each of its branches, so a
        branch left out leaves one break, not two."""
        out: list[str] = []
        breaks: list[bool] = []  # per open block: whether its branches start with a break
        for line in (line.strip() for line in "".join(self.out).split("\n")):
            if _COMMENT.match(line):
                continue  # Handlebars drops it with its line
            if _OPENS.match(line):
                broken = bool(out) and not out[-1]
                if broken:
                    out.pop()
                out.append(line)
                breaks.append(broken)
                out += [""] if broken else []
            elif _CLOSES.match(line):
                while out and not out[-1]:
                    out.pop()
                out.append(line)
                if line.startswith(("{{/", "{{~/")):
                    breaks.pop() if breaks else None
                elif breaks and breaks[-1]:
                    out.append("")
            elif line or (
                out and out[-1] and not _OPENS.match(out[-1]) and not _ELSE.match(out[-1])
            ):
                out.append(line)
        return "\n".join(out).strip()


def _body(source: str) -> tuple[str, int, _HtmlScan]:
    """The inside of Pinpoint's <body> (the whole source without one), its first line, and
    what the scan found; the unsubscribe links blanked out (line breaks kept)."""
    scan = _HtmlScan(source)
    scan.feed(source)
    scan.close()
    begin = scan.body[1] if scan.body is not None else 0
    finish = len(source)
    if scan.body is not None and scan.body_end is not None and scan.body_end >= begin:
        finish = scan.body_end
    inner = source[begin:finish]
    for start, end, _ in sorted(scan.links, reverse=True):
        if begin <= start and end <= finish:
            inner = (
                inner[: start - begin]
                + "\n" * source.count("\n", start, end)
                + inner[end - begin :]
            )
    if scan.body is not None and scan.body_end is None:
        inner = re.sub(r"</html\s*>\s*$", "", inner, flags=re.IGNORECASE)
    first_line = source.count("\n", 0, begin) + 1
    stripped = inner.lstrip("\n")
    first_line += len(inner) - len(stripped)
    return stripped.rstrip(), first_line, scan


# ---------------------------------------------------------------------------------- templates
@dataclass
class _Folder:
    files: dict[str, str] = field(default_factory=dict)
    about: list[str] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)
    attributes: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)


def _template(data: Any) -> tuple[str, dict[str, Any]] | None:
    """The template inside a response (either shape) and its type, or None."""
    if not isinstance(data, dict):
        return None
    if len(data) == 1 and next(iter(data)) in WRAPPERS:
        inner = next(iter(data.values()))
        return (WRAPPERS[next(iter(data))], inner) if isinstance(inner, dict) else None
    kind = data.get("TemplateType")
    return (kind, data) if isinstance(kind, str) and "TemplateName" in data else None


def _defaults(
    template: dict[str, Any], name: str, report: Callable[[str, str, str], None]
) -> dict[str, str]:
    """DefaultSubstitutions (a JSON string) by variable path (`.[0]` dropped)."""
    raw = template.get("DefaultSubstitutions")
    if raw in (None, ""):
        return {}
    try:
        loaded = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        report(
            MALFORMED,
            f"{name} DefaultSubstitutions",
            f"not valid JSON ({exc.msg}); no defaults used",
        )
        return {}
    if not isinstance(loaded, dict):
        report(MALFORMED, f"{name} DefaultSubstitutions", "not a JSON object; no defaults used")
        return {}
    found: dict[str, str] = {}
    for key, value in loaded.items():
        path = hb.word(str(key))
        if isinstance(path, hb.Path):
            parts = path.parts
            while parts and parts[-1] == "0":
                parts = parts[:-1]
            found[".".join(parts)] = "" if value is None else str(value)
    return found


def convert(responses: list[tuple[str, dict[str, Any]]], mapping: Mapping) -> TemplateImport:
    """Campaign template folders for Pinpoint templates: each item is (the file it was read
    from, as the user named it; its parsed JSON: a GetEmailTemplate or GetSmsTemplate
    response, or the template object inside one)."""
    result = TemplateImport()
    seen: set[tuple[str, str]] = set()
    folders: dict[str, _Folder] = {}
    owners: dict[tuple[str, str], str] = {}

    def report(kind: str, where: str, detail: str) -> None:
        problem = Problem(kind, where, detail)
        if problem not in result.problems:
            result.problems.append(problem)

    for source, data in responses:
        found = _template(data)
        name = found[1].get("TemplateName") if found else None
        if found is None or not isinstance(name, str) or not name.strip():
            report(
                NOT_A_TEMPLATE,
                source,
                "not a Pinpoint template (a GetEmailTemplate or GetSmsTemplate response)",
            )
            continue
        kind, template = found
        if kind not in SUPPORTED_TYPES:
            report(NO_EQUIVALENT, source, f"{name}: {kind} templates have no equivalent")
            continue
        folder_name = template_folder(name)
        owner = owners.setdefault((folder_name, kind), name)
        if (name, kind) in seen or owner != name:
            report(
                SAME_FOLDER,
                source,
                f"{name} ({kind}) would become {folder_name}, which {owner} already fills; "
                "left out",
            )
            continue
        seen.add((name, kind))
        files = _convert_one(kind, name, template, mapping, report)
        if files is None:
            continue
        folder = folders.setdefault(folder_name, _Folder())
        parts, defaults, attributes = files
        folder.files.update(parts)
        folder.defaults.update(defaults)
        folder.attributes |= attributes
        folder.kinds.add(kind)
        version = template.get("Version")
        channel = "email" if kind == "EMAIL" else "SMS"
        about = f"{channel} template {name}" + (f" version {version}" if version else "")
        description = template.get("TemplateDescription")
        if isinstance(description, str) and description.strip():
            about += f" ({description.strip()})"
        folder.about.append(about)
        sources = result.sources.setdefault(folder_name, [])
        if name not in sources:
            sources.append(name)
    for folder_name, folder in sorted(folders.items()):
        folder.files["sample.json"] = _sample(folder, mapping)
        result.folders[folder_name] = dict(sorted(folder.files.items()))
        report(
            NEEDS_TRANSLATION,
            folder_name,
            "Pinpoint templates have one language: the folder holds the copy as the root "
            "(English) original, and sample.json says so (languages: [en]); lint warns of "
            "the locale folders still to write",
        )
    return result


def _convert_one(
    kind: str,
    name: str,
    template: dict[str, Any],
    mapping: Mapping,
    report: Callable[[str, str, str], None],
) -> tuple[dict[str, str], dict[str, str], set[str]] | None:
    """One template's files, the defaults and attributes they use; None (reported) when a
    part is not valid Handlebars."""
    defaults = _defaults(template, name, report)
    attributes: set[str] = set()

    def part(field_name: str, source: str, first_line: int = 1, **options: bool) -> str:
        converter = _Part(name, field_name, mapping, defaults, report)
        converted = converter.convert(source, first_line, **options)
        attributes.update(converter.attributes)
        return converted

    files: dict[str, str] = {}
    current = "Body" if kind == "SMS" else "Subject"
    try:
        if kind == "SMS":
            body = template.get("Body")
            if not isinstance(body, str) or not body.strip():
                report(NOT_A_TEMPLATE, f"{name} Body", "an SMS template without a body")
                return None
            files["sms.txt.j2"] = part("Body", body.strip()) + "\n"
        else:
            subject = template.get("Subject")
            html = template.get("HtmlPart")
            text = template.get("TextPart")
            html = html if isinstance(html, str) and html.strip() else None
            text = text if isinstance(text, str) and text.strip() else None
            if html is None and text is None:
                report(NOT_A_TEMPLATE, name, "an email template with neither HtmlPart nor TextPart")
                return None
            if not isinstance(subject, str) or not subject.strip():
                report(
                    DERIVED, f"{name} Subject", f"no subject: the template's name {name!r} is used"
                )
                subject = name
            files["email.subject.j2"] = part("Subject", " ".join(subject.split())) + "\n"
            if html is not None:
                current = "HtmlPart"
                files["email.html.j2"] = _html_file(name, html, part, report)
            if text is not None:
                current = "TextPart"
                files["email.txt.j2"] = _text_file(
                    part("TextPart", text.replace("\r\n", "\n").strip())
                )
            elif html is not None:
                current = "HtmlPart"
                inner, _, _ = _body(html.replace("\r\n", "\n"))
                derive = _HtmlToText()
                derive.feed(inner)
                derive.close()
                quiet = _Part(name, "TextPart", mapping, defaults, lambda *_: None)
                files["email.txt.j2"] = _text_file(quiet.convert(derive.text()))
                report(
                    DERIVED,
                    f"{name} TextPart",
                    "no text part: made from the HTML part; check it reads well",
                )
            if html is None and text is not None:
                quiet = _Part(name, "HtmlPart", mapping, defaults, lambda *_: None)
                content = quiet.convert(text.replace("\r\n", "\n").strip(), html_text=True)
                files["email.html.j2"] = _html_document(
                    None, '<div style="white-space:pre-wrap;">' + content + "</div>"
                )
                report(DERIVED, f"{name} HtmlPart", "no HTML part: made from the text part")
            for field_name in ("Headers", "RecommenderId"):
                if template.get(field_name):
                    report(
                        NO_EQUIVALENT,
                        f"{name} {field_name}",
                        f"{field_name} is not carried (the dispatcher sets the headers; "
                        "recommendations have no equivalent)",
                    )
    except hb.Malformed as error:
        report(
            MALFORMED,
            f"{name} {current} line {error.line}",
            f"{error.message}; the template is not converted",
        )
        return None
    return files, defaults, attributes


def _html_file(
    name: str,
    html: str,
    part: Callable[..., str],
    report: Callable[[str, str, str], None],
) -> str:
    source = html.replace("\r\n", "\n")
    inner, first_line, scan = _body(source)
    for _, _, line in scan.links:
        report(
            REPLACED_BY_LAYOUT,
            f"{name} HtmlPart line {line}",
            "its own unsubscribe link is left out: the layout's footer has the product's "
            "unsubscribe link and the postal address",
        )
    if scan.style_line:
        report(
            REPLACED_BY_LAYOUT,
            f"{name} HtmlPart line {scan.style_line}",
            "the <style> in the head is left out (the layout has its own head); inline styles "
            "are kept",
        )
    title = None
    if scan.title is not None:
        start, end = scan.title
        raw = " ".join(source[start:end].split())
        if raw:
            title = part("HtmlPart", raw, source.count("\n", 0, start) + 1)
    return _html_document(title, part("HtmlPart", inner, first_line))


def _html_document(title: str | None, content: str) -> str:
    lines = ["{% extends layout.html %}"]
    if title:
        lines.append(f"{{% block title %}}{title}{{% endblock %}}")
    lines += ["{% block content %}", content, "{% endblock %}"]
    return "\n".join(lines) + "\n"


def _text_file(content: str) -> str:
    return "{% extends layout.text %}\n{% block content %}\n" + content + "\n{% endblock %}\n"


def _sample(folder: _Folder, mapping: Mapping) -> str:
    """sample.json in the product's shape: the recipient Pinpoint's defaults describe."""
    first_name = folder.defaults.get(mapping.first_name) or mapping.first_name_default
    by_name = {name: path for path, name in mapping.attributes.items()}
    attributes = {
        name: folder.defaults[by_name[name]]
        for name in sorted(folder.attributes)
        if folder.defaults.get(by_name.get(name, ""))
    }
    sample = {
        "_about": (
            "Imported from Pinpoint: "
            + "; ".join(folder.about)
            + ". Values are the template's default substitutions where it had them; "
            "attributes a recipient may lack are left out."
        ),
        # One language (Pinpoint's templates have one): customers in the others get it too.
        "languages": ["en"],
        "context": {
            "first_name": first_name or SAMPLE_FIRST_NAME,
            "prospect": False,
            "attributes": attributes,
            "link": SAMPLE_LINK,
            "details": {},
        },
    }
    return json.dumps(sample, indent=2, ensure_ascii=False) + "\n"


def write(result: TemplateImport, templates_dir: Path, dry_run: bool) -> dict[str, Outcome]:
    """Write each converted folder under `templates_dir` (or, with `dry_run`, only tell what
    writing would do): new, updated, unchanged, or kept (a folder the import did not make, or
    one edited since: left as it is, with a problem added to the result), by folder."""
    outcomes: dict[str, Outcome] = {}
    for folder, files in sorted(result.folders.items()):
        outcome = write_files(templates_dir / folder, files, dry_run, own_folder=True)
        if outcome is Outcome.KEPT:
            result.problems.append(
                Problem(
                    NOT_WRITTEN,
                    f"templates/{folder}",
                    "edited since the import wrote it, or not the import's: left as it is "
                    f"(from {', '.join(result.sources.get(folder, []))}; move the folder away "
                    "to have it written again)",
                )
            )
        outcomes[folder] = outcome
    return outcomes
