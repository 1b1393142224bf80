"""Verification: proposals compiled through `go build -overlay`, judged stage by stage.

The stages, in order, each on the whole batch with bisection only when the batch fails: build;
escapes (the targeted ones gone, none new); vet; build and vet for the other platforms the
changed packages have files for; the tests of every package in scope that depends on a changed
one; and the run-time proof (engine.measure) with those tests and benchmarks. Identical
proposals are one; of overlapping ones the one that saves more wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.choice import choose, into_rounds
from goescape.engine.console import Steps, no_steps
from goescape.engine.edits import render_file
from goescape.engine.facts import GCFLAGS, EscapeFact, allocation_facts, parse_diagnostics
from goescape.engine.judge import (
    Outcome,
    bisect,
    compare,
    compiler_errors,
    first,
    judge_escapes,
    original_positions,
    test_failure,
    vet_findings,
)
from goescape.engine.measure import Measurer
from goescape.engine.oracle import Oracle
from goescape.engine.overlay import Overlay
from goescape.engine.packages import Package, dependents_with_tests, importers
from goescape.engine.parsing import SourceFile, parse_bytes
from goescape.engine.platforms import other_targets
from goescape.engine.proposals import Proposal
from goescape.engine.results import BASELINE_TESTS_FAIL, Level, Measurement, Rejected, Stage, Verified, verdict
from goescape.engine.toolchain import Toolchain

Files = dict[Path, bytes]
_BUILDS_KEPT = 8


@dataclass
class Verifier:
    """Judges proposals with the real toolchain, never touching the user's files: `packages` are the
    scanned ones by import path, `patterns` name the scope whose tests count, `baseline` is every
    allocating escape the compiler printed before any rewrite, generated files and wrappers included."""

    tc: Toolchain
    cwd: Path
    packages: dict[str, Package]
    sources: dict[Path, SourceFile]
    baseline: list[EscapeFact]
    oracle: Oracle
    patterns: Sequence[str] = ("./...",)
    level: Level = Level.TEST
    measure: bool = True
    progress: Steps = no_steps
    test_flags: tuple[str, ...] = ()  # flags for every `go test` of the code's tests, e.g. ("-short",)
    overlay: Overlay = field(init=False)
    _dependents: dict[frozenset[str], list[str]] = field(default_factory=dict)
    _importers: list[str] | None = None
    _targets: dict[tuple[Path, ...], list[tuple[str, str]]] = field(default_factory=dict)
    _baseline_vet: dict[tuple[str, ...], set[tuple[str, str]]] = field(default_factory=dict)
    _baseline_ok: dict[tuple[str, ...], Outcome] = field(default_factory=dict)
    # Builds by (proposals, packages): the build, escape and allocation stages and the scope's
    # escapes ask for the same batch's build, which the go command would run again each time.
    _builds: dict[tuple[frozenset[Proposal], tuple[str, ...]], Outcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.overlay = Overlay(self.tc, self.cwd)

    def close(self) -> None:
        self.overlay.close()

    def render(self, proposals: Sequence[Proposal]) -> tuple[Files, str]:
        """New contents of every file the proposals touch, or an error text."""
        by_file: dict[Path, list[Proposal]] = {}
        for p in proposals:
            for path in p.files | {path for path, _ in p.add_imports}:
                by_file.setdefault(path, []).append(p)
        out: Files = {}
        for path, group in by_file.items():
            data, error = render_file(self.tc, self.sources[path], group)  # cached per file and set
            if error:
                return {}, f"{path.name}: {error}"
            out[path] = data
        return out, ""

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
        if self._importers is None:
            self._importers = importers(self.tc, [self.packages[name] for name in changed])
        return sorted({*changed, *self._importers})

    def _go(self, verb: list[str], proposals: Sequence[Proposal], packages: Sequence[str], **kw: str) -> Outcome:
        files, error = self.render(proposals)
        if error:
            return Outcome(False, error)
        run = self.overlay.go(verb, files, packages, env=kw or None)
        return Outcome(run.ok, run.output)

    def build(self, proposals: Sequence[Proposal], packages: Sequence[str] = ()) -> Outcome:
        """Compile with escape diagnostics; facts are kept for the scanned packages only. A batch
        built before is not built again (an Outcome is never changed once returned)."""
        key = (frozenset(proposals), tuple(packages or self._build_scope(proposals)))
        outcome = self._builds.pop(key, None) or self._build(proposals, key[1])
        self._builds[key] = outcome  # the latest last: the few most recent are kept, as each holds its facts
        while len(self._builds) > _BUILDS_KEPT:
            del self._builds[next(iter(self._builds))]
        return outcome

    def _build(self, proposals: Sequence[Proposal], packages: Sequence[str]) -> Outcome:
        files, error = self.render(proposals)
        if error:
            return Outcome(False, error)
        run = self.overlay.go(["build", GCFLAGS, "-o", "/dev/null"], files, packages)
        outcome = Outcome(run.ok, run.output)
        if not run.ok:
            outcome.output = compiler_errors(run.output)
            return outcome
        sources = dict(self.sources)
        sources.update({path: parse_bytes(path, data) for path, data in files.items()})
        facts = allocation_facts(parse_diagnostics(run.output, self.cwd, sources))
        outcome.facts = [f for f in facts if f.package in self.packages]
        outcome.where = original_positions(outcome.facts, {path: self.sources[path].data for path in files}, files)
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
        return list(self.build(proposals, sorted(self.packages)).facts)  # a copy: the build is cached

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
        found = vet_findings(outcome.output)
        if not found:  # a failure that names no position (a load error) is not the baseline's
            return outcome
        new = found - self._baseline_vet[key]
        return Outcome(not new, "\n".join(f"{path}: {msg}" for path, msg in sorted(new)) or outcome.output)

    def vet(self, proposals: Sequence[Proposal]) -> Outcome:
        return self._vet_like(["vet"], proposals, {})

    def platforms(self, proposals: Sequence[Proposal]) -> Outcome:
        """Build (or vet) on every other GOOS/GOARCH that compiles files of the changed packages."""
        dirs = sorted({self.packages[name].dir for name in self._changed(proposals)})
        verb = ["vet"] if self.level in ("vet", "test") else ["build", "-o", "/dev/null"]
        for goos, goarch in self.other_platforms(dirs):
            env = {"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0"}
            outcome = self._vet_like(verb, proposals, env)
            if not outcome.ok:
                return Outcome(False, f"{goos}/{goarch}: {first(outcome.output)}\n{outcome.output}")
        return Outcome(True)

    def other_platforms(self, dirs: Sequence[Path]) -> list[tuple[str, str]]:
        key = tuple(dirs)
        if key not in self._targets:
            self._targets[key] = other_targets(self.oracle, self.tc, dirs)
        return self._targets[key]

    def test(self, proposals: Sequence[Proposal]) -> Outcome:
        if not (scope := self.test_scope(proposals)):
            return Outcome(True)  # `go test` with no package would test the current directory
        outcome = self._go(["test", "-count=1", "-timeout=10m", *self.test_flags], proposals, scope)
        if not outcome.ok:
            outcome.output = test_failure(outcome.output)
        return outcome

    def baseline_tests_pass(self, proposals: Sequence[Proposal]) -> Outcome:
        scope = tuple(self.test_scope(proposals))
        if scope and scope not in self._baseline_ok:
            run = self.overlay.go(["test", "-count=1", "-timeout=10m", *self.test_flags], {}, scope)
            self._baseline_ok[scope] = Outcome(run.ok, test_failure(run.output))
        return self._baseline_ok.get(scope, Outcome(True))

    def verify(self, proposals: Sequence[Proposal]) -> list[Verified | Rejected]:
        """Each proposal verified or rejected with the reason; overlapping ones judged against each other."""
        results, rounds = into_rounds(proposals, lambda p: self.render([p])[1])
        judged = [self._verify_batch(batch) for batch in rounds]
        return results + choose(judged, self._confirms)

    def _confirms(self, proposals: Sequence[Proposal]) -> bool:
        """Whether rewrites verified in different rounds pass together: build, escapes, vet, other
        platforms and tests, as each passed alone."""
        checks = [self.compiles, self.platforms]
        checks += [self.vet] if self.level in ("vet", "test") else []
        checks += [self.test] if self.level == "test" else []
        alive = list(proposals)
        return all(check(alive).ok for check in checks) and not self._judge_escapes(alive)[1]

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
        others = self.other_platforms(sorted({self.packages[n].dir for n in self._changed(alive)}))
        if others:
            name = "platforms " + " ".join(f"{goos}/{goarch}" for goos, goarch in others)
            stage = Stage.VET if self.level in ("vet", "test") else Stage.BUILD
            stages.append((name, stage, self.platforms, "fails on "))
        for name, stage, check, prefix in stages:
            if alive:
                self.progress(f"{name}: {len(alive)} of {len(alive) + len(results)} proposals left")
                alive, bad = bisect(alive, check)
                results += [Rejected(p, stage, prefix + first(why), why) for p, why in bad]
                checks.append(name)
        if alive and self.level == "test":
            self.progress(f"testing {len(alive)} of {len(alive) + len(results)} proposals left")
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
            scope = self.test_scope(alive)
            changed = {n: self.packages[n] for n in self._changed(alive)}
            measurer = Measurer(self.overlay, changed, scope, self.sources, self.render, self.test_flags, self.progress)
            measured = measurer.measure(alive, files)
        removed = set(self._compare(self.build(alive))[0])
        return [
            verdict(p, measured[p], tuple(t for t in p.targets if t in removed) if p.proof == "escape" else (), checks)
            for p in alive
        ]

    def _judge_escapes(self, alive: list[Proposal]) -> tuple[list[Proposal], list[Rejected]]:
        """Each targeted escape gone and none added (judge.judge_escapes), from one build of the batch."""
        removed, added = self._compare(self.build(alive))
        return judge_escapes(alive, removed, added, self.sources, lambda p: self._compare(self.build([p]))[1])

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

    def _judge_tests(self, alive: list[Proposal]) -> tuple[list[Proposal], list[Rejected]]:
        first_run = self.test(alive)
        if first_run.ok:
            return alive, []
        base = self.baseline_tests_pass(alive)
        if not base.ok:
            why = f"{BASELINE_TESTS_FAIL}, so --verify test cannot judge it"
            return [], [Rejected(p, Stage.TEST, why, base.output) for p in alive]
        good, bad = bisect(alive, self.test, known_bad=first_run)
        return good, [Rejected(p, Stage.TEST, "tests fail: " + first(why), why) for p, why in bad]
