"""HTTP rule path templates: parsing and matching (the ``google.api.http`` grammar).

::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Matching follows Envoy's transcoder (the grpc-httpjson-transcoding path
matcher): literals compare with the raw (still percent-encoded) request
segment; a variable over one segment is fully percent-decoded; a variable
over several segments keeps RFC 6570 reserved characters encoded, so ``/``
inside a value stays distinguishable from a separator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

# gen-delims and sub-delims of RFC 6570/3986.
_RESERVED = frozenset(":/?#[]@!$&'()*+,;=")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TemplateError(ValueError):
    """An HTTP rule path that does not follow the template grammar."""


@dataclass(frozen=True)
class Variable:
    """A ``{field.path=...}`` variable over segments ``start`` to ``end`` (``end`` None: to the end)."""

    field_path: str
    start: int
    end: int | None


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template: segments (``"*"``, ``"**"`` or a literal), variables, verb."""

    source: str
    segments: tuple[str, ...]
    literal: tuple[bool, ...]
    variables: tuple[Variable, ...]
    verb: str

    @property
    def openapi_path(self) -> str:
        """The template as an OpenAPI path: each variable as ``{field.path}``."""
        parts: list[str] = []
        i = 0
        wildcard = 0
        by_start = {v.start: v for v in self.variables}
        while i < len(self.segments):
            var = by_start.get(i)
            if var is not None:
                parts.append("{" + var.field_path + "}")
                i = len(self.segments) if var.end is None else var.end
                continue
            if self.literal[i]:
                parts.append(self.segments[i])
            else:
                wildcard += 1
                parts.append("{_wildcard%d}" % wildcard)  # noqa: UP031 - braces read better
            i += 1
        return "/" + "/".join(parts) + (f":{self.verb}" if self.verb else "")

    @property
    def specificity(self) -> tuple[int, ...]:
        """Sort key: literal segments before variables before ``**``, left to right."""
        pairs = zip(self.segments, self.literal, strict=True)
        return tuple(0 if lit else (2 if seg == "**" else 1) for seg, lit in pairs)

    def match(self, parts: list[str], verb: str) -> dict[str, str] | None:
        """The variable bindings when raw path ``parts`` (and ``verb``) match; else None."""
        if verb != self.verb:
            return None
        n = len(self.segments)
        double = n > 0 and self.segments[-1] == "**" and not self.literal[-1]
        if double:
            if len(parts) < n - 1:
                return None
        elif len(parts) != n:
            return None
        for i, seg in enumerate(self.segments):
            if self.literal[i]:
                if parts[i] != seg:
                    return None
            elif seg == "*" and parts[i] == "":
                return None
        bindings: dict[str, str] = {}
        for var in self.variables:
            end = len(parts) if var.end is None else var.end
            values = parts[var.start : end]
            if len(values) == 1 and var.end is not None:
                # Undecodable bytes survive as surrogates; the transcoder rejects them.
                bindings[var.field_path] = unquote(values[0], errors="surrogateescape")
            else:
                bindings[var.field_path] = "/".join(_unescape_unreserved(v) for v in values)
        return bindings


def _unescape_unreserved(segment: str) -> str:
    def repl(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return m.group(0) if char in _RESERVED or ord(char) > 0x7F else char

    return _PERCENT.sub(repl, segment)


def parse_template(source: str) -> PathTemplate:
    """Parse an HTTP rule path such as ``/api/runs/{run_id}/files:rename``."""
    if not source.startswith("/"):
        raise TemplateError(f"{source!r}: a template starts with '/'")
    body, verb = source[1:], ""
    # The verb follows the last ':' outside braces.
    depth = 0
    for i, ch in enumerate(body):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == ":" and depth == 0:
            body, verb = body[:i], body[i + 1 :]
            if not verb or "/" in verb:
                raise TemplateError(f"{source!r}: bad verb")
            break
    segments: list[str] = []
    literal: list[bool] = []
    variables: list[Variable] = []
    for token in _split_top_level(body, source):
        if token.startswith("{"):
            if not token.endswith("}"):
                raise TemplateError(f"{source!r}: unclosed variable")
            inner = token[1:-1]
            field_path, _, pattern = inner.partition("=")
            if not all(_IDENT.fullmatch(p) for p in field_path.split(".")):
                raise TemplateError(f"{source!r}: bad field path {field_path!r}")
            start = len(segments)
            for sub in (pattern or "*").split("/"):
                _add_plain(sub, segments, literal, source)
            end: int | None = len(segments)
            if segments[-1] == "**" and not literal[-1]:
                end = None
            variables.append(Variable(field_path, start, end))
        else:
            _add_plain(token, segments, literal, source)
    for i, (seg, lit) in enumerate(zip(segments, literal, strict=True)):
        if seg == "**" and not lit and i != len(segments) - 1:
            raise TemplateError(f"{source!r}: '**' may only be the last segment")
    return PathTemplate(source, tuple(segments), tuple(literal), tuple(variables), verb)


def _split_top_level(body: str, source: str) -> list[str]:
    tokens: list[str] = []
    depth = 0
    current = ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError(f"{source!r}: unbalanced braces")
        if ch == "/" and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += ch
    if depth:
        raise TemplateError(f"{source!r}: unbalanced braces")
    tokens.append(current)
    return tokens


def _add_plain(token: str, segments: list[str], literal: list[bool], source: str) -> None:
    if token in ("*", "**"):
        segments.append(token)
        literal.append(False)
    elif token and not any(c in token for c in "{}*:"):
        segments.append(token)
        literal.append(True)
    else:
        raise TemplateError(f"{source!r}: bad segment {token!r}")


def split_request_path(raw_path: str) -> list[tuple[list[str], str]]:
    """The ways a raw request path can be read: (segments, verb) candidates.

    A ``:`` in the last segment may start a custom verb, or be part of the
    segment; both readings are tried, the verb first (as Envoy does).
    """
    parts = raw_path[1:].split("/") if raw_path.startswith("/") else raw_path.split("/")
    readings: list[tuple[list[str], str]] = []
    last = parts[-1]
    if ":" in last:
        head, _, verb = last.rpartition(":")
        readings.append(([*parts[:-1], head], verb))
    readings.append((parts, ""))
    return readings
