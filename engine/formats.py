"""Output formats for machines and CI: the Finding each one prints, and findings as text and GitHub annotations."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.facts import Kind


class Level(enum.StrEnum):
    """A finding's weight, as SARIF's `result.level` names it."""

    ERROR = "error"  # fails the gate
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Replacement:
    """One byte range of a file and what a verified rewrite puts there (the engine's Edit, as data)."""

    path: Path  # absolute
    start: int  # byte offset
    end: int  # byte offset, exclusive
    text: bytes


@dataclass(frozen=True)
class Fix:
    """A verified rewrite attached to a finding: what it does and the edits that make it."""

    description: str
    replacements: tuple[Replacement, ...]


@dataclass(frozen=True)
class Finding:
    """One thing a command reports at one place of the source, in a form every format can print.

    `rule` is the SARIF rule id: an escape kind as a slug ("moved-to-heap", "escapes-to-heap",
    "func-literal-escapes"), or "unused-ignore", "noescape" and the like; `fingerprint` is stable
    across edits elsewhere in the file (from the gate's match key, never from the line).
    """

    rule: str
    level: Level
    message: str
    path: Path  # absolute
    line: int  # 1-based
    column: int  # 1-based; 0 when the compiler printed none
    fingerprint: str
    rule_text: str = ""  # one sentence on what the rule means, for SARIF's rule descriptor
    fix: Fix | None = None


FORMATS = ("text", "json", "sarif", "github")  # the names `--format` takes

KIND_TEXT: Mapping[Kind, str] = {
    Kind.MOVED: "A variable whose address outlives its function's frame is allocated on the heap, not the stack.",
    Kind.ESCAPES: "A value flows where the compiler cannot bound its lifetime (an interface, a longer-lived "
    "pointer, another goroutine), so it is allocated on the heap.",
    Kind.FUNC_LITERAL: "A closure outlives its function, so it and the variables it captures are allocated on the heap.",
    Kind.LEAKING_PARAM: "A pointer parameter flows to the heap or out of the function, so callers' arguments escape.",
    Kind.LEAKING_CONTENT: "What a parameter points to flows to the heap, so the values callers pass a pointer to escape.",
}

_KIND_RULE: Mapping[Kind, str] = {
    Kind.MOVED: "moved-to-heap",
    Kind.ESCAPES: "escapes-to-heap",
    Kind.FUNC_LITERAL: "func-literal-escapes",
    Kind.LEAKING_PARAM: "leaking-param",
    Kind.LEAKING_CONTENT: "leaking-param-content",
}


def kind_rule(kind: Kind) -> str:
    """The SARIF rule id of an escape kind: "moved-to-heap", "escapes-to-heap", ..."""
    return _KIND_RULE[kind]


def fingerprint(*parts: str) -> str:
    """A stable digest of a match key (never a line number), so a finding keeps it when code above it moves."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


# -- renderings -------------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str | None:
    """`path` relative to `root` with forward slashes, or None when it lies outside."""
    path, root = path.absolute(), root.absolute()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else None


def _display(path: Path, root: Path) -> str:
    rel = _relative(path, root)
    return rel if rel is not None else path.absolute().as_posix()


_GITHUB_LEVEL = {Level.ERROR: "error", Level.WARNING: "warning", Level.NOTE: "notice"}


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def github(findings: Sequence[Finding], root: Path) -> str:
    """GitHub Actions workflow commands, one per finding, which the runner shows as annotations."""
    lines = []
    for f in findings:
        props = [f"file={_gh_property(_display(f.path, root))}"]
        if f.line > 0:
            props.append(f"line={f.line}")
            if f.column > 0:
                props.append(f"col={f.column}")
        props.append(f"title={_gh_property(f'goescape {f.rule}')}")
        lines.append(f"::{_GITHUB_LEVEL[f.level]} {','.join(props)}::{_gh_data(f.message)}\n")
    return "".join(lines)


def text(findings: Sequence[Finding], root: Path) -> str:
    """`file:line:col: level: message [rule]`, one line per finding, for people and grep."""
    lines = []
    for f in findings:
        col = f":{f.column}" if f.column > 0 else ""
        message = " ".join(f.message.splitlines())
        lines.append(f"{_display(f.path, root)}:{f.line}{col}: {f.level.value}: {message} [{f.rule}]\n")
    return "".join(lines)
