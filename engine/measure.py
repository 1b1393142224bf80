"""Run-time proof through the code's own tests and benchmarks: allocations before and after a rewrite.

Nothing is called with arguments goescape made up, and nothing runs that the code's own tests and
benchmarks do not run already: no `main`, no function the tests leave alone.

For each test package that depends on a changed package (its own and its importers' in the given
patterns), `go test -run . -bench . -benchtime=1x` runs:
1. once with `-covermode=count -coverpkg=<changed packages>`: how many times the rewritten lines
   executed (a rewrite no test reaches is "not measured", never "saves nothing");
2. once before and once after the rewrites (through the overlay) with `-memprofilerate=1`, so the
   heap profile samples every allocation; the allocations whose stacks pass through a rewritten
   function are counted on each side (from `go tool pprof -traces -lines`), and the test and
   benchmark functions on those stacks say who ran it. A heap profile records an allocation when
   it takes memory of its own; the runtime packs small pointer-free ones (under 16 B: strconv's
   digits, a boxed int) into a block already open without a record (runtime/malloc.go,
   mallocgcTiny), so these runs use the toolchain's runtime with its tiny allocator off, through
   the same overlay (see engine/tinyalloc.py): every allocation is a sample, as in -benchmem's count;
3. the benchmarks among those, before and after with `-benchmem`: allocs/op and B/op.
The coverage run is apart from the profiled ones because counters change what the inliner does.
Rewrites that share a function are profiled after one at a time, and a benchmark that runs
several rewrites is run once per rewrite, so no rewrite is credited with another's saving.
"""

from __future__ import annotations

import functools
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from goescape.engine.console import Steps, no_steps
from goescape.engine.overlay import Overlay
from goescape.engine.packages import Package
from goescape.engine.parsing import SourceFile, parse_bytes
from goescape.engine.proposals import Proposal
from goescape.engine.results import Measurement
from goescape.engine.samples import Sample, executions, first_line, parse_bench, parse_coverage, parse_traces
from goescape.engine.spans import _after, _names_any, _runners, _Target, _target, _through
from goescape.engine.tinyalloc import exact_runtime

# Each run names its test binary with -o, in goescape's temporary folder: go test would leave `p.test` in the tree.
RUN_ALL = ["test", "-count=1", "-timeout=10m", "-run", ".", "-bench", ".", "-benchtime=1x"]
BENCH_ONCE = ["test", "-count=1", "-timeout=10m", "-run", "^$", "-bench", ".", "-benchtime=1x"]


@dataclass
class Measurer:
    """Measures a batch of verified-so-far rewrites with the tests of `test_packages` (import paths)."""

    overlay: Overlay
    changed: Mapping[str, Package]
    test_packages: Sequence[str]
    sources: Mapping[Path, SourceFile]
    render: Callable[[Sequence[Proposal]], tuple[dict[Path, bytes], str]]  # new file contents, or an error
    test_flags: tuple[str, ...] = ()  # e.g. ("-short",), given to every test run
    progress: Steps = no_steps  # hears each test package measured, of how many

    def measure(self, proposals: Sequence[Proposal], files: Mapping[Path, bytes]) -> dict[Proposal, Measurement | str]:
        """Each proposal's measurement, or why it was not measured (one line)."""
        rendered = {path: parse_bytes(path, data) for path, data in files.items()}
        targets = {p: _target(p, self.sources, rendered) for p in proposals}
        spans = Counter(span for p in proposals for span in set(targets[p].before))
        apart = {p for p in proposals if any(spans[span] > 1 for span in targets[p].before)}
        runs, counts = {p: 0 for p in proposals}, {p: [0, 0] for p in proposals}
        heat = {p: 0 for p in proposals}  # executions in one pass of the benchmarks (-benchtime=1x)
        names: dict[Proposal, list[tuple[str, str]]] = {p: [] for p in proposals}  # (package, runner)
        failures: dict[str, str] = {}
        dirs = {str(package.dir) for package in self.changed.values()}
        count = len(self.test_packages)
        step = f"measuring allocations with the tests of {count} package{'' if count == 1 else 's'}"
        for done, package in enumerate(self.test_packages):
            self.progress(step, done, count)
            executions = self._coverage(package, proposals, targets)
            if isinstance(executions, str):
                failures[package] = executions
                continue
            reached = [p for p in proposals if executions.get(p, 0) > 0]
            if not reached:
                continue
            before = self._profile(package, {})
            after = self._profile(package, files) if set(reached) - apart else []
            for bad in (before, after):
                if isinstance(bad, str):
                    failures[package] = bad
            if isinstance(before, str) or isinstance(after, str):
                continue
            if not _names_any(before, dirs):
                failures[package] = f"the heap profile of {package}'s tests names no file of the changed packages"
                continue
            for p in reached:
                counted = targets[p].after
                if p in apart:
                    own, error = self.render([p])
                    # Unrendered, the profile would be of the code as it is: "saves nothing" by mistake.
                    mine = (
                        f"{p.path.name}:{p.line} alone does not render: {error}"
                        if error
                        else self._profile(package, own)
                    )
                    alone = {path: parse_bytes(path, data) for path, data in own.items()}
                    counted = _after(targets[p].named, self.sources, alone)
                else:
                    mine = after
                if isinstance(mine, str):
                    failures[package] = mine
                    continue
                runs[p] += executions[p]
                for side, samples in enumerate((before, mine)):
                    hits = [s for s in samples if _through(s, targets[p].before if side == 0 else counted)]
                    counts[p][side] += sum(s.count for s in hits)
                    names[p] += [(package, n) for s in hits for n in _runners(s)] if side == 0 else []
            if any(n.startswith("Benchmark") for p in reached for home, n in names[p] if home == package):
                benched = self._coverage(package, reached, targets, BENCH_ONCE)
                for p, n in benched.items() if isinstance(benched, dict) else ():
                    heat[p] += n
        names = {p: list(dict.fromkeys(found)) for p, found in names.items()}
        if any(n.startswith("Benchmark") for found in names.values() for _, n in found):
            self.progress("measuring allocations with the benchmarks that run the rewrites")
        benches = self._benchmarks(proposals, names, files)
        out: dict[Proposal, Measurement | str] = {}
        for p in proposals:
            if not runs[p]:
                out[p] = self._why_not(p, targets[p], failures)
                continue
            runners = [n for _, n in names[p]]
            by = ", ".join(runners[:3]) + (" …" if len(runners) > 3 else "") or "the tests of " + p.package
            per_run = (counts[p][0] / runs[p], counts[p][1] / runs[p])
            version = self.overlay.tc.version
            measured = Measurement(
                by,
                f"{p.path.name}:{p.line}",
                p.function,
                runs[p],
                per_run,
                toolchain=version,
                complete=bool(self.exact),
            )
            # A benchmark that runs the rewrite decides: per op is what its author measures by.
            out[p] = replace(benches.get(p, measured), benchmark_runs=heat[p])
        return out

    def _why_not(self, p: Proposal, target: _Target, failures: Mapping[str, str]) -> str:
        where = f"{p.path.name}:{p.line}"
        if target.lines and all(path.name.endswith("_test.go") for path in target.lines):
            return f"{where} is in a _test.go file, whose lines coverage does not count"
        if failures:
            return next(iter(failures.values()))
        if not self.test_packages:
            return f"no test or benchmark runs {where}: neither {p.package} nor a package importing it has tests"
        return f"no test or benchmark that depends on {p.package} runs {where}"

    def _home(self, path: Path, fallback: str) -> str:
        return next((name for name, pkg in self.changed.items() if pkg.dir == path.parent), fallback)

    def _coverage(
        self,
        package: str,
        proposals: Sequence[Proposal],
        targets: Mapping[Proposal, _Target],
        verb: Sequence[str] = RUN_ALL,
    ) -> dict[Proposal, int] | str:
        """How many times each proposal's lines ran in `go test` of `package` (tests and benchmarks
        once each by default; BENCH_ONCE: one iteration of each benchmark only), or why none ran."""
        folder = self.overlay.folder()
        cover = folder / "cover.out"
        coverpkg = f"-coverpkg={','.join(sorted(self.changed))}"
        flags = ["-covermode=count", coverpkg, f"-coverprofile={cover}", "-o", str(folder / "t.test")]
        run = self.overlay.go([*verb, *self.test_flags, *flags], {}, [package])
        if not cover.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            return f"the tests of {package} did not run: {first_line(run.output)}"
        blocks = parse_coverage(cover.read_text())
        shutil.rmtree(folder, ignore_errors=True)
        return {
            p: max(
                (
                    executions(blocks.get(f"{self._home(path, p.package)}/{path.name}", []), lines)
                    for path, lines in targets[p].lines.items()
                ),
                default=0,
            )
            for p in proposals
        }

    @functools.cached_property
    def exact(self) -> dict[Path, bytes]:
        """The runtime overlay that makes the heap profile sample every allocation ({} if none)."""
        return exact_runtime(self.overlay.tc)

    def _profile(self, package: str, files: Mapping[Path, bytes]) -> list[Sample] | str:
        folder = self.overlay.folder()
        prof = folder / "mem.prof"
        flags = [f"-memprofile={prof}", "-memprofilerate=1", "-o", str(folder / "t.test")]
        run = self.overlay.go([*RUN_ALL, *self.test_flags, *flags], {**self.exact, **files}, [package])
        if not prof.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            return f"the tests of {package} wrote no heap profile: {first_line(run.output)}"
        text = self.overlay.tc.run(
            ["tool", "pprof", "-traces", "-lines", "-sample_index=alloc_objects", str(prof)], folder
        )
        shutil.rmtree(folder, ignore_errors=True)
        return parse_traces(text.stdout)

    def _benchmarks(
        self,
        proposals: Sequence[Proposal],
        names: Mapping[Proposal, list[tuple[str, str]]],
        files: Mapping[Path, bytes],
    ) -> dict[Proposal, Measurement]:
        """allocs/op and B/op of a benchmark whose stacks pass through each rewrite.

        A benchmark that runs one rewrite of the batch is measured once with the batch applied (the
        other rewrites are not on its stacks); one that runs several, once per rewrite, with that
        rewrite alone. Each package's benchmarks run in one `go test` per side.
        """
        benches = {p: [k for k in names[p] if k[1].startswith("Benchmark")] for p in proposals}
        sharing = Counter(k for found in benches.values() for k in found)
        chosen = {p: min(found, key=lambda k: sharing[k] > 1) for p, found in benches.items() if found}
        wanted: dict[str, set[str]] = {}
        for package, name in chosen.values():
            wanted.setdefault(package, set()).add(name)
        before = {package: self._bench(package, found, {}) for package, found in wanted.items()}
        alone = {pk: {n for (q, n), k in sharing.items() if q == pk and k == 1} & found for pk, found in wanted.items()}
        batch = {package: self._bench(package, found, files) for package, found in alone.items() if found}
        out: dict[Proposal, Measurement] = {}
        for p, (package, name) in chosen.items():
            if sharing[(package, name)] == 1:
                after = batch[package].get(name)
            else:
                own, error = self.render([p])
                after = self._bench(package, {name}, own).get(name) if not error else None
            sides = (before[package].get(name), after)
            if not (sides[0] and sides[1]):
                continue
            allocs = tuple(side["allocs/op"] for side in sides if side)
            spent = tuple(side["B/op"] for side in sides if side)
            where, version = f"{p.path.name}:{p.line}", self.overlay.tc.version
            out[p] = Measurement(
                name, where, p.function, 0, (allocs[0], allocs[1]), (spent[0], spent[1]), True, version
            )
        return out

    def _bench(self, package: str, names: set[str], files: Mapping[Path, bytes]) -> dict[str, dict[str, float]]:
        folder = self.overlay.folder()
        pattern = "^(" + "|".join(sorted(names)) + ")$"
        verb = ["test", "-count=3", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime=200x", *self.test_flags]
        run = self.overlay.go([*verb, "-o", str(folder / "b.test")], files, [package])
        shutil.rmtree(folder, ignore_errors=True)
        return parse_bench(run.output)


# The other moved names measure.py imports for its own use: _Target, _after, _names_any, _runners,
# _target and _through (engine/spans.py), exact_runtime (engine/tinyalloc.py).
