"""The runner: loads packages and escape facts, runs codemods where the compiler points, verifies."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.codemod import Codemod, Context, Options, Proposal, Skip
from goescape.engine.edits import is_gofmt_clean
from goescape.engine.errors import BuildFailed, SyntaxProblem
from goescape.engine.facts import GCFLAGS, Classified, EscapeFact, classify, parse_diagnostics
from goescape.engine.parsing import SourceFile, near_error, node_at, parse_file, top_level
from goescape.engine.results import Rejected, Result, Skipped, Verified
from goescape.engine.toolchain import Package, Toolchain, list_packages, resolve_patterns
from goescape.engine.verify import Verifier

_FILE_IN_DIAG = re.compile(r"^(.+?\.go):\d+:\d+: ", re.MULTILINE)


@dataclass(frozen=True)
class Session:
    """Packages, their escape facts and the parsed files those facts point into."""

    tc: Toolchain
    cwd: Path
    packages: tuple[Package, ...]
    facts: tuple[EscapeFact, ...]
    sources: dict[Path, SourceFile]

    @property
    def by_path(self) -> dict[str, Package]:
        return {p.import_path: p for p in self.packages}


def _left_out(path: Path, src: SourceFile | None, include_generated: bool) -> bool:
    if include_generated:
        return False
    if {"vendor", "testdata"} & set(path.parts):
        return True
    return src is not None and src.generated


def load(tc: Toolchain, patterns: Sequence[str], cwd: Path, *, include_generated: bool = False) -> Session:
    """Compile the packages once with escape diagnostics; the packages must build as they are."""
    cwd, patterns = resolve_patterns(patterns, cwd)
    packages = list_packages(tc, patterns, cwd)
    out = tc.run(["build", GCFLAGS, "-o", os.devnull, *[p.import_path for p in packages]], cwd)
    if out.returncode != 0:
        _raise_build_failure(out.stderr, cwd)
    sources: dict[Path, SourceFile] = {}
    # Only the files the compiler points into are parsed: parsing every file costs more than the build.
    for name in set(_FILE_IN_DIAG.findall(out.stderr)):
        path = (cwd / name).resolve() if not name.startswith("/") else Path(name)
        if path.is_file():
            sources[path] = parse_file(path)
    facts = [
        f
        for f in parse_diagnostics(out.stderr, cwd, sources)
        if not _left_out(f.path, sources.get(f.path), include_generated)
    ]
    return Session(tc, cwd, tuple(packages), tuple(facts), sources)


def _raise_build_failure(stderr: str, cwd: Path) -> None:
    errors = [ln for ln in stderr.splitlines() if ln and not ln.startswith("#")]
    first = errors[0] if errors else stderr.strip()
    where = first.split(": ", 1)[0] if ": " in first else str(cwd)
    if "syntax error" in first or "expected" in first:
        raise SyntaxProblem(
            "syntax error: " + first.split(": ", 1)[-1].split(": ", 1)[-1], path=where, hint="fix it, then run again"
        )
    raise BuildFailed("the packages do not build before any rewrite; fix the build first", path=where, stderr=stderr)


def propose(
    session: Session, codemods: Sequence[Codemod], options: Options, *, check_gofmt: bool = True
) -> list[Proposal | Skip]:
    """Run every codemod over the functions the compiler reported escapes in."""
    out: list[Proposal | Skip] = []
    gofmt_ok: dict[Path, bool] = {}
    for package in session.packages:
        facts = [f for f in session.facts if f.package == package.import_path and f.kind.allocates]
        if not facts:
            continue
        ctx = Context(package, facts, options, session.sources)
        ranges: dict[Path, set[tuple[int, int]]] = {}
        for fact in facts:
            src = session.sources.get(fact.path)
            if src is None or fact.offset < 0:
                continue
            decl = top_level(node_at(src, fact.offset))
            ranges.setdefault(fact.path, set()).add((decl.start_byte, decl.end_byte))
        for path, spans in sorted(ranges.items()):
            src = session.sources[path]
            for codemod in codemods:
                for result in codemod.run(ctx, src, sorted(spans)):
                    out.append(_screen(session, result, gofmt_ok, check_gofmt))
    return out


def _screen(
    session: Session, result: Proposal | Skip, gofmt_ok: dict[Path, bool], check_gofmt: bool
) -> Proposal | Skip:
    """Turn a proposal the engine must not apply into a Skip with the reason."""
    if isinstance(result, Skip):
        return result
    for edit in result.edits:
        src = session.sources.get(edit.path) or parse_file(edit.path)
        session.sources.setdefault(edit.path, src)
        reason = ""
        if src.generated:
            reason = "generated file (Code generated ... DO NOT EDIT)"
        elif near_error(node_at(src, edit.start)):
            reason = "tree-sitter-go cannot parse the code around this edit (an ERROR node); left alone"
        elif check_gofmt:
            if edit.path not in gofmt_ok:
                gofmt_ok[edit.path] = is_gofmt_clean(session.tc, src)
            if not gofmt_ok[edit.path]:
                reason = f"{edit.path.name} is not gofmt-clean; run gofmt first so the diff holds only the rewrite"
        if reason:
            return Skip(result.codemod, result.path, result.line, result.function, reason, result.targets)
    return result


def classify_session(session: Session, proposals: Sequence[Proposal | Skip]) -> list[Classified]:
    addressed: dict[tuple[str, int, int, str, str], str] = {}
    declined: dict[tuple[str, int, int, str, str], str] = {}
    for p in proposals:
        for t in p.targets:
            if isinstance(p, Proposal):
                addressed[t.key] = p.codemod
            else:
                declined.setdefault(t.key, f"{p.codemod} left it: {p.reason}")
    return classify([f for f in session.facts if f.kind.allocates], session.sources, addressed, declined)


@dataclass(frozen=True)
class Outcome:
    """Everything `fix` found: each proposal's result and the scanned packages' escapes before and after."""

    results: tuple[Result, ...]
    before: tuple[EscapeFact, ...]
    after: tuple[EscapeFact, ...]


def verify(
    session: Session,
    proposals: Sequence[Proposal | Skip],
    level: str,
    progress: Callable[[str], None] = lambda _msg: None,
) -> Outcome:
    before = [f for f in session.facts if f.kind.allocates]
    verifier = Verifier(session.tc, session.cwd, session.by_path, session.sources, before, level=level, progress=progress)
    try:
        results: list[Result] = [Skipped(p) for p in proposals if isinstance(p, Skip)]
        results += verifier.verify([p for p in proposals if isinstance(p, Proposal)])
        verified = [r.proposal for r in results if isinstance(r, Verified)]
        after = before
        if verified:
            progress("measuring escapes in every scanned package")
            measured = verifier.measure(verified)
            after = [f for f in measured if not _left_out(f.path, session.sources.get(f.path), False)]
        return Outcome(tuple(results), tuple(before), tuple(after))
    finally:
        verifier.close()


def final_contents(session: Session, results: Sequence[Result]) -> dict[Path, tuple[bytes, bytes]]:
    """(old, new) bytes of every file the verified proposals change."""
    from goescape.engine.edits import render_file

    verified = [r.proposal for r in results if isinstance(r, Verified)]
    by_file: dict[Path, list[Proposal]] = {}
    for p in verified:
        for path in p.files | {path for path, _ in p.add_imports}:
            by_file.setdefault(path, []).append(p)
    out: dict[Path, tuple[bytes, bytes]] = {}
    for path, group in sorted(by_file.items()):
        src = session.sources[path]
        new, error = render_file(session.tc, src, group)
        if not error and new != src.data:
            out[path] = (src.data, new)
    return out


__all__ = [
    "Rejected",
    "Session",
    "Skipped",
    "Verified",
    "classify_session",
    "final_contents",
    "load",
    "propose",
    "verify",
]
