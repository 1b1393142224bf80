"""Guard tests: beside a measured rewrite, a Go test that fails when its path allocates more again.

The path is what measured the rewrite: a test or benchmark function named in Measurement.by,
declared in the rewritten package's folder. The guard calls it inside testing.AllocsPerRun, a test
with the guard's own *testing.T, a benchmark through testing.Benchmark under -test.benchtime=1x
(one call with b.N == 1, or one pass of b.Loop), and fails when the count exceeds its bound:

    allocs := testing.AllocsPerRun(10, func() { TestRow(t) })
    if allocs > 4 {
        t.Errorf("TestRow allocates %v times per run, more than the 4 left by goescape's rewrite of row.go:4", allocs)
    }

The bound is what the guard itself counts on the rewritten tree (the most of PROBES runs through
the overlay); without each rewrite it stands for it must count more (the least of PROBES runs), or
it would guard nothing and is not written. The files are then run once more: every guard returned
passes with the rewrites and fails without them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.guard_runners import _declared, _Runner, runners_for
from goescape.engine.guard_source import _PROBE_PREFIX, RUNS, _Guard, render
from goescape.engine.overlay import GoRun, Overlay
from goescape.engine.packages import Package
from goescape.engine.parsing import Node, SourceFile
from goescape.engine.proof import final_contents
from goescape.engine.results import Verified
from goescape.engine.samples import first_line
from goescape.engine.session import Session

PROBES = 3  # go test -count of each measuring run: the bound is the most with, the saving the least without
SLOW = 5.0  # seconds; a guard slower than this would weigh on every run of the package's tests
PREFIX = "TestGoescapeGuard_"

_PROBED = re.compile(r"goescape-probe (\d+) (\d+)\b")
_ENDED = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (TestGoescape\w+) \((\d+(?:\.\d+)?)s\)", re.MULTILINE)
_SAID = re.compile(r"^\s+\S+\.go:\d+: .+$|^panic: .+$|^\S+\.go:\d+:\d+: .+$", re.MULTILINE)


@dataclass(frozen=True)
class Guards:
    """New test files (path → content), and why each rewrite that got no guard got none."""

    files: dict[Path, bytes]
    declined: tuple[tuple[Verified, str], ...]


@dataclass(frozen=True)
class _Count:
    allocs: tuple[int, ...]  # AllocsPerRun's result in each of PROBES runs
    seconds: float  # the slowest run of the whole guard


def guards(session: Session, verified: Sequence[Verified], changes: Mapping[Path, tuple[bytes, bytes]]) -> Guards:
    """A guard test beside each verified rewrite that a test or benchmark measured, where one is honest.

    `verified` are the rewrites `changes` (path → (old, new)) applies. Every guard returned passes
    with the rewrites and fails without them; the others are declined with the reason.
    """
    overlay = Overlay(session.tc, session.cwd)
    try:
        return _Guarding(session, overlay, verified, changes).run()
    finally:
        overlay.close()


@dataclass
class _Guarding:
    session: Session
    overlay: Overlay
    verified: Sequence[Verified]
    changes: Mapping[Path, tuple[bytes, bytes]]
    _seen: dict[str, dict[str, tuple[SourceFile, Node]]] = field(default_factory=dict)  # test functions by package

    def run(self) -> Guards:
        declined: dict[Verified, list[str]] = {}
        candidates: dict[Verified, list[_Runner]] = {}
        for v in self.verified:
            candidates[v], declined[v] = runners_for(v, self.session.by_path, self._functions)
        after_tree = {path: new for path, (_, new) in self.changes.items()}
        after = self._probe(sorted({r for rs in candidates.values() for r in rs}, key=_order), after_tree)
        chosen: dict[_Runner, list[tuple[Verified, int]]] = {}
        for v, runners in candidates.items():
            usable = [r for r in runners if self._usable(r, after.get(r), declined[v])]
            before = self._probe(usable, self._without(v, after_tree)) if usable else {}
            for r in usable:
                count, bound = before.get(r), max(_counted(after[r]).allocs)
                if not isinstance(count, _Count):
                    declined[v].append(f"{r.name} fails without the rewrite: {count or 'it did not run'}")
                elif min(count.allocs) <= bound:
                    declined[v].append(
                        f"{r.name} counts {bound} allocations per run with the rewrite and {min(count.allocs)} "
                        "without it: a guard on it would not fail without the rewrite, so it guards nothing"
                    )
                else:
                    chosen.setdefault(r, []).append((v, min(count.allocs)))
                    break
        made = self._name(
            [
                _Guard(r, "", max(_counted(after[r]).allocs), tuple(vs))
                for r, vs in sorted(chosen.items(), key=lambda item: _order(item[0]))
            ]
        )
        files: dict[Path, bytes] = {}
        while made:
            files = render(self.session.tc, made, self.changes)
            failing = self._check(made, files, after_tree)
            if not failing:
                break
            for g, reason in failing.items():
                for v, _ in g.stands_for:
                    declined[v].append(f"{g.runner.name}: {reason}")
            made = [g for g in made if g not in failing]
            files = {}
        guarded = {v for g in made for v, _ in g.stands_for}
        return Guards(
            files,
            tuple(
                (v, "; ".join(dict.fromkeys(declined[v])) or "no test or benchmark to guard it with")
                for v in self.verified
                if v not in guarded
            ),
        )

    # --- which functions ran the rewrite ------------------------------------------------------

    def _functions(self, package: Package) -> dict[str, tuple[SourceFile, Node]]:
        if package.import_path not in self._seen:
            self._seen[package.import_path] = _declared(package)
        return self._seen[package.import_path]

    def _usable(self, r: _Runner, count: _Count | str | None, why: list[str]) -> bool:
        if count is None:
            why.append(f"{r.name} did not run with the rewrite")
        elif isinstance(count, str):
            why.append(f"{r.name} fails when a guard calls it with the rewrite: {count}")
        elif count.seconds > SLOW:
            why.append(
                f"calling {r.name} {RUNS + 1} times takes {count.seconds:.1f} s, too slow for a test that runs every time"
            )
        else:
            return True
        return False

    def _without(self, v: Verified, after: Mapping[Path, bytes]) -> dict[Path, bytes]:
        """The rewritten files with every verified rewrite but `v`."""
        mine = v.proposal.files | {path for path, _ in v.proposal.add_imports}
        others = [u for u in self.verified if u != v]
        kept = final_contents(self.session, others) if others else {}
        tree = {path: data for path, data in after.items() if path not in mine}
        tree.update({path: new for path, (_, new) in kept.items() if path in mine})
        return tree

    # --- go test through the overlay ------------------------------------------------------------

    def _probe(self, runners: Sequence[_Runner], tree: Mapping[Path, bytes]) -> dict[_Runner, _Count | str]:
        """What a guard on each runner counts on `tree`, or why it failed."""
        out: dict[_Runner, _Count | str] = {}
        for import_path in dict.fromkeys(r.import_path for r in runners):
            out.update(self._probe_package(import_path, [r for r in runners if r.import_path == import_path], tree))
        return out

    def _probe_package(
        self, import_path: str, runners: Sequence[_Runner], tree: Mapping[Path, bytes]
    ) -> dict[_Runner, _Count | str]:
        probes = [_Guard(r, f"{_PROBE_PREFIX}{i}", -1, ()) for i, r in enumerate(runners)]
        files = render(self.session.tc, probes, self.changes)
        run = self._go_test(import_path, {**tree, **files}, f"^{_PROBE_PREFIX}[0-9]+$", PROBES)
        counts: dict[str, list[int]] = {}
        for m in _PROBED.finditer(run.output):
            counts.setdefault(f"{_PROBE_PREFIX}{m.group(1)}", []).append(int(m.group(2)))
        ended = _ended(run.output)
        out: dict[_Runner, _Count | str] = {}
        for g in probes:
            states, seconds = ended.get(g.name, ([], []))
            allocs = counts.get(g.name, [])
            if len(allocs) == PROBES and set(states) == {"PASS"}:
                out[g.runner] = _Count(tuple(allocs), max(seconds))
            elif len(probes) > 1:
                # Another probe may have broken the run (a panic ends the binary): try this one alone.
                out.update(self._probe_package(import_path, [g.runner], tree))
            elif "SKIP" in states:
                out[g.runner] = f"{g.runner.name} skips itself"
            else:
                out[g.runner] = _said(run.output)
        return out

    def _check(
        self, made: Sequence[_Guard], files: Mapping[Path, bytes], after: Mapping[Path, bytes]
    ) -> dict[_Guard, str]:
        """The guards that do not pass with the rewrites or do not fail without them, and why."""
        failing: dict[_Guard, str] = {}
        for import_path in dict.fromkeys(g.runner.import_path for g in made):
            mine = [g for g in made if g.runner.import_path == import_path]
            ours = {path: data for path, data in files.items() if path.parent == mine[0].runner.dir}
            pattern = "^(" + "|".join(g.name for g in mine) + ")$"
            with_rewrites = self._go_test(import_path, {**after, **ours}, pattern, 1)
            without = self._go_test(import_path, ours, pattern, 1)
            passed, failed = _ended(with_rewrites.output), _ended(without.output)
            for g in mine:
                if passed.get(g.name, ([], []))[0] != ["PASS"]:
                    failing[g] = f"the guard does not pass with the rewrite: {_said(with_rewrites.output)}"
                elif failed.get(g.name, ([], []))[0] != ["FAIL"] or f"{g.runner.name} allocates" not in without.output:
                    failing[g] = "the guard did not fail without the rewrite when run again: the count varies"
        return failing

    def _go_test(self, import_path: str, files: Mapping[Path, bytes], pattern: str, count: int) -> GoRun:
        verb = ["test", f"-count={count}", "-timeout=10m", "-v", "-run", pattern]
        return self.overlay.go(verb, files, [import_path])

    # --- naming -------------------------------------------------------------------------------

    def _name(self, made: Sequence[_Guard]) -> list[_Guard]:
        """Each guard named TestGoescapeGuard_<runner>, with a suffix where the package has that name."""
        named: list[_Guard] = []
        taken: dict[tuple[Path, str], set[str]] = {}
        for g in made:
            home = g.runner.home
            if home not in taken:
                package = self.session.by_path[g.runner.import_path]
                taken[home] = {n for n, (src, _) in self._functions(package).items() if src.package_name == home[1]}
            name, n = PREFIX + g.runner.name, 1
            while name in taken[home]:
                n += 1
                name = f"{PREFIX}{g.runner.name}_{n}"
            taken[home].add(name)
            named.append(_Guard(g.runner, name, g.bound, g.stands_for))
        return named


def _order(r: _Runner) -> tuple[str, str, str]:
    return (r.import_path, r.clause, r.name)


def _counted(count: _Count | str | None) -> _Count:
    return count if isinstance(count, _Count) else _Count((0,), 0.0)


def _ended(output: str) -> dict[str, tuple[list[str], list[float]]]:
    """Each test's outcomes (PASS, FAIL, SKIP) and durations in `go test -v` output, one per -count run."""
    out: dict[str, tuple[list[str], list[float]]] = {}
    for m in _ENDED.finditer(output):
        states, seconds = out.setdefault(m.group(2), ([], []))
        states.append(m.group(1))
        seconds.append(float(m.group(3)))
    return out


def _said(output: str) -> str:
    """The first things a failing `go test` said: t.Error lines, a panic, compiler errors."""
    said = [m.group(0).strip() for m in _SAID.finditer(output)]
    return "; ".join(dict.fromkeys(said[:3])) or first_line(output)
