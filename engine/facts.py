"""Escape facts: the compiler's `-m=2` diagnostics parsed into records, and the class of each."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.parsing import FUNCTION_TYPES, SourceFile, enclosing, function_name, node_at

# The escape diagnostics come from `-gcflags=-m=2` text, not from `-json=0,file://DIR`:
# - the text is replayed from the build cache, so an unchanged package costs no compile, while
#   the JSON log is only written on a real compile (a fresh DIR forces a rebuild of every package);
# - the text keeps "moved to heap: x" apart from "x escapes to heap" (the JSON log merges them)
#   and prints "inlining call to F" at the positions where inlined bodies allocate;
# - `-m=2` adds the enclosing function ("escapes to heap in F:") and the flow explanation.
# The flag is given as `-gcflags=-m=2` without `all=` on purpose: it then covers only the packages
# named on the command line, which are the ones goescape may edit.
GCFLAGS = "-gcflags=-m=2"

_POS = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")
_DETAIL_ESCAPE = re.compile(r"^(?P<expr>.+) escapes to heap in (?P<func>.+):$")
_DETAIL_LEAK = re.compile(r"^parameter (?P<expr>\S+) leaks to (?P<dest>.+) for (?P<func>\S+) with derefs=-?\d+:$")
_INLINING = re.compile(r"^inlining call to (?P<callee>.+)$")
_CONSTANT = re.compile(
    r"""^(?:"(?:[^"\\]|\\.)*"|`[^`]*`|'(?:[^'\\]|\\.)+'|-?[0-9][0-9a-fA-FxXoObB_.eEpP+-]*i?|true|false|nil)$"""
)


class Kind(str, enum.Enum):
    MOVED = "moved to heap"
    ESCAPES = "escapes to heap"
    FUNC_LITERAL = "func literal escapes"
    LEAKING_PARAM = "leaking param"
    LEAKING_CONTENT = "leaking param content"

    @property
    def allocates(self) -> bool:
        return self in (Kind.MOVED, Kind.ESCAPES, Kind.FUNC_LITERAL)


class Class(str, enum.Enum):
    """Where an escape line stands for a user: exactly one of these per line."""

    CODEMOD = "addressed by codemod"
    INLINED = "inside an inlined callee"
    CONSTANT = "constant, no allocation"
    DUPLICATE = "duplicate"
    NO_REWRITE = "no known rewrite"


@dataclass(frozen=True)
class EscapeFact:
    """One escape diagnostic of the compiler, located in the source."""

    package: str
    path: Path
    line: int
    column: int
    offset: int
    kind: Kind
    expr: str
    function: str
    flow: tuple[str, ...]
    message: str
    inlined: tuple[str, ...] = ()  # "inlining call to F" printed at the same position, outermost first

    @property
    def key(self) -> tuple[str, int, int, str, str]:
        """Identity that survives unrelated edits elsewhere in the file only by line; see `same_site`."""
        return (str(self.path), self.line, self.column, self.kind.value, self.expr)

    def where(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def why(self) -> str:
        """One line of the flow: the last `from ...` step, which names what made it escape."""
        steps = [s.strip() for s in self.flow if s.strip().startswith("from ")]
        if steps:
            return re.sub(r" at \S+:\d+:\d+$", "", steps[-1]).removeprefix("from ")
        return self.message


@dataclass(frozen=True)
class Classified:
    fact: EscapeFact
    cls: Class
    detail: str = ""  # the codemod's name, the inlined callee, or what it duplicates


@dataclass
class _Detail:
    function: str
    flow: list[str] = field(default_factory=list)


def _kind_and_expr(msg: str) -> tuple[Kind, str] | None:
    if msg.startswith("moved to heap: "):
        return Kind.MOVED, msg.removeprefix("moved to heap: ")
    if msg.startswith("leaking param content: "):
        return Kind.LEAKING_CONTENT, msg.removeprefix("leaking param content: ")
    if msg.startswith("leaking param: "):
        return Kind.LEAKING_PARAM, msg.removeprefix("leaking param: ").split(" ")[0]
    if msg.endswith(" escapes to heap"):
        expr = msg.removesuffix(" escapes to heap")
        return (Kind.FUNC_LITERAL if expr == "func literal" else Kind.ESCAPES), expr
    return None


def parse_diagnostics(
    text: str, cwd: Path, sources: dict[Path, SourceFile] | None = None, overlay_names: dict[str, Path] | None = None
) -> list[EscapeFact]:
    """Parse `go build -gcflags=-m=2` output into facts, in the order the compiler printed them.

    `sources` supplies parsed files for byte offsets and enclosing functions; `overlay_names`
    maps overlay copies back to the user's paths in case a tool reports the copy.
    """
    package = ""
    details: dict[tuple[Path, int, int, str], _Detail] = {}
    inlining: dict[tuple[Path, int, int], list[str]] = {}
    current: _Detail | None = None
    raw: list[tuple[str, Path, int, int, Kind, str, str]] = []
    for line in text.splitlines():
        if line.startswith("# "):
            package = line[2:].strip()
            current = None
            continue
        m = _POS.match(line)
        if not m:
            continue
        path = _resolve(m.group("file"), cwd, overlay_names)
        ln, col, msg = int(m.group("line")), int(m.group("col")), m.group("msg")
        if msg.startswith(" ") and current is not None:
            current.flow.append(msg.strip())
            continue
        current = None
        if detail := _DETAIL_ESCAPE.match(msg) or _DETAIL_LEAK.match(msg):
            current = details.setdefault((path, ln, col, detail.group("expr")), _Detail(detail.group("func")))
            continue
        if inl := _INLINING.match(msg):
            inlining.setdefault((path, ln, col), []).append(inl.group("callee"))
            continue
        if (found := _kind_and_expr(msg)) is not None:
            raw.append((package, path, ln, col, found[0], found[1], msg))
    facts = []
    for package, path, ln, col, kind, expr, msg in raw:
        detail = details.get((path, ln, col, expr))
        src = (sources or {}).get(path)
        offset = src.offset(ln, col) if src is not None and ln <= len(src.data.splitlines()) + 1 else -1
        function = detail.function if detail else ""
        if not function and src is not None and offset >= 0:
            fn = enclosing(node_at(src, offset), *FUNCTION_TYPES[:2])
            function = function_name(src, fn) if fn is not None else ""
        facts.append(
            EscapeFact(
                package=package,
                path=path,
                line=ln,
                column=col,
                offset=offset,
                kind=kind,
                expr=expr,
                function=function,
                flow=tuple(detail.flow) if detail else (),
                message=msg,
                inlined=tuple(inlining.get((path, ln, col), ())),
            )
        )
    return facts


def _resolve(name: str, cwd: Path, overlay_names: dict[str, Path] | None) -> Path:
    if name.startswith("<"):
        return Path(name)
    path = (cwd / name).resolve() if not name.startswith("/") else Path(name)
    if overlay_names and str(path) in overlay_names:
        return overlay_names[str(path)]
    return path


def _source_says(src: SourceFile, fact: EscapeFact) -> bool:
    """Whether the source at the fact's position spells the expression the compiler names.

    The compiler abbreviates composite literals and calls (`&T{...}`, `f(...)`), so only the
    part before the first elision is compared.
    """
    if fact.offset < 0:
        return True
    expr = fact.expr
    if expr in ("... argument", "func literal"):
        return True
    head = re.split(r"\{\.\.\.\}|\(\.\.\.\)|\.\.\.", expr, maxsplit=1)[0].strip()
    head = head.removeprefix("&").removeprefix("(").strip() or expr
    window = src.data[max(0, fact.offset - 2) : fact.offset + len(head) + 64].decode("utf-8", "replace")
    if head in window:
        return True
    # Conversions print the converted type ("string(b)"), which the source may spell differently.
    return bool(re.match(r"^[\w.\[\]*]+\(", expr)) and not fact.inlined


def classify(
    facts: Sequence[EscapeFact],
    sources: dict[Path, SourceFile],
    addressed: dict[tuple[str, int, int, str, str], str],
) -> list[Classified]:
    """Put each fact in exactly one Class; `addressed` maps fact keys to the codemod proposing a fix."""
    seen: dict[tuple[str, int, int, str, str], EscapeFact] = {}
    out: list[Classified] = []
    for fact in facts:
        if str(fact.path).startswith("<") or fact.key in seen:
            first = seen.get(fact.key)
            out.append(Classified(fact, Class.DUPLICATE, first.where() if first else str(fact.path)))
            continue
        seen[fact.key] = fact
        if fact.key in addressed:
            out.append(Classified(fact, Class.CODEMOD, addressed[fact.key]))
            continue
        if _CONSTANT.match(fact.expr):
            out.append(Classified(fact, Class.CONSTANT, "a constant boxed into an interface points at static data"))
            continue
        src = sources.get(fact.path)
        if fact.inlined and (src is None or not _source_says(src, fact)):
            out.append(Classified(fact, Class.INLINED, fact.inlined[-1]))
            continue
        out.append(Classified(fact, Class.NO_REWRITE))
    return out


def allocation_facts(facts: Iterable[EscapeFact]) -> list[EscapeFact]:
    return [f for f in facts if f.kind.allocates]
