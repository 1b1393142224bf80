"""Proof: each proposal verified against the compiler, vet and the tests, and what the verified ones write."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.benchmarks import Change
from goescape.engine.benchmarks import compare as compare_benchmarks
from goescape.engine.console import Steps, no_steps
from goescape.engine.facts import EscapeFact
from goescape.engine.goflags import overlay_files
from goescape.engine.overlay import write_overlay
from goescape.engine.proposals import Proposal, Skip
from goescape.engine.results import Level, Result, Skipped, Verified
from goescape.engine.session import Session, left_out
from goescape.engine.verify import Verifier


def drop_unprofitable(proposals: Sequence[Proposal | Skip], off: dict[tuple[str, str], str]) -> list[Proposal | Skip]:
    """Proposals of patterns calibrated to save nothing on this toolchain become skips saying so."""
    return [
        Skip(p.codemod, p.path, p.line, p.function, off[(p.codemod, p.pattern)], p.targets)
        if isinstance(p, Proposal) and (p.codemod, p.pattern) in off
        else p
        for p in proposals
    ]


@dataclass(frozen=True)
class Outcome:
    """Everything `fix` found: each proposal's result and the scanned packages' escapes before and after."""

    results: tuple[Result, ...]
    before: tuple[EscapeFact, ...]
    after: tuple[EscapeFact, ...]


def verifier_for(
    session: Session,
    level: Level,
    progress: Steps = no_steps,
    *,
    measure: bool = True,
    test_flags: tuple[str, ...] = (),
) -> Verifier:
    """A Verifier over the session's packages, judged against every escape the compiler printed for them."""
    baseline = list(session.compiled)
    return Verifier(
        session.tc,
        session.cwd,
        session.by_path,
        session.sources,
        baseline,
        session.oracle,
        session.patterns,
        level=level,
        progress=progress,
        measure=measure,
        test_flags=test_flags,
    )


def verify(
    session: Session,
    proposals: Sequence[Proposal | Skip],
    level: Level,
    progress: Steps = no_steps,
    *,
    measure: bool = True,
    test_flags: tuple[str, ...] = (),
) -> Outcome:
    before = [f for f in session.facts if f.kind.allocates]
    verifier = verifier_for(session, level, progress, measure=measure, test_flags=test_flags)
    try:
        results: list[Result] = [Skipped(p) for p in proposals if isinstance(p, Skip)]
        results += verifier.verify([p for p in proposals if isinstance(p, Proposal)])
        verified = [r.proposal for r in results if isinstance(r, Verified)]
        after = before
        if verified:
            progress("measuring escapes in every scanned package")
            measured = verifier.scope_escapes(verified)
            after = [f for f in measured if not left_out(f.path, session.sources.get(f.path), False)]
        return Outcome(tuple(results), tuple(before), tuple(after))
    finally:
        verifier.close()
        session.oracle.close()


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


def bench(
    session: Session, results: Sequence[Result], regex: str, count: int, changes: dict[Path, tuple[bytes, bytes]]
) -> list[Change]:
    """The changed packages' benchmarks matching `regex`, `count` runs before and after the rewrites."""
    packages = sorted({r.proposal.package for r in results if isinstance(r, Verified)})
    if not packages or not changes:
        return []
    verb = ["test", "-run", "^$", "-bench", regex, "-benchmem", f"-count={count}"]
    before = session.tc.run([*verb, *packages], session.cwd)
    with tempfile.TemporaryDirectory(prefix="goescape-bench-") as tmp:
        overlay, _ = write_overlay(
            Path(tmp), {path: new for path, (_, new) in changes.items()}, overlay_files(session.tc)
        )
        after = session.tc.run([*verb, f"-overlay={overlay}", *packages], session.cwd)
    return compare_benchmarks(before.stdout, after.stdout)
