"""Verification: proposals compiled through `go build -overlay`, judged stage by stage.

The stages, in order, each on the whole batch with bisection only when the batch fails: build;
escapes (the targeted ones gone, none new); vet; build and vet for the other platforms the
changed packages have files for; the tests of every package in scope that depends on a changed
one; and the run-time proof (engine.measure) with those tests and benchmarks. Identical
proposals are one; of overlapping ones the one that saves more wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.codemod import Proposal
from goescape.engine.edits import overlaps, render_file
from goescape.engine.facts import GCFLAGS, EscapeFact, allocation_facts, parse_diagnostics
from goescape.engine.judge import (
    Outcome,
    bisect,
    compare,
    compiler_errors,
    first,
    line_map,
    outer_function,
    same_fact,
    test_failure,
    vet_findings,
)
from goescape.engine.measure import Measurement, Measurer
from goescape.engine.oracle import Oracle
from goescape.engine.overlay import Overlay
from goescape.engine.parsing import FUNCTION_TYPES, SourceFile, enclosing, function_name, node_at, parse_bytes
from goescape.engine.platforms import fewest_targets
from goescape.engine.results import Rejected, Stage, Verified
from goescape.engine.toolchain import Package, Toolchain, dependents_with_tests

LEVELS = ("build", "vet", "test")
Files = dict[Path, bytes]


@dataclass
class Verifier:
    """Judges proposals against the real toolchain without touching the user's files.

    `packages` are the scanned packages (import path → Package), `patterns` the go command
    patterns that named them (the scope whose tests count), `baseline` every allocating escape
    the compiler printed for them before any rewrite, generated files and wrappers included.
    """

    tc: Toolchain
    cwd: Path
    packages: dict[str, Package]
    sources: dict[Path, SourceFile]
    baseline: list[EscapeFact]
    oracle: Oracle
    patterns: Sequence[str] = ("./...",)
    level: str = "test"
    measure: bool = True
    progress: Callable[[str], None] = lambda _msg: None
    overlay: Overlay = field(init=False)
    _rendered: dict[tuple[Path, frozenset[Proposal]], tuple[bytes, str]] = field(default_factory=dict)
    _dependents: dict[frozenset[str], list[str]] = field(default_factory=dict)
    _baseline_vet: dict[tuple[str, ...], set[tuple[str, str]]] = field(default_factory=dict)
    _baseline_ok: dict[tuple[str, ...], Outcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.overlay = Overlay(self.tc, self.cwd)

    def close(self) -> None:
        self.overlay.close()

    # --- rendering -------------------------------------------------------------------------

    def render(self, proposals: Sequence[Proposal]) -> tuple[Files, str]:
        """New contents of every file the proposals touch, or an error text."""
        by_file: dict[Path, list[Proposal]] = {}
        for p in proposals:
            for path in p.files | {path for path, _ in p.add_imports}:
                by_file.setdefault(path, []).append(p)
        out: Files = {}
        for path, group in by_file.items():
            key = (path, frozenset(group))
            if key not in self._rendered:
                self._rendered[key] = render_file(self.tc, self.sources[path], group)
            data, error = self._rendered[key]
            if error:
                return {}, f"{path.name}: {error}"
            out[path] = data
        return out, ""

    # --- scope -----------------------------------------------------------------------------

    def _changed(self, proposals: Sequence[Proposal]) -> list[str]:
        return sorted({p.package for p in proposals})

    def test_scope(self, proposals: Sequence[Proposal]) -> list[str]:
        """The packages in the patterns whose tests depend, transitively, on a changed package."""
        changed = frozenset(self._changed(proposals))
        if changed not in self._dependents:
            self._dependents[changed] = dependents_with_tests(self.tc, self.cwd, self.patterns, sorted(changed))
        return self._dependents[changed]

    def _build_scope(self, proposals: Sequence[Proposal]) -> list[str]:
        """The changed packages, and every scanned package importing one when an API changed."""
        changed = self._changed(proposals)
        if not any(p.api_change for p in proposals):
            return changed
        users = [name for name in self.test_scope(proposals) if name in self.packages]
        return sorted({*changed, *users})

    # --- the checks ------------------------------------------------------------------------

    def _go(self, verb: list[str], proposals: Sequence[Proposal], packages: Sequence[str], **kw: str) -> Outcome:
        files, error = self.render(proposals)
        if error:
            return Outcome(False, error)
        run = self.overlay.go(verb, files, packages, env=kw or None)
        return Outcome(run.ok, run.output)

    def build(self, proposals: Sequence[Proposal], packages: Sequence[str] = ()) -> Outcome:
        """Compile with escape diagnostics; facts are kept for the scanned packages only."""
        files, error = self.render(proposals)
        if error:
            return Outcome(False, error)
        run = self.overlay.go(["build", GCFLAGS, "-o", "/dev/null"], files, packages or self._build_scope(proposals))
        outcome = Outcome(run.ok, run.output)
        if not run.ok:
            outcome.output = compiler_errors(run.output)
            return outcome
        sources = dict(self.sources)
        sources.update({path: parse_bytes(path, data) for path, data in files.items()})
        facts = allocation_facts(parse_diagnostics(run.output, self.cwd, sources))
        outcome.facts = [f for f in facts if f.package in self.packages]
        maps = {path: line_map(self.sources[path].data, data) for path, data in files.items()}
        for f in outcome.facts:
            if f.path not in maps:
                outcome.where.append((f.line, f.column))
                continue
            line, same = maps[f.path].get(f.line, (-1, False))
            outcome.where.append((line, f.column if same else -1))
        return outcome

    def compiles(self, proposals: Sequence[Proposal]) -> Outcome:
        """`go build`, and when test files were edited, their compile too (`go test -run ^$`)."""
        outcome = self.build(proposals)
        if outcome.ok and any(e.path.name.endswith("_test.go") for p in proposals for e in p.edits):
            tests = self._go(["test", "-count=1", "-vet=off", "-run", "^$"], proposals, self._build_scope(proposals))
            if not tests.ok:
                return Outcome(False, compiler_errors(tests.output))
        return outcome

    def scope_escapes(self, proposals: Sequence[Proposal]) -> list[EscapeFact]:
        """Every scanned package's escapes with the proposals applied (callers that inline the
        changed code lose escapes too, and a report's before → after counts those)."""
        return self.build(proposals, sorted(self.packages)).facts

    def _vet_like(self, verb: list[str], proposals: Sequence[Proposal], env: dict[str, str]) -> Outcome:
        """A vet or build that passes when it reports nothing the unchanged code does not report too."""
        packages = self._build_scope(proposals)
        outcome = self._go(verb, proposals, packages, **env)
        if outcome.ok:
            return outcome
        key = (*verb, *(f"{k}={v}" for k, v in sorted(env.items())), *packages)
        if key not in self._baseline_vet:
            base = self.overlay.go(verb, {}, packages, env=env or None)
            self._baseline_vet[key] = vet_findings(base.output)
        new = vet_findings(outcome.output) - self._baseline_vet[key]
        return Outcome(not new, "\n".join(f"{path}: {msg}" for path, msg in sorted(new)) or outcome.output)

    def vet(self, proposals: Sequence[Proposal]) -> Outcome:
        return self._vet_like(["vet"], proposals, {})

    def platforms(self, proposals: Sequence[Proposal]) -> Outcome:
        """Build (or vet) on every other GOOS/GOARCH that compiles files of the changed packages."""
        dirs = sorted({self.packages[name].dir for name in self._changed(proposals)})
        verb = ["vet"] if self.level in ("vet", "test") else ["build", "-o", "/dev/null"]
        for goos, goarch in fewest_targets(self.oracle, self.tc, dirs).targets[1:]:
            env = {"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0"}
            outcome = self._vet_like(verb, proposals, env)
            if not outcome.ok:
                return Outcome(False, f"{goos}/{goarch}: {first(outcome.output)}\n{outcome.output}")
        return Outcome(True)

    def test(self, proposals: Sequence[Proposal]) -> Outcome:
        outcome = self._go(["test", "-count=1", "-timeout=10m"], proposals, self.test_scope(proposals))
        if not outcome.ok:
            outcome.output = test_failure(outcome.output)
        return outcome

    def baseline_tests_pass(self, proposals: Sequence[Proposal]) -> Outcome:
        scope = tuple(self.test_scope(proposals))
        if scope not in self._baseline_ok:
            run = self.overlay.go(["test", "-count=1", "-timeout=10m"], {}, scope)
            self._baseline_ok[scope] = Outcome(run.ok, test_failure(run.output))
        return self._baseline_ok[scope]

    # --- the whole judgement ---------------------------------------------------------------

    def verify(self, proposals: Sequence[Proposal]) -> list[Verified | Rejected]:
        """Each proposal verified or rejected with the reason; overlapping ones judged against each other."""
        results: list[Verified | Rejected] = []
        kept: list[Proposal] = []
        for p in proposals:
            _, error = self.render([p])
            twin = next((q for q in kept if q.edits == p.edits and q.add_imports == p.add_imports), None)
            if error:
                results.append(Rejected(p, Stage.RENDER, error))
            elif twin is not None:
                results.append(Rejected(p, Stage.SUPERSEDED, f"the same edit as {twin.title()}, judged there"))
            else:
                kept.append(p)
        rounds: list[list[Proposal]] = []
        for p in kept:  # each round holds no two overlapping proposals; the first come first
            home = next((r for r in rounds if not any(overlaps(p, q) for q in r)), None)
            home.append(p) if home is not None else rounds.append([p])
        judged = [self._verify_batch(batch) for batch in rounds]
        return results + choose(judged, self._confirms)

    def _confirms(self, proposals: Sequence[Proposal]) -> bool:
        """Whether a set of rewrites verified in different rounds still builds and tests together."""
        outcome = self.compiles(proposals)
        if outcome.ok and self.level in ("vet", "test"):
            outcome = self.vet(proposals)
        if outcome.ok and self.level == "test":
            outcome = self.test(proposals)
        return outcome.ok

    def _verify_batch(self, alive: list[Proposal]) -> list[Verified | Rejected]:
        results: list[Verified | Rejected] = []
        self.progress(f"building {len(alive)} proposals")
        alive, bad = bisect(alive, self.compiles)
        results += [Rejected(p, Stage.BUILD, "does not build: " + first(why), why) for p, why in bad]
        if not alive:
            return results
        alive, rejected = self._judge_escapes(alive)
        results += rejected
        checks = ["build", "escape"]
        stages: list[tuple[str, Stage, Callable[[Sequence[Proposal]], Outcome], str]] = []
        if self.level in ("vet", "test"):
            stages.append(("vet", Stage.VET, self.vet, "go vet reports: "))
        stages.append(("platforms", Stage.BUILD, self.platforms, "does not build on "))
        for name, stage, check, prefix in stages:
            if alive:
                self.progress(f"{name}: {len(alive)} proposals")
                alive, bad = bisect(alive, check)
                results += [Rejected(p, stage, prefix + first(why), why) for p, why in bad]
                checks.append(name)
        if alive and self.level == "test":
            self.progress(f"testing {len(alive)} proposals")
            alive, failed = self._judge_tests(alive)
            results += failed
            scope = self.test_scope(alive) if alive else []
            checks.append("test " + " ".join(scope) if scope else "test (no package in scope has tests)")
        return results + self._judge_allocations(alive, tuple(checks))

    def _judge_allocations(self, alive: list[Proposal], checks: tuple[str, ...]) -> list[Verified | Rejected]:
        if not alive:
            return []
        measured: dict[Proposal, Measurement | str] = {p: "allocations were not measured (--no-measure)" for p in alive}
        files, _ = self.render(alive)
        if self.measure:
            self.progress(f"measuring {len(alive)} rewrites with the code's own tests")
            scope = [name for name in self.test_scope(alive)]
            changed = {n: self.packages[n] for n in self._changed(alive)}
            measurer = Measurer(self.overlay, changed, scope, self.sources, self.render)
            measured = measurer.measure(alive, files)
        removed, _ = self._compare(self.build(alive))
        results: list[Verified | Rejected] = []
        for p in alive:
            gone = tuple(t for t in p.targets if t in removed) if p.proof == "escape" else ()
            m = measured[p]
            if isinstance(m, Measurement) and not m.saves:
                results.append(Rejected(p, Stage.ALLOCS, f"{m.text()}: it saves nothing"))
            elif isinstance(m, Measurement):
                results.append(Verified(p, gone, (*checks, "allocs"), measurement=m))
            elif p.proof == "runtime":
                why = f"unproven: only fewer allocations at run time prove it, and {m}; left out of the diff"
                results.append(Rejected(p, Stage.ALLOCS, why))
            else:
                results.append(Verified(p, gone, checks, unmeasured=m))
        return results

    def _judge_escapes(self, alive: list[Proposal]) -> tuple[list[Proposal], list[Rejected]]:
        """Each targeted escape must be gone and no escape may be added.

        An added escape is pinned on the one proposal that edited the function it appears in (or a
        function inlined there); one that a proposal declares expected (`allowed_new`) is explained;
        the rest are found by compiling the suspects alone.
        """
        removed, added = self._compare(self.build(alive))
        touched = {p: self._touched_functions(p) for p in alive}
        blamed: dict[Proposal, EscapeFact] = {}
        unpinned: list[tuple[EscapeFact, list[Proposal]]] = []
        for fact in added:
            owners = [
                p
                for p in alive
                if (str(fact.path), outer_function(fact.function)) in touched[p]
                or {name for _, name in touched[p]} & {outer_function(n) for n in fact.inlined}
            ]
            if any(re.search(rx, fact.expr) for p in owners for rx in p.allowed_new):
                continue
            if len(owners) == 1:
                blamed.setdefault(owners[0], fact)
            else:
                unpinned.append((fact, owners or alive))
        for fact, suspects in unpinned:
            for p in suspects:
                if p not in blamed and any(same_fact(a, fact) for a in self._compare(self.build([p]))[1]):
                    blamed[p] = fact
        rejected: list[Rejected] = []
        keep: list[Proposal] = []
        for p in alive:
            stayed = [t for t in p.targets if t not in removed] if p.proof == "escape" else []
            because = f": {p.if_unproven}" if p.if_unproven else ""
            if not p.targets and p.proof == "escape":
                why = "the compiler reports no escape here for it to remove" + because
                rejected.append(Rejected(p, Stage.ESCAPE, why))
            elif stayed:
                t = stayed[0]
                rejected.append(
                    Rejected(p, Stage.ESCAPE, f"the escape stayed: {t.path.name}:{t.line}: {t.message}{because}")
                )
            elif p in blamed:
                f = blamed[p]
                why = f"adds an escape: {f.path.name}:{f.line}: {f.message} (in {f.function})"
                rejected.append(Rejected(p, Stage.ESCAPE, why))
            else:
                keep.append(p)
        return keep, rejected

    def _compare(self, outcome: Outcome) -> tuple[list[EscapeFact], list[EscapeFact]]:
        """compare() over the packages' own files, generated ones and wrappers included: generic
        code of another package instantiated here (sync.OnceValue's closures) is reported again
        with each build's shapes, and no rewrite of this package is to blame for it."""
        own = {path for package in self.packages.values() for path in package.go_files}

        def mine(f: EscapeFact) -> bool:
            return f.path in own or str(f.path).startswith("<")

        kept = [(f, w) for f, w in zip(outcome.facts, outcome.where, strict=True) if mine(f)]
        filtered = Outcome(outcome.ok, outcome.output, [f for f, _ in kept], [w for _, w in kept])
        return compare([f for f in self.baseline if mine(f)], filtered)

    def _touched_functions(self, p: Proposal) -> set[tuple[str, str]]:
        touched: set[tuple[str, str]] = set()
        for edit in p.edits:
            src = self.sources[edit.path]
            fn = enclosing(node_at(src, edit.start), *FUNCTION_TYPES[:2])
            if fn is not None:
                touched.add((str(edit.path), outer_function(function_name(src, fn))))
        return touched

    def _judge_tests(self, alive: list[Proposal]) -> tuple[list[Proposal], list[Rejected]]:
        first_run = self.test(alive)
        if first_run.ok:
            return alive, []
        base = self.baseline_tests_pass(alive)
        if not base.ok:
            why = "the tests in scope already fail without any rewrite, so --verify test cannot judge it"
            return [], [Rejected(p, Stage.TEST, why, base.output) for p in alive]
        good, bad = bisect(alive, self.test, known_bad=first_run)
        return good, [Rejected(p, Stage.TEST, "tests fail: " + first(why), why) for p, why in bad]


def _saving(result: Verified | Rejected) -> tuple[int, float, int]:
    """How much a verified rewrite saves, to choose among overlapping ones: measured first, then escapes."""
    if not isinstance(result, Verified):
        return (-1, 0.0, 0)
    m = result.measurement
    measured = (m.allocs[0] - m.allocs[1]) if m is not None else 0.0
    return (1 if m is not None else 0, measured, len(result.removed))


def choose(
    rounds: Sequence[Sequence[Verified | Rejected]], confirms: Callable[[Sequence[Proposal]], bool]
) -> list[Verified | Rejected]:
    """The results of several rounds of verification, each round free of overlaps: where verified
    rewrites of two rounds overlap, the one that saves more stays and the other is superseded;
    a set mixed from several rounds must still build and test together, or the first round's stands."""
    if len(rounds) == 1:
        return list(rounds[0])
    winners: list[Verified | Rejected] = list(rounds[0])
    losers: list[Verified | Rejected] = []
    for later in rounds[1:]:
        for result in later:
            rivals = [w for w in winners if isinstance(w, Verified) and overlaps(w.proposal, result.proposal)]
            if not isinstance(result, Verified) or any(_saving(r) >= _saving(result) for r in rivals):
                beaten = next((r for r in rivals if _saving(r) >= _saving(result)), None)
                losers.append(
                    _superseded(result, beaten) if beaten is not None and isinstance(result, Verified) else result
                )
                continue
            winners = [w for w in winners if w not in rivals] + [result]
            losers += [_superseded(r, result) for r in rivals]
    mixed = [w.proposal for w in winners if isinstance(w, Verified)]
    if any(isinstance(w, Verified) and w not in rounds[0] for w in winners) and not confirms(mixed):
        return list(rounds[0]) + [
            _superseded(r, None) if isinstance(r, Verified) else r for later in rounds[1:] for r in later
        ]
    return winners + losers


def _superseded(result: Verified | Rejected, by: Verified | None) -> Rejected:
    p = result.proposal
    if by is None:
        return Rejected(p, Stage.SUPERSEDED, "overlaps a rewrite verified first, and the two do not pass together")
    mine = result.allocs_text() if isinstance(result, Verified) else ""
    return Rejected(
        p, Stage.SUPERSEDED, f"superseded by {by.proposal.title()}, which saves more ({by.allocs_text()}; this: {mine})"
    )
