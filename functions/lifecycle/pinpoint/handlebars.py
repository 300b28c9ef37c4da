"""A lexer and parser for the Handlebars that Amazon Pinpoint message templates are written in,
with line numbers, for the template import to translate (it never renders Handlebars itself).

What it reads: text; `{{expr}}` and `{{{expr}}}` (and `{{&expr}}`); block helpers
`{{#name ...}}` ... `{{else}}` / `{{else name ...}}` / `{{^}}` ... `{{/name}}`; inverted
sections `{{^name}}`; comments `{{! }}` and `{{!-- --}}`; partials `{{> name}}` (reported by the
import); `\\{{` for a literal `{{`; whitespace control `{{~` and `~}}`. An expression is a helper
or path followed by parameters: paths (`User.UserAttributes.FirstName`, `Attributes.[Last
Name].[0]`, `this`, `../x`, `@index`), string, number, boolean and null literals, hash
arguments (`tz=Europe/Amsterdam`, `yes="y"`) and sub-expressions `(eq a "b")`.

Whitespace follows Handlebars: a line holding nothing but one block tag, `{{else}}`, a comment
or a partial (a *standalone* tag) is left out of the output with its line break; the parser
marks such tags `standalone` (with the indentation it removed), so a translation can keep
the same lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The tags that can stand alone on a line (and take the line with them).
STANDALONE_KINDS = frozenset({"open", "close", "else", "inverse", "comment", "partial"})


class Malformed(ValueError):
    """Handlebars that cannot be parsed: what is wrong and on which line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass
class Text:
    value: str
    line: int


@dataclass
class Tag:
    """One `{{...}}`. `kind`: mustache (escaped), raw (`{{{ }}}`, `{{& }}`), open (`{{#`),
    inverse (`{{^name`), else, close, comment, partial."""

    kind: str
    body: str
    line: int
    strip_before: bool = False
    strip_after: bool = False
    standalone: bool = False
    indent: str = ""


@dataclass(frozen=True)
class Path:
    """`User.UserAttributes.FirstName` as its segments; `depth` counts `../`; `data` is `@`."""

    parts: tuple[str, ...]
    text: str
    depth: int = 0
    data: bool = False

    @property
    def is_this(self) -> bool:
        return not self.parts and not self.data


@dataclass(frozen=True)
class Literal:
    value: str | int | float | bool | None
    text: str


@dataclass(frozen=True)
class Call:
    """A helper call or a lone path: `head params... key=value...`."""

    head: Param
    params: tuple[Param, ...] = ()
    hash: tuple[tuple[str, Param], ...] = ()

    @property
    def name(self) -> str | None:
        """The helper's name when the head is a plain one-segment path (`upper`, `eq`)."""
        head = self.head
        if isinstance(head, Path) and not head.data and head.depth == 0 and len(head.parts) == 1:
            return head.parts[0]
        return None

    def option(self, key: str) -> Param | None:
        return next((value for name, value in self.hash if name == key), None)

    @property
    def text(self) -> str:
        words = [_text(self.head), *(_text(p) for p in self.params)]
        words += [f"{key}={_text(value)}" for key, value in self.hash]
        return " ".join(words)


Param = Path | Literal | Call


def _text(param: Param) -> str:
    return f"({param.text})" if isinstance(param, Call) else param.text


@dataclass
class Mustache:
    call: Call
    tag: Tag


@dataclass
class Block:
    """`{{#name ...}}body{{else}}inverse{{/name}}`; `inverted` for `{{^name}}`. A chained
    `{{else if x}}` is a Block alone in `inverse`, with `chained` set, sharing the close tag."""

    name: str
    call: Call
    body: list[Node]
    inverse: list[Node] | None
    open: Tag
    close: Tag
    otherwise: Tag | None = None
    inverted: bool = False
    chained: bool = False


@dataclass
class Other:
    """A comment or a partial: it prints nothing (the import reports partials)."""

    tag: Tag


Node = Text | Mustache | Block | Other


# ---------------------------------------------------------------------------------- lexing
_COMMENT_LONG_END = re.compile(r"--(~?)}}")
_COMMENT_END = re.compile(r"(~?)}}")
_RAW_END = re.compile(r"}(~?)}}")


def lex(source: str, first_line: int = 1) -> list[Text | Tag]:
    """The text and tags of `source`, whitespace control and standalone lines applied."""
    tokens: list[Text | Tag] = []
    position, line, size = 0, first_line, len(source)
    pending: list[str] = []
    pending_line = line

    def add_text(text: str) -> None:
        nonlocal pending_line
        if not pending:
            pending_line = line
        pending.append(text)

    def flush() -> None:
        if pending:
            tokens.append(Text("".join(pending), pending_line))
            pending.clear()

    while position < size:
        start = source.find("{{", position)
        if start < 0:
            add_text(source[position:])
            break
        escaped = start > position and source[start - 1] == "\\"
        if escaped and not (start - 1 > position and source[start - 2] == "\\"):
            add_text(source[position : start - 1] + "{{")
            line += source.count("\n", position, start + 2)
            position = start + 2
            continue
        add_text(source[position : start - 1] if escaped else source[position:start])
        line += source.count("\n", position, start)
        tag, end = _read_tag(source, start, line)
        flush()
        tokens.append(tag)
        line += source.count("\n", start, end)
        position = end
    flush()
    _strip_whitespace(tokens)
    return [t for t in tokens if not (isinstance(t, Text) and not t.value)]


def _read_tag(source: str, start: int, line: int) -> tuple[Tag, int]:
    at = start + 2
    strip_before = source.startswith("~", at)
    at += strip_before
    if source.startswith("!--", at):
        found = _COMMENT_LONG_END.search(source, at + 3)
        if not found:
            raise Malformed(line, "a comment {{!-- is never closed (no --}})")
        return Tag("comment", "", line, strip_before, bool(found.group(1))), found.end()
    if source.startswith("!", at):
        found = _COMMENT_END.search(source, at + 1)
        if not found:
            raise Malformed(line, "a comment {{! is never closed (no }})")
        return Tag("comment", "", line, strip_before, bool(found.group(1))), found.end()
    if source.startswith("{", at):
        found = _RAW_END.search(source, at + 1)
        if not found:
            raise Malformed(line, "{{{ is never closed (no }}})")
        body = source[at + 1 : found.start()].strip()
        return Tag("raw", body, line, strip_before, bool(found.group(1))), found.end()
    end = _mustache_end(source, at)
    if end < 0:
        raise Malformed(line, "{{ is never closed (no }})")
    body = source[at:end]
    strip_after = body.endswith("~")
    body = (body[:-1] if strip_after else body).strip()
    kind, body = _kind(body)
    if not body and kind not in ("else", "comment"):
        raise Malformed(line, "an empty {{ }}")
    return Tag(kind, body, line, strip_before, strip_after), end + 2


def _mustache_end(source: str, at: int) -> int:
    """Where the `}}` closing a mustache starts, skipping quoted strings."""
    quote = ""
    index = at
    while index < len(source) - 1:
        char = source[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif source.startswith("}}", index):
            return index
        index += 1
    return -1


def _kind(body: str) -> tuple[str, str]:
    if body.startswith("#"):
        rest = body[1:].strip()
        if rest.startswith(("*", ">")):  # decorators (inline partials) and partial blocks
            return "partial", rest
        return "open", rest
    if body.startswith("/"):
        return "close", body[1:].strip()
    if body.startswith("^"):
        rest = body[1:].strip()
        return ("else", "") if not rest else ("inverse", rest)
    if body.startswith(">"):
        return "partial", body[1:].strip()
    if body.startswith("&"):
        return "raw", body[1:].strip()
    if body == "else" or body.startswith(("else ", "else\t", "else\n")):
        return "else", body[4:].strip()
    return "mustache", body


_LINE_END = re.compile(r"^[ \t]*(\n|\Z)")
_LINE_START = re.compile(r"(^|\n)([ \t]*)\Z")


def _strip_whitespace(tokens: list[Text | Tag]) -> None:
    for index, token in enumerate(tokens):
        if not isinstance(token, Tag):
            continue
        before = tokens[index - 1] if index else None
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.strip_before and isinstance(before, Text):
            before.value = before.value.rstrip()
        if token.strip_after and isinstance(after, Text):
            after.value = after.value.lstrip()
    for index, token in enumerate(tokens):
        if not isinstance(token, Tag) or token.kind not in STANDALONE_KINDS:
            continue
        before = tokens[index - 1] if index else None
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        if before is not None and not isinstance(before, Text):
            continue
        if after is not None and not isinstance(after, Text):
            continue
        opening = _LINE_START.search(before.value) if before is not None else None
        if before is not None and (opening is None or (not opening.group(1) and index > 1)):
            continue  # something else is on the line before the tag
        closing = _LINE_END.match(after.value) if after is not None else None
        if after is not None and (
            closing is None or (not closing.group(1) and index + 2 < len(tokens))
        ):
            continue  # something else is on the line after the tag
        token.standalone = True
        if before is not None and opening is not None:
            token.indent = opening.group(2)
            before.value = before.value[: len(before.value) - len(token.indent)]
        if after is not None and closing is not None:
            # Keep the line break (as "\n"): the translation decides what takes it.
            after.value = "\n" + after.value[closing.end() :] if closing.group(1) else ""


# ---------------------------------------------------------------------------------- parsing
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<open>\()
      | (?P<close>\))
      | (?P<key>[A-Za-z_][\w-]*)=
      | (?P<word>(?:\[[^\]]*\]|[^\s()=\[\]"'])+)
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_KEYWORDS: dict[str, str | bool | None] = {"true": True, "false": False, "null": None}


def parse_call(body: str, line: int) -> Call:
    """The helper call or path in a tag's body."""
    words = _words(body, line)
    call, used = _call(words, 0, line, body)
    if used != len(words):
        raise Malformed(line, f"unexpected ')' in {{{{{body}}}}}")
    return call


def _words(body: str, line: int) -> list[tuple[str, str]]:
    words: list[tuple[str, str]] = []
    at = 0
    while at < len(body):
        if not body[at:].strip():
            break
        found = _TOKEN.match(body, at)
        if not found or found.end() == at:
            raise Malformed(line, f"cannot read {{{{{body}}}}} from {body[at:].strip()!r}")
        kind = found.lastgroup or ""
        words.append((kind, found.group(kind)))
        at = found.end()
    return words


def _call(words: list[tuple[str, str]], at: int, line: int, body: str) -> tuple[Call, int]:
    params: list[Param] = []
    options: list[tuple[str, Param]] = []
    while at < len(words):
        kind, value = words[at]
        if kind == "close":
            break
        if kind == "key":
            if at + 1 >= len(words) or words[at + 1][0] in ("close", "key"):
                raise Malformed(line, f"{value}= has no value in {{{{{body}}}}}")
            param, at = _param(words, at + 1, line, body)
            options.append((value, param))
            continue
        if options:
            raise Malformed(line, f"a parameter after key=value in {{{{{body}}}}}")
        param, at = _param(words, at, line, body)
        params.append(param)
    if not params:
        raise Malformed(line, f"nothing to call in {{{{{body}}}}}")
    return Call(params[0], tuple(params[1:]), tuple(options)), at


def _param(words: list[tuple[str, str]], at: int, line: int, body: str) -> tuple[Param, int]:
    kind, value = words[at]
    if kind == "open":
        call, end = _call(words, at + 1, line, body)
        if end >= len(words) or words[end][0] != "close":
            raise Malformed(line, f"a '(' is never closed in {{{{{body}}}}}")
        return call, end + 1
    if kind == "string":
        inner = re.sub(r"\\(.)", r"\1", value[1:-1])
        return Literal(inner, value), at + 1
    if kind == "word":
        return word(value), at + 1
    raise Malformed(line, f"unexpected {value!r} in {{{{{body}}}}}")


def word(value: str) -> Path | Literal:
    """A bare word: a number, true/false/null/undefined, or a path."""
    if _NUMBER.match(value):
        number: int | float = float(value) if "." in value else int(value)
        return Literal(number, value)
    if value in _KEYWORDS:
        return Literal(_KEYWORDS[value], value)
    if value == "undefined":
        return Literal(None, value)
    rest, depth, data = value, 0, False
    while rest.startswith("../"):
        rest, depth = rest[3:], depth + 1
    if rest.startswith("@"):
        rest, data = rest[1:], True
    parts = [p[1:-1] if p.startswith("[") else p for p in _segments(rest)]
    if parts[:1] == ["this"]:
        parts = parts[1:]
    return Path(tuple(p for p in parts if p), value, depth, data)


def _segments(path: str) -> list[str]:
    return re.findall(r"\[[^\]]*\]|[^./\[\]]+", path)


@dataclass
class _Parser:
    tokens: list[Text | Tag]
    at: int = 0
    opened: list[Tag] = field(default_factory=list)

    def program(self) -> tuple[list[Node], Tag | None]:
        """Nodes up to an `{{else}}` or a close tag (returned), or the end (None)."""
        nodes: list[Node] = []
        while self.at < len(self.tokens):
            token = self.tokens[self.at]
            self.at += 1
            if isinstance(token, Text):
                nodes.append(token)
            elif token.kind in ("else", "close"):
                return nodes, token
            elif token.kind in ("mustache", "raw"):
                nodes.append(Mustache(parse_call(token.body, token.line), token))
            elif token.kind in ("open", "inverse"):
                nodes.append(self.block(token, token.body, token.kind == "inverse"))
            else:
                nodes.append(Other(token))
        return nodes, None

    def block(self, open_tag: Tag, body: str, inverted: bool, closes: str | None = None) -> Block:
        """A block from its open tag to its close; `closes`: the name a chained block's close
        must have (the block it was chained to)."""
        call = parse_call(body, open_tag.line)
        name = call.name or _text(call.head)
        chained = closes is not None
        closes = (call.name or "") if closes is None else closes
        contents, end = self.program()
        inverse: list[Node] | None = None
        otherwise: Tag | None = None
        if end is not None and end.kind == "else":
            otherwise = end
            if end.body:  # {{else if x}}: a block of its own, closed by this block's close
                chained_block = self.block(end, end.body, False, closes)
                return Block(
                    name,
                    call,
                    contents,
                    [chained_block],
                    open_tag,
                    chained_block.close,
                    otherwise,
                    inverted,
                    chained,
                )
            inverse, end = self.program()
            if end is not None and end.kind == "else":
                raise Malformed(end.line, f"a second {{{{else}}}} in {{{{#{name}}}}}")
        if end is None:
            raise Malformed(open_tag.line, f"{{{{#{name}}}}} is never closed (no {{{{/{name}}}}})")
        if end.body != closes:
            raise Malformed(
                end.line, f"{{{{/{end.body}}}}} closes {{{{#{closes}}}}} of line {open_tag.line}"
            )
        return Block(name, call, contents, inverse, open_tag, end, otherwise, inverted, chained)


def parse(source: str, first_line: int = 1) -> list[Node]:
    """The template's nodes; Malformed (with its line) when it is not valid Handlebars."""
    parser = _Parser(lex(source.replace("\r\n", "\n"), first_line))
    nodes, end = parser.program()
    if end is not None:
        what = "{{else}}" if end.kind == "else" else f"{{{{/{end.body}}}}}"
        raise Malformed(end.line, f"{what} without an open block")
    return nodes
