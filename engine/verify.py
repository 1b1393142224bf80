"""Verification: proposals compiled through `go build -overlay`, judged by build, escapes, vet and tests."""

from __future__ import annotations

import difflib
import json
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.allocations import HARNESS_NAME, Call, call_for, harness, parse_counts
from goescape.engine.codemod import Proposal
from goescape.engine.edits import overlaps, render_file
from goescape.engine.facts import GCFLAGS, EscapeFact, allocation_facts, parse_diagnostics
from goescape.engine.parsing import FUNCTION_TYPES, SourceFile, enclosing, function_name, node_at, parse_bytes
from goescape.engine.results import Rejected, Stage, Verified
from goescape.engine.toolchain import Package, Toolchain, importers

LEVELS = ("build", "vet", "test")
Ident = tuple[str, str, str, str]


def _ident(fact: EscapeFact) -> Ident:
    return (str(fact.path), fact.function, fact.kind.value, fact.expr)


def line_map(old: bytes, new: bytes) -> dict[int, tuple[int, bool]]:
    """New line → (original line, unchanged) for the lines an edit kept or rewrote one for one."""
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    mapping: dict[int, tuple[int, bool]] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            mapping.update({j1 + k + 1: (i1 + k + 1, tag == "equal") for k in range(j2 - j1)})
    return mapping


def compare(before: Sequence[EscapeFact], after: Outcome) -> tuple[list[EscapeFact], list[EscapeFact]]:
    """(removed, added): baseline facts with no counterpart after the edit, and new facts with none before.

    A fact on an unchanged line must match file, function, kind, expression, line and column: an
    inlined callee's `moved to heap: c` and the caller's own `c` can share all but the column. On a
    line rewritten one for one the column may move, so the line decides; a line the edit added
    matches nothing.
    """
    pool: dict[Ident, list[EscapeFact]] = {}
    for fact in before:
        pool.setdefault(_ident(fact), []).append(fact)
    added: list[EscapeFact] = []
    loose: list[tuple[EscapeFact, int]] = []
    for fact, (line, column) in zip(after.facts, after.where, strict=True):
        candidates = pool.get(_ident(fact), [])
        if line < 0:
            added.append(fact)
        elif column < 0:
            loose.append((fact, line))
        elif hit := next((b for b in candidates if (b.line, b.column) == (line, column)), None):
            candidates.remove(hit)
        else:
            added.append(fact)
    for fact, line in loose:
        candidates = pool.get(_ident(fact), [])
        if hit := next((b for b in candidates if b.line == line), None):
            candidates.remove(hit)
        else:
            added.append(fact)
    return [b for facts in pool.values() for b in facts], added


@dataclass
class Outcome:
    ok: bool
    output: str = ""
    facts: list[EscapeFact] = field(default_factory=list)
    # Each fact's (line, column) in the original file; -1 where the edit made the line or moved the column.
    where: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Verifier:
    """Judges proposals against the real toolchain without touching the user's files."""

    tc: Toolchain
    cwd: Path
    packages: dict[str, Package]
    sources: dict[Path, SourceFile]
    baseline: list[EscapeFact]
    level: str = "test"
    measure: bool = True
    progress: Callable[[str], None] = lambda _msg: None
    _tmp: tempfile.TemporaryDirectory[str] = field(default_factory=tempfile.TemporaryDirectory)
    _rendered: dict[tuple[Path, frozenset[Proposal]], tuple[bytes, str]] = field(default_factory=dict)
    _importers: list[str] | None = None
    _baseline_vet: set[tuple[str, str]] | None = None
    _baseline_test: Outcome | None = None

    def close(self) -> None:
        self._tmp.cleanup()

    # --- rendering -------------------------------------------------------------------------

    def render(self, proposals: Sequence[Proposal]) -> tuple[dict[Path, bytes], str]:
        """New contents of every file the proposals touch, or an error text."""
        by_file: dict[Path, list[Proposal]] = {}
        for p in proposals:
            for path in p.files | {path for path, _ in p.add_imports}:
                by_file.setdefault(path, []).append(p)
        out: dict[Path, bytes] = {}
        for path, group in by_file.items():
            # Keyed by the proposals themselves (frozen values): an id() can be reused once one is freed.
            key = (path, frozenset(group))
            if key not in self._rendered:
                self._rendered[key] = render_file(self.tc, self.sources[path], group)
            data, error = self._rendered[key]
            if error:
                return {}, f"{path.name}: {error}"
            out[path] = data
        return out, ""

    def _overlay(self, files: dict[Path, bytes]) -> tuple[Path, dict[str, Path]]:
        root = Path(self._tmp.name)
        run = root / f"run{len(list(root.iterdir()))}"
        run.mkdir()
        return write_overlay(run, files)

    # --- the checks ------------------------------------------------------------------------

    def _targets(self, proposals: Sequence[Proposal]) -> list[str]:
        pkgs = sorted({p.package for p in proposals})
        if any(p.api_change for p in proposals):
            if self._importers is None:
                self._importers = importers(self.tc, [self.packages[name] for name in pkgs])
            pkgs += [name for name in self._importers if name not in pkgs]
        return pkgs

    def _go(
        self, verb: list[str], proposals: Sequence[Proposal], packages: Sequence[str] = ()
    ) -> tuple[Outcome, dict[Path, bytes]]:
        files, error = self.render(proposals)
        if error:
            return Outcome(False, error), {}
        return self._go_files(verb, files, packages or self._targets(proposals)), files

    def _go_files(self, verb: list[str], files: dict[Path, bytes], packages: Sequence[str]) -> Outcome:
        overlay, names = self._overlay(files)
        out = self.tc.run([*verb, f"-overlay={overlay}", *packages], self.cwd)
        return Outcome(out.returncode == 0, _unmap(out.stdout + out.stderr, names))

    def build(self, proposals: Sequence[Proposal], packages: Sequence[str] = ()) -> Outcome:
        """Compile with escape diagnostics; facts are kept for the scanned packages only."""
        outcome, files = self._go(["build", GCFLAGS, "-o", "/dev/null"], proposals, packages)
        if outcome.ok:
            sources = dict(self.sources)
            sources.update({path: parse_bytes(path, data) for path, data in files.items()})
            facts = allocation_facts(parse_diagnostics(outcome.output, self.cwd, sources))
            outcome.facts = [f for f in facts if f.package in self.packages]
            maps = {path: line_map(self.sources[path].data, data) for path, data in files.items()}
            for f in outcome.facts:
                if f.path not in maps:
                    outcome.where.append((f.line, f.column))
                    continue
                line, same = maps[f.path].get(f.line, (-1, False))
                outcome.where.append((line, f.column if same else -1))
        else:
            outcome.output = _compiler_errors(outcome.output)
        return outcome

    def compiles(self, proposals: Sequence[Proposal]) -> Outcome:
        """The build check: `go build`, and when test files were edited, their compile too
        (`go build` skips _test.go files; `go test -run ^$` compiles them and runs no test)."""
        outcome = self.build(proposals)
        if outcome.ok and any(e.path.name.endswith("_test.go") for p in proposals for e in p.edits):
            tests, _ = self._go(["test", "-count=1", "-vet=off", "-run", "^$"], proposals)
            if not tests.ok:
                return Outcome(False, _compiler_errors(tests.output))
        return outcome

    def scope_escapes(self, proposals: Sequence[Proposal]) -> list[EscapeFact]:
        """Every scanned package's escapes with the proposals applied: callers that inline the
        changed code lose escapes too, and a report's before → after must count those."""
        return self.build(proposals, sorted(self.packages)).facts

    def vet(self, proposals: Sequence[Proposal]) -> Outcome:
        outcome, _ = self._go(["vet"], proposals)
        if outcome.ok:
            return outcome
        if self._baseline_vet is None:
            base = self.tc.run(["vet", *self._targets(proposals)], self.cwd)
            self._baseline_vet = _vet_findings(base.stdout + base.stderr)
        new = _vet_findings(outcome.output) - self._baseline_vet
        return Outcome(not new, "\n".join(f"{path}: {msg}" for path, msg in sorted(new)) or outcome.output)

    def test(self, proposals: Sequence[Proposal]) -> Outcome:
        outcome, _ = self._go(["test", "-count=1", "-timeout=10m"], proposals)
        if not outcome.ok:
            outcome.output = _test_failure(outcome.output)
        return outcome

    def baseline_tests_pass(self, proposals: Sequence[Proposal]) -> Outcome:
        if self._baseline_test is None:
            out = self.tc.run(["test", "-count=1", "-timeout=10m", *self._targets(proposals)], self.cwd)
            self._baseline_test = Outcome(out.returncode == 0, _test_failure(out.stdout + out.stderr))
        return self._baseline_test

    # --- the whole judgement ---------------------------------------------------------------

    def verify(self, proposals: Sequence[Proposal]) -> list[Verified | Rejected]:
        results: list[Verified | Rejected] = []
        alive: list[Proposal] = []
        for p in proposals:
            _, error = self.render([p])
            clash = next((q for q in alive if overlaps(p, q)), None)
            if error:
                results.append(Rejected(p, Stage.RENDER, error))
            elif clash is not None:
                results.append(
                    Rejected(p, Stage.RENDER, f"overlaps {clash.title()}; run goescape again once that one is applied")
                )
            else:
                alive.append(p)
        if not alive:
            return results

        self.progress(f"building {len(alive)} proposals")
        alive, bad = bisect(alive, self.compiles)
        results += [Rejected(p, Stage.BUILD, "does not build: " + _first(why), why) for p, why in bad]
        if not alive:
            return results

        alive, rejected = self._judge_escapes(alive)
        results += rejected
        checks = ["build", "escape"]
        if alive and self.level in ("vet", "test"):
            self.progress(f"vetting {len(alive)} proposals")
            alive, bad = bisect(alive, self.vet)
            results += [Rejected(p, Stage.VET, "go vet reports: " + _first(why), why) for p, why in bad]
            checks.append("vet")
        if alive and self.level == "test":
            self.progress(f"testing {len(alive)} proposals")
            alive, failed = self._judge_tests(alive)
            results += failed
            checks.append("test " + " ".join(self._targets(alive)) if alive else "test")
        measured = self.measure_allocs(alive) if alive and self.measure else {}
        removed, _ = self._compare(self.build(alive)) if alive else ([], [])
        for p in alive:
            # A run-time proof's escapes may stay or be replaced by the ones it declared: none is claimed.
            gone = tuple(t for t in p.targets if t in removed) if p.proof == "escape" else ()
            counts = measured.get(id(p), "allocations were not measured (--no-measure)")
            if counts == (0.0, 0.0):
                # Nothing allocates either way: the generated arguments missed the path (an error branch).
                counts = "the generated call allocates nothing before or after: it does not reach the rewrite"
            if isinstance(counts, tuple) and counts[1] >= counts[0]:
                why = f"allocs/op {counts[0]:g} → {counts[1]:g} (measured on {self.tc.version}): it saves nothing"
                results.append(Rejected(p, Stage.ALLOCS, why))
            elif isinstance(counts, str) and p.proof == "runtime":
                why = f"its proof is at run time and allocations could not be measured: {counts}"
                results.append(Rejected(p, Stage.ALLOCS, why))
            elif isinstance(counts, tuple):
                results.append(Verified(p, gone, (*checks, "allocs"), allocs=counts))
            else:
                results.append(Verified(p, gone, tuple(checks), unmeasured=counts))
        return results

    def measure_allocs(self, alive: Sequence[Proposal]) -> dict[int, tuple[float, float] | str]:
        """allocs/op of each changed function before and after, or why it was not measured."""
        self.progress(f"measuring allocations of {len(alive)} rewrites")
        files, error = self.render(alive)
        out: dict[int, tuple[float, float] | str] = {}
        if error:
            return {id(p): error for p in alive}
        rendered = {path: parse_bytes(path, data) for path, data in files.items()}
        calls: dict[int, tuple[Call, Call]] = {}
        for index, p in enumerate(alive):
            src = self.sources[p.path]
            if any(enclosing(node_at(src, e.start), "func_literal") for e in p.edits if e.path == p.path):
                out[id(p)] = "the rewrite is inside a closure, which calling the function does not run"
                continue
            before = call_for(src, p.function, index)
            after = call_for(rendered.get(p.path, self.sources[p.path]), p.function, index)
            if isinstance(before, str) or isinstance(after, str):
                out[id(p)] = before if isinstance(before, str) else str(after)
            elif (self.packages[p.package].dir / HARNESS_NAME).exists():
                out[id(p)] = f"{HARNESS_NAME} already exists in the package"
            else:
                calls[id(p)] = (before, after)
        chosen = [p for p in alive if id(p) in calls]
        counts = self._run_harness(chosen, calls, files)
        if isinstance(counts, str):  # one call fails to compile or crashes: measure each alone
            counts = {}
            for p in chosen:
                alone = self._run_harness([p], calls, files)
                if isinstance(alone, str):
                    out[id(p)] = alone
                else:
                    counts.update(alone)
        for p in chosen:
            if id(p) in out:
                continue
            index = calls[id(p)][0].index
            before_n, after_n = counts.get((0, index)), counts.get((1, index))
            if isinstance(before_n, float) and isinstance(after_n, float):
                out[id(p)] = (before_n, after_n)
            else:
                out[id(p)] = "the call panicked with the generated arguments"
        return out

    def _run_harness(
        self, chosen: Sequence[Proposal], calls: dict[int, tuple[Call, Call]], files: dict[Path, bytes]
    ) -> dict[tuple[int, int], float | str] | str:
        """Run the generated test before (side 0) and after (side 1) the rewrites; a string says why not."""
        if not chosen:
            return {}
        packages = sorted({p.package for p in chosen})
        result: dict[tuple[int, int], float | str] = {}
        for side, state in enumerate(({}, files)):
            overlay = dict(state)
            for name in packages:
                package = self.packages[name]
                mine = [calls[id(p)][side] for p in chosen if p.package == name]
                overlay[package.dir / HARNESS_NAME] = harness(package.name, mine).encode()
            verb = ["test", "-count=1", "-v", "-run", "^TestGoescapeAllocs"]
            outcome = self._go_files(verb, overlay, packages)
            if not outcome.ok:
                if "[build failed]" in outcome.output or "[setup failed]" in outcome.output:
                    return "the generated call does not compile: " + _first(_compiler_errors(outcome.output))
                return "the call crashed with the generated arguments (a panic in another goroutine?)"
            result.update({(side, index): n for index, n in parse_counts(outcome.output).items()})
        return result

    def _judge_escapes(self, alive: list[Proposal]) -> tuple[list[Proposal], list[Rejected]]:
        """Each targeted escape must be gone and no escape may be added.

        An added escape is pinned on the one proposal that edited the function it appears in (or a
        function inlined there); one that a proposal declares expected (`allowed_new`) is explained;
        the rest are found by compiling the suspects alone.
        """
        outcome = self.build(alive)
        removed, added = self._compare(outcome)
        touched = {id(p): self._touched_functions(p) for p in alive}
        blamed: dict[int, EscapeFact] = {}
        unpinned: list[tuple[EscapeFact, list[Proposal]]] = []
        for fact in added:
            # A proposal owns an escape in a function it edited, or in a caller that inlined one it edited.
            owners = [
                p
                for p in alive
                if (str(fact.path), outer_function(fact.function)) in touched[id(p)]
                or {name for _, name in touched[id(p)]} & set(fact.inlined)
            ]
            if any(re.search(rx, fact.expr) for p in owners for rx in p.allowed_new):
                continue
            if len(owners) == 1:
                blamed.setdefault(id(owners[0]), fact)
            else:
                unpinned.append((fact, owners or alive))
        for fact, suspects in unpinned:
            for p in suspects:
                if id(p) in blamed:
                    continue
                _, alone = self._compare(self.build([p]))
                if any(_ident(a) == _ident(fact) for a in alone):
                    blamed[id(p)] = fact
        rejected: list[Rejected] = []
        keep: list[Proposal] = []
        for p in alive:
            stayed = [t for t in p.targets if t not in removed] if p.proof == "escape" else []
            because = f": {p.if_unproven}" if p.if_unproven else ""
            if not p.targets and p.proof == "escape":
                rejected.append(
                    Rejected(p, Stage.ESCAPE, "the compiler reports no escape here for it to remove" + because)
                )
            elif stayed:
                t = stayed[0]
                why = f"the escape stayed: {t.path.name}:{t.line}: {t.message}{because}"
                rejected.append(Rejected(p, Stage.ESCAPE, why))
            elif id(p) in blamed:
                f = blamed[id(p)]
                why = f"adds an escape: {f.path.name}:{f.line}: {f.message} (in {f.function})"
                rejected.append(Rejected(p, Stage.ESCAPE, why))
            else:
                keep.append(p)
        return keep, rejected

    def _compare(self, outcome: Outcome) -> tuple[list[EscapeFact], list[EscapeFact]]:
        """compare() over the packages' own files: generic code of another package instantiated
        here (sync.OnceValue's closures) is reported again with each build's shapes, and no
        rewrite of this package is to blame for it."""
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
        first = self.test(alive)
        if first.ok:
            return alive, []
        base = self.baseline_tests_pass(alive)
        if not base.ok:
            why = "the package's tests already fail without any rewrite, so --verify test cannot judge it"
            return [], [Rejected(p, Stage.TEST, why, base.output) for p in alive]
        good, bad = bisect(alive, self.test, known_bad=first)
        return good, [Rejected(p, Stage.TEST, "tests fail: " + _first(why), why) for p, why in bad]


def write_overlay(folder: Path, files: dict[Path, bytes]) -> tuple[Path, dict[str, Path]]:
    """An `-overlay` file replacing (or adding) each path with a copy in `folder`, and copy → path."""
    replace: dict[str, str] = {}
    names: dict[str, Path] = {}
    for i, (path, data) in enumerate(sorted(files.items())):
        copy = folder / f"{i}_{path.name}"
        copy.write_bytes(data)
        replace[str(path)] = str(copy)
        names[str(copy)] = path
    overlay = folder / "overlay.json"
    overlay.write_text(json.dumps({"Replace": replace}))
    return overlay, names


def outer_function(name: str) -> str:
    """`Loop.func1.2` → `Loop`: closures count as part of the function that declares them; and
    `Map[go.shape.int]`, `(*List[int]).Push` → `Map[...]`, `(*List[...]).Push`: every instantiation
    of a generic function is the one function the source declares, as pprof names it."""
    return re.sub(r"(\.func\d+(\.\d+)*)+$", "", _elide_type_arguments(name))


def _elide_type_arguments(name: str) -> str:
    """Each outermost `[...]` of a name, whatever it holds (nested brackets too), as `[...]`."""
    out, depth = [], 0
    for char in name:
        if char == "[":
            out += ["[..."] if depth == 0 else []
            depth += 1
        elif char == "]" and depth:
            depth -= 1
            out += ["]"] if depth == 0 else []
        elif depth == 0:
            out.append(char)
    return "".join(out)


def bisect(
    items: list[Proposal], check: Callable[[Sequence[Proposal]], Outcome], known_bad: Outcome | None = None
) -> tuple[list[Proposal], list[tuple[Proposal, str]]]:
    """Split a failing batch until each culprit is found alone; returns (passing, [(culprit, why)])."""
    outcome = known_bad or check(items)
    if outcome.ok:
        return items, []
    if len(items) == 1:
        return [], [(items[0], outcome.output)]
    half = len(items) // 2
    good_a, bad_a = bisect(items[:half], check)
    good_b, bad_b = bisect(items[half:], check)
    good, bad = good_a + good_b, bad_a + bad_b
    if good and not check(good).ok:
        # The halves pass apart but not together: keep them one at a time, in order.
        kept: list[Proposal] = []
        for p in good:
            trial = check([*kept, p])
            if trial.ok:
                kept.append(p)
            else:
                bad.append((p, "conflicts with another rewrite: " + trial.output))
        good = kept
    return good, bad


def _unmap(text: str, names: dict[str, Path]) -> str:
    for copy, original in names.items():
        text = text.replace(copy, str(original))
        text = re.sub(r"\S*" + re.escape(Path(copy).name) + r"\b", str(original), text)
    return text


def _compiler_errors(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and _is_error_line(ln)]
    return "\n".join(lines[:20]) or text.strip()


_DIAG = re.compile(r"^(.+?):(\d+):(\d+): (.*)$")
_NOT_ERRORS = re.compile(
    r"(escapes to heap|moved to heap|does not escape|leaking param|inlin|flow:|from |can inline|cannot inline|"
    r"leaks to|captured by a closure|\.\.\. argument)"
)


def _is_error_line(line: str) -> bool:
    m = _DIAG.match(line)
    if not m:
        return not line.startswith(" ")
    return not _NOT_ERRORS.search(m.group(4))


def _vet_findings(text: str) -> set[tuple[str, str]]:
    found = set()
    for line in text.splitlines():
        m = _DIAG.match(line)
        if m:
            found.add((Path(m.group(1)).name, m.group(4)))
    return found


def _test_failure(text: str) -> str:
    keep = [
        ln
        for ln in text.splitlines()
        if ln.startswith(("--- FAIL", "FAIL", "panic:"))
        or ln.strip().startswith(("Error", "expected", "got"))
        or _DIAG.match(ln.strip())
    ]
    return "\n".join(keep[:20]) or text.strip()[-2000:]


def _first(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no output")
