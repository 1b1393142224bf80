"""Directives: the `//goescape:` and `//gcassert:` comments that silence or forbid escapes.

They are line comments, read as gcassert reads its own: at the end of a line they cover that
line; on a line of their own they cover the statement or declaration that follows, and in a
function's doc comment the whole function.
- `//goescape:ignore <reason>` silences the escapes it covers; the reason is required.
- `//goescape:noescape` and gcassert's `//gcassert:noescape` fail the gate when anything it covers
  escapes, new or not.
An ignore that covers no escape is reported as unused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError
from goescape.engine.facts import EscapeFact
from goescape.engine.parsing import Node, SourceFile, parse_file, walk
from goescape.engine.proposals import Proposal, Skip

_DIRECTIVE = re.compile(rb"//(goescape|gcassert):(\S*)([^\n]*)")
_SPACED = re.compile(rb"//[ \t]+goescape:(?:ignore|noescape)\b")
_DECLARATIONS = ("function_declaration", "method_declaration")


@dataclass(frozen=True)
class Directive:
    """One `//goescape:` or `//gcassert:` comment and the lines it covers."""

    path: Path
    line: int  # where the comment is
    verb: str  # "ignore" or "noescape"
    reason: str
    first: int  # covered lines, inclusive
    last: int
    tool: str = "goescape"  # or "gcassert"

    def covers(self, fact: EscapeFact) -> bool:
        return fact.path == self.path and self.first <= fact.line <= self.last

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def directives(paths: Iterable[Path]) -> list[Directive]:
    """Every goescape and gcassert directive in the files; only files that spell one are parsed.

    Errors: GoescapeError naming file and line for an ignore without a reason, an unknown verb, or
    `// goescape:ignore` spelt with a space (it would otherwise be prose, silently).
    """
    out: list[Directive] = []
    for path in sorted(set(paths)):
        data = path.read_bytes()
        if b"goescape:" not in data and b"//gcassert:noescape" not in data:
            continue
        src = parse_file(path)
        for node in walk(src.root):
            if node.type != "comment":
                continue
            text = src.data[node.start_byte : node.end_byte].rstrip()
            m = _DIRECTIVE.fullmatch(text)
            if not m and _SPACED.match(text):
                # Like //go: directives, ours have no space; with one it would silently be prose.
                raise GoescapeError(
                    "a //goescape: directive has a space after //",
                    path=f"{path}:{node.start_point[0] + 1}",
                    hint="write it //goescape:ignore <reason> or //goescape:noescape, with no space",
                )
            if not m:
                continue
            tool, verb, rest = m.group(1).decode(), m.group(2).decode(), m.group(3).decode().strip()
            line = node.start_point[0] + 1
            if tool == "gcassert" and verb != "noescape":
                continue  # gcassert's inline and bce are not escapes
            if verb not in ("ignore", "noescape"):
                raise GoescapeError(
                    f"unknown directive //goescape:{verb}",
                    path=f"{path}:{line}",
                    hint="use ignore <reason> or noescape",
                )
            if verb == "ignore" and not rest:
                raise GoescapeError(
                    "//goescape:ignore needs a reason",
                    path=f"{path}:{line}",
                    hint="write why this allocation may stay, e.g. //goescape:ignore built once at start-up",
                )
            first, last = _covered(src, node)
            out.append(Directive(path, line, verb, rest, first, last, tool))
    return out


def honoured(proposals: Sequence[Proposal | Skip], found: Sequence[Directive]) -> list[Proposal | Skip]:
    """The proposals, each one whose escape is on a line a `//goescape:ignore` covers made a Skip
    giving the comment's reason: what the code's authors chose to keep, `fix` leaves alone."""
    ignores = [d for d in found if d.verb == "ignore"]
    out: list[Proposal | Skip] = []
    for p in proposals:
        # A rewrite proven at run time may target no escape: its own line is what the comment covers.
        lines = [(t.path, t.line) for t in p.targets] or [(p.path, p.line)]
        said = (
            next((d for d in ignores for at, line in lines if d.path == at and d.first <= line <= d.last), None)
            if isinstance(p, Proposal)
            else None
        )
        if said is None:
            out.append(p)
            continue
        why = f"{said.where()} says //goescape:ignore {said.reason}"
        out.append(Skip(p.codemod, p.path, p.line, p.function, why, p.targets))
    return out


def _covered(src: SourceFile, node: Node) -> tuple[int, int]:
    """The lines a directive comment covers: its own line when code precedes it there, else the next
    statement or declaration (all of a function whose doc comment holds it)."""
    row = node.start_point[0]
    prev = node.prev_sibling
    if prev is not None and prev.type != "comment" and prev.end_point[0] == row:
        # After the closing brace of a statement that spans lines: that whole statement.
        start = prev.start_point[0] if prev.type not in ("{", "(", ",") else row
        return start + 1, row + 1
    following = node.next_named_sibling
    while following is not None and following.type == "comment":
        following = following.next_named_sibling
    if following is None:
        return row + 1, row + 1
    if following.type in _DECLARATIONS or following.type.endswith("statement") or "declaration" in following.type:
        return following.start_point[0] + 1, following.end_point[0] + 1
    # A statement list's first statement: tree-sitter nests statements under a statement_list.
    head = following.named_children[0] if following.named_children else following
    return head.start_point[0] + 1, head.end_point[0] + 1
