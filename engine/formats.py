"""Output formats for machines and CI: findings as text, versioned JSON, SARIF 2.1.0 and GitHub annotations."""

from __future__ import annotations

import base64
import difflib
import enum
import hashlib
import itertools
import os
import secrets
import sys
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from goescape.engine.codemod import Proposal
from goescape.engine.errors import GoescapeError, WriteFailed
from goescape.engine.facts import Class, Classified, EscapeFact, Kind
from goescape.engine.results import Result, Verified


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


FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# The key under partialFingerprints; a new recipe for `fingerprint` takes a new version.
FINGERPRINT_KEY = "goescape/v1"
_SRCROOT = "%SRCROOT%"

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


_RULE_TEXT = {_KIND_RULE[k]: text for k, text in KIND_TEXT.items()}


def fingerprint(*parts: str) -> str:
    """A stable digest of a match key (never a line number), so a finding keeps it when code above it moves."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


# -- where output goes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """One `--format` value: a format and the file it goes to (None: standard output)."""

    format: str
    path: Path | None


_SUFFIX = {"text": "txt", "json": "json", "sarif": "sarif", "github": "txt"}


def parse_formats(specs: Sequence[str], cwd: Path) -> tuple[Destination, ...]:
    """Parse `--format FMT` and `--format FMT=PATH` (PATH relative to `cwd`, `-` for standard output)."""
    if not specs:
        return (Destination("text", None),)
    out: list[Destination] = []
    for spec in specs:
        name, eq, where = spec.partition("=")
        name = name.strip().lower()
        if name not in FORMATS:
            raise GoescapeError(f"unknown output format {spec!r}", hint=f"use one of {', '.join(FORMATS)}")
        if eq and not where.strip():
            raise GoescapeError(f"--format {spec}: no file after '='", hint=f"e.g. {name}=escapes.{_SUFFIX[name]}")
        path = None if not eq or where.strip() == "-" else cwd / Path(where.strip()).expanduser()
        out.append(Destination(name, path))
    to_stdout = [d.format for d in out if d.path is None]
    if len(to_stdout) > 1:
        raise GoescapeError(
            f"{' and '.join(to_stdout)} would both go to standard output",
            hint="give the others a file, e.g. --format sarif=escapes.sarif",
        )
    seen: set[Path] = set()
    for d in out:
        if d.path is not None:
            if d.path.absolute() in seen:
                raise GoescapeError("two formats would be written to the same file", path=d.path)
            seen.add(d.path.absolute())
    return tuple(out)


def emit(destinations: Sequence[Destination], render: Callable[[str], str], stdout: TextIO | None = None) -> None:
    """Render every destination's format, then write each: files atomically, the one stdout to `stdout`.

    Everything is rendered before anything is written, so a failing render leaves every file as it was.
    """
    rendered = [(d, render(d.format)) for d in destinations]
    for d, content in rendered:
        if d.path is None:
            (stdout or sys.stdout).write(content)
        else:
            write_atomic(d.path, content)


def write_atomic(path: Path, content: str) -> None:
    """Write a temp file beside `path` and rename it over `path`: a reader sees the old file or the new one.

    A symlink is written through to its target; a pipe, a device or /dev/fd/N is written directly,
    as a shell redirection would (renaming over it would replace it with a plain file).
    """
    path = path.resolve()
    if path.exists() and not path.is_file():
        try:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(content)
        except OSError as e:
            raise WriteFailed(f"cannot write: {e.strerror or e}", path=path) from e
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteFailed(f"cannot create its folder: {e.strerror or e}", path=path) from e
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask decide the mode, as for any file the user creates.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(content)
        os.replace(temp, path)
    except BaseException as e:
        temp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise WriteFailed(f"cannot write: {e.strerror or e}", path=path) from e
        raise


# -- renderings -------------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str | None:
    """`path` relative to `root` with forward slashes, or None when it lies outside."""
    path, root = path.absolute(), root.absolute()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else None


def _display(path: Path, root: Path) -> str:
    rel = _relative(path, root)
    return rel if rel is not None else path.absolute().as_posix()


def _artifact(path: Path, root: Path) -> dict[str, object]:
    rel = _relative(path, root)
    if rel is None:
        return {"uri": path.absolute().as_uri()}
    return {"uri": urllib.parse.quote(rel), "uriBaseId": _SRCROOT}


def _content(data: bytes) -> dict[str, str]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"binary": base64.b64encode(data).decode("ascii")}


def _sarif_fix(fix: Fix, root: Path) -> dict[str, object]:
    by_file: dict[Path, list[Replacement]] = {}
    for r in fix.replacements:
        by_file.setdefault(r.path, []).append(r)
    return {
        "description": {"text": fix.description},
        "artifactChanges": [
            {
                "artifactLocation": _artifact(path, root),
                "replacements": [
                    {
                        "deletedRegion": {"byteOffset": r.start, "byteLength": r.end - r.start},
                        "insertedContent": _content(r.text),
                    }
                    for r in reps
                ],
            }
            for path, reps in by_file.items()
        ],
    }


def sarif(
    findings: Sequence[Finding],
    *,
    root: Path,
    tool_version: str,
    go_version: str,
    properties: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """One SARIF 2.1.0 log with one run: a rule per distinct `Finding.rule`, paths relative to `root`.

    Columns are the compiler's, which count bytes; SARIF's default column unit is UTF-16 code
    units, so a column after non-ASCII text on the same line points a little further right.
    """
    rules: dict[str, int] = {}
    descriptors: list[dict[str, object]] = []
    results: list[dict[str, object]] = []
    for f in findings:
        if f.rule not in rules:
            rules[f.rule] = len(descriptors)
            descriptors.append(
                {
                    "id": f.rule,
                    "shortDescription": {"text": f.rule_text or _RULE_TEXT.get(f.rule, f.rule)},
                    "defaultConfiguration": {"level": f.level.value},
                }
            )
        physical: dict[str, object] = {"artifactLocation": _artifact(f.path, root)}
        if f.line > 0:
            physical["region"] = {"startLine": f.line} | ({"startColumn": f.column} if f.column > 0 else {})
        result: dict[str, object] = {
            "ruleId": f.rule,
            "ruleIndex": rules[f.rule],
            "level": f.level.value,
            "message": {"text": f.message},
            "locations": [{"physicalLocation": physical}],
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        }
        if f.fix is not None and f.fix.replacements:
            result["fixes"] = [_sarif_fix(f.fix, root)]
        results.append(result)
    base = root.absolute().as_uri()
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "goescape",
                        "version": tool_version,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {_SRCROOT: {"uri": base if base.endswith("/") else base + "/"}},
                "results": results,
                "properties": {"go_version": go_version, **(properties or {})},
            }
        ],
    }


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


# -- findings from scan and fix ---------------------------------------------------------------


def _is_continuation(data: bytes, i: int) -> bool:
    return i < len(data) and data[i] & 0xC0 == 0x80


def fix_of(changes: Mapping[Path, tuple[bytes, bytes]], description: str) -> Fix:
    """A Fix with one replacement per changed stretch of lines in each file (difflib's opcodes),
    each cut down to the bytes between its common prefix and suffix.

    An import added at the top and a call changed below are two small replacements, not one that
    spans the file between them. Both ends are moved back to whole UTF-8 characters, so each
    replacement's text decodes.
    """
    replacements = []
    for path in sorted(changes):
        old, new = changes[path]
        if old == new:
            continue
        a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
        at_a, at_b = _line_offsets(a), _line_offsets(b)
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            base = at_a[i1]
            start, end, text = _smallest(old[base : at_a[i2]], new[at_b[j1] : at_b[j2]])
            replacements.append(Replacement(path, base + start, base + end, text))
    return Fix(description, tuple(replacements))


def _line_offsets(lines: Sequence[bytes]) -> list[int]:
    """The byte offset where each line starts, and the length of the whole after the last."""
    return list(itertools.accumulate((len(line) for line in lines), initial=0))


def _smallest(old: bytes, new: bytes) -> tuple[int, int, bytes]:
    """(start, end, text): the bytes of `old` between the common prefix and suffix, and `new`'s there."""
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    while start > 0 and (_is_continuation(old, start) or _is_continuation(new, start)):
        start -= 1
    tail = 0
    while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    while tail > 0 and _is_continuation(old, len(old) - tail):
        tail -= 1
    return start, len(old) - tail, new[start : len(new) - tail]


def _what(fact: EscapeFact) -> str:
    if fact.kind is Kind.MOVED:
        return f"{fact.expr} moved to heap"
    if fact.kind is Kind.ESCAPES:
        return f"{fact.expr} escapes to heap"
    if fact.kind is Kind.FUNC_LITERAL:
        return "func literal escapes to heap"
    return f"{fact.kind.value} {fact.expr}"


def _occurrences(keys: Sequence[tuple[str, ...]], order: Sequence[int]) -> list[str]:
    """Each key's fingerprint with its rank among equal keys, counted in `order` (indices into `keys`)."""
    seen: Counter[tuple[str, ...]] = Counter()
    prints = [""] * len(keys)
    for i in order:
        prints[i] = fingerprint(*keys[i], str(seen[keys[i]]))
        seen[keys[i]] += 1
    return prints


def scan_findings(items: Sequence[Classified]) -> list[Finding]:
    """One note per escape the compiler reported, in the order given; the compiler's repeats are left out.

    The fingerprint is the gate's: (package, function, kind, expression) and the rank among equal
    keys in file order, so the same escape keeps one identity in `scan` and `gate` output.
    """
    kept = [i for i in items if i.cls is not Class.DUPLICATE and not str(i.fact.path).startswith("<")]
    keys = [(i.fact.package, i.fact.function, i.fact.kind.value, i.fact.expr) for i in kept]

    def place(n: int) -> tuple[str, str, int, int, str, str]:
        f = kept[n].fact
        return (f.package, str(f.path), f.line, f.column, f.kind.value, f.expr)

    prints = _occurrences(keys, sorted(range(len(kept)), key=place))
    out = []
    for item, print_ in zip(kept, prints, strict=True):
        f = item.fact
        why = f.why()
        because = f": {why}" if why and why != f.message else ""
        where = f" in {f.function}" if f.function else ""
        out.append(
            Finding(
                rule=kind_rule(f.kind),
                level=Level.NOTE,
                message=f"{_what(f)}{where}{because}; {item.advice()}",
                path=f.path,
                line=f.line,
                column=f.column,
                fingerprint=print_,
                rule_text=KIND_TEXT[f.kind],
            )
        )
    return out


def fix_findings(
    results: Sequence[Result], final: Callable[[Proposal], Mapping[Path, tuple[bytes, bytes]]]
) -> list[Finding]:
    """One note per verified rewrite, with the rewrite attached as its fix; `final(proposal)` gives
    each changed file's bytes before and after. Rejected and skipped proposals are not findings."""
    verified = [r for r in results if isinstance(r, Verified)]
    keys = [
        (
            f"codemod/{r.proposal.codemod}",
            r.proposal.package,
            r.proposal.function,
            *sorted(f"{t.kind.value} {t.expr}" for t in r.proposal.targets),
        )
        for r in verified
    ]
    order = sorted(range(len(verified)), key=lambda n: (str(verified[n].proposal.path), verified[n].proposal.line))
    prints = _occurrences(keys, order)
    out = []
    for r, print_ in zip(verified, prints, strict=True):
        p = r.proposal
        out.append(
            Finding(
                rule=f"codemod/{p.codemod}",
                level=Level.NOTE,
                message=f"{p.rationale}; {r.allocs_text()}",
                path=p.path,
                line=p.line,
                column=0,
                fingerprint=print_,
                rule_text=f"A rewrite by the {p.codemod} codemod that removes a heap allocation, verified by the compiler.",
                fix=fix_of(final(p), p.rationale),
            )
        )
    return out
