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

import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.edits import gofmt
from goescape.engine.overlay import GoRun, Overlay
from goescape.engine.parsing import Node, SourceFile, parse_file, walk
from goescape.engine.results import Verified
from goescape.engine.runner import Session, final_contents
from goescape.engine.samples import first_line
from goescape.engine.toolchain import Package

RUNS = 10  # calls of the path per AllocsPerRun, after its one warm-up call
PROBES = 3  # go test -count of each measuring run: the bound is the most with, the saving the least without
SLOW = 5.0  # seconds; a guard slower than this would weigh on every run of the package's tests
FILE_NAME = "goescape_guard"
PREFIX = "TestGoescapeGuard_"
_PROBE_PREFIX = "TestGoescapeProbe_"

_PROBED = re.compile(r"goescape-probe (\d+) (\d+)\b")
_ENDED = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (TestGoescape\w+) \((\d+(?:\.\d+)?)s\)", re.MULTILINE)
_SAID = re.compile(r"^\s+\S+\.go:\d+: .+$|^panic: .+$|^\S+\.go:\d+:\d+: .+$", re.MULTILINE)

_HEADER = """\
//go:build !race && !asan && !msan

// Guard tests written by `goescape fix --guard` ({version}). Each calls a test or benchmark that
// ran a rewrite goescape verified, counts its allocations with testing.AllocsPerRun, and fails
// when they exceed what the rewritten code made. They are left out under the race detector and
// the sanitizers, whose instrumentation allocates, and skipped under coverage, whose counters change what the
// compiler inlines.

package {package}

import {imports}
"""

_SKIP_COVER = """\
	if testing.CoverMode() != "" {
		t.Skip("coverage counters change what the compiler inlines, and so what allocates")
	}
"""

_CALL_TEST = """\
	allocs := testing.AllocsPerRun({runs}, func() {{ {runner}(t) }})
"""

_CALL_BENCHMARK = """\
	// testing.Benchmark runs {runner} once per call under -test.benchtime=1x: b.N == 1, or one b.Loop pass.
	benchtime := flag.Lookup("test.benchtime").Value
	was := benchtime.String()
	if err := benchtime.Set("1x"); err != nil {{
		t.Fatal(err)
	}}
	defer func() {{ _ = benchtime.Set(was) }}()
	ran := true
	allocs := testing.AllocsPerRun({runs}, func() {{
		ran = testing.Benchmark({runner}).N == 1 && ran
	}})
	if !ran {{
		t.Fatal({failed})
	}}
"""


@dataclass(frozen=True)
class Guards:
    """New test files (path → content), and why each rewrite that got no guard got none."""

    files: dict[Path, bytes]
    declined: tuple[tuple[Verified, str], ...]


@dataclass(frozen=True)
class _Runner:
    """A test or benchmark function in the rewritten package's folder, and the package clause of its file."""

    import_path: str
    dir: Path
    clause: str
    name: str

    @property
    def benchmark(self) -> bool:
        return self.name.startswith("Benchmark")

    @property
    def home(self) -> tuple[Path, str]:
        return (self.dir, self.clause)


@dataclass(frozen=True)
class _Count:
    allocs: tuple[int, ...]  # AllocsPerRun's result in each of PROBES runs
    seconds: float  # the slowest run of the whole guard


@dataclass(frozen=True)
class _Guard:
    runner: _Runner
    name: str
    bound: int
    stands_for: tuple[tuple[Verified, int], ...]  # each rewrite, and the least the guard counts without it


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
            candidates[v], declined[v] = self._runners(v)
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
            files = self._render(made)
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

    def _runners(self, v: Verified) -> tuple[list[_Runner], list[str]]:
        """The test and benchmark functions a guard may call for `v`, and why others cannot be."""
        m = v.measurement
        if m is None:
            return [], [f"no test or benchmark measured it ({v.allocs_text()})"]
        if m.allocs[1] >= m.allocs[0]:
            return [], [f"it saves bytes, not allocations ({m.text()}), and testing.AllocsPerRun counts allocations"]
        if m.by.startswith("the tests of "):
            return [], [f"no test or benchmark function was on the measured allocations' stacks ({m.by})"]
        package = self.session.by_path.get(v.proposal.package)
        if package is None:
            return [], [f"{v.proposal.package} is not among the loaded packages"]
        declared = self._functions(package)
        runners: list[_Runner] = []
        why: list[str] = []
        for name in (n.strip() for n in m.by.removesuffix("…").split(",")):
            if name.startswith("Fuzz"):
                why.append(f"{name} is a fuzz target: f.Fuzz cannot be called again in a loop")
            elif name.startswith("Example"):
                why.append(f"{name} is an example: go test compares what it prints, which a guard would repeat")
            elif name not in declared:
                why.append(
                    f"{name} is declared in another package's tests, not in {package.dir.name}/, where the guard goes"
                )
            else:
                src, fn = declared[name]
                wanted = "B" if name.startswith("Benchmark") else "T"
                if constraint := _constrained(src):
                    why.append(
                        f"{name} is in {src.path.name}, built only {constraint}: a guard would not build elsewhere"
                    )
                elif not _takes(src, fn, wanted):
                    why.append(f"{name} is not a func(*testing.{wanted})")
                elif _calls(src, fn, "Parallel"):
                    why.append(f"{name} calls Parallel, which panics when the guard calls it a second time")
                else:
                    runners.append(_Runner(package.import_path, package.dir, src.package_name, name))
        return runners, why

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
        files = self._render(probes)
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

    # --- the Go source ------------------------------------------------------------------------

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

    def _render(self, made: Sequence[_Guard]) -> dict[Path, bytes]:
        """One gofmt-clean file per package folder and package clause."""
        files: dict[Path, bytes] = {}
        for home in dict.fromkeys(g.runner.home for g in made):
            mine = [g for g in made if g.runner.home == home]
            imports = ["flag"] * any(g.runner.benchmark for g in mine) + ["testing"]
            text = _HEADER.format(
                version=self.session.tc.version,
                package=home[1],
                imports=f'"{imports[0]}"'
                if len(imports) == 1
                else "(\n" + "".join(f'\t"{i}"\n' for i in imports) + ")",
            )
            text += "".join("\n" + _function(g, self.session.tc.version) for g in mine)
            data, error = gofmt(self.session.tc, text.encode())
            if error:  # a bug here, never the user's code: say so loudly
                raise ValueError(f"guard file does not format: {error}")
            files[self._path(home, files)] = data
        return files

    def _path(self, home: tuple[Path, str], taken: Iterable[Path]) -> Path:
        """goescape_guard_test.go in the folder, or the first of goescape_guard_2_test.go, ... that is free."""
        used = set(taken) | set(self.changes)
        n = 1
        while True:
            path = home[0] / (f"{FILE_NAME}_test.go" if n == 1 else f"{FILE_NAME}_{n}_test.go")
            if path not in used and not path.exists():
                return path
            n += 1


def _function(g: _Guard, version: str) -> str:
    r = g.runner
    call = _CALL_BENCHMARK if r.benchmark else _CALL_TEST
    failed = _go_string(f"{r.name} failed or was skipped: testing.Benchmark ran no iteration of it")
    body = _SKIP_COVER + call.format(runs=RUNS, runner=r.name, failed=failed)
    if not g.stands_for:  # a probe: say the count
        number = g.name.removeprefix(_PROBE_PREFIX)
        return f'func {g.name}(t *testing.T) {{\n{body}\tt.Logf("goescape-probe {number} %v", allocs)\n}}\n'
    where = " and ".join(f"{v.proposal.path.name}:{v.proposal.line}" for v, _ in g.stands_for)
    what = "rewrites" if len(g.stands_for) > 1 else "rewrite"
    at = where.replace("%", "%%")  # a file name is no format verb
    message = _go_string(
        f"{r.name} allocates %v times per run, more than the {g.bound} left by goescape's {what} of {at}"
    )
    if len(g.stands_for) == 1:
        without = f"it counted {g.stands_for[0][1]} without it"
    else:
        without = "without each it counted " + ", ".join(
            f"{before} ({v.proposal.path.name}:{v.proposal.line})" for v, before in g.stands_for
        )
    prose = (
        f"{g.name} fails when {r.name} allocates more than {g.bound} times per call, as this test counted "
        f"after goescape's {what} of {where} on {version}; {without}."
        + (" The count includes testing.Benchmark's own allocations." if r.benchmark else "")
        + " goescape's measurement:"
    )
    lines = [
        *textwrap.wrap(prose, 96),
        "",
        *(
            f"\t{v.proposal.codemod} {v.proposal.path.name}:{v.proposal.line} ({v.proposal.function}): {v.allocs_text()}"
            for v, _ in g.stands_for
        ),
    ]
    comment = "".join(f"// {line}\n".replace("// \n", "//\n") for line in lines)
    check = f"\tif allocs > {g.bound} {{\n\t\tt.Errorf({message}, allocs)\n\t}}\n"
    return f"{comment}func {g.name}(t *testing.T) {{\n{body}{check}}}\n"


def _go_string(text: str) -> str:
    """A Go interpreted string literal (JSON's escapes are Go's)."""
    return json.dumps(text, ensure_ascii=False)


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


def _declared(package: Package) -> dict[str, tuple[SourceFile, Node]]:
    """The top-level functions of the package's _test.go files (in-package and external), by name."""
    out: dict[str, tuple[SourceFile, Node]] = {}
    for path in package.test_files:
        if path.is_file():
            src = parse_file(path)
            for node in src.root.named_children:
                name = node.child_by_field_name("name")
                if node.type == "function_declaration" and name is not None:
                    out.setdefault(src.text(name), (src, node))
    return out


def _takes(src: SourceFile, fn: Node, kind: str) -> bool:
    """Whether `fn` is `func(x *testing.T)` (or `.B`): one pointer parameter, no type parameters, no result."""
    params = fn.child_by_field_name("parameters")
    if fn.child_by_field_name("type_parameters") is not None or fn.child_by_field_name("result") is not None:
        return False
    declarations = [n for n in params.named_children if n.type == "parameter_declaration"] if params else []
    if len(declarations) != 1 or len(declarations[0].children_by_field_name("name")) > 1:
        return False
    kind_node = declarations[0].child_by_field_name("type")
    return kind_node is not None and re.fullmatch(rf"\*\s*\w+\.{kind}", src.text(kind_node)) is not None


def _calls(src: SourceFile, fn: Node, method: str) -> bool:
    """Whether `fn`'s body calls `x.<method>()` anywhere, closures included."""
    for node in walk(fn):
        callee = node.child_by_field_name("function") if node.type == "call_expression" else None
        field = (
            callee.child_by_field_name("field") if callee is not None and callee.type == "selector_expression" else None
        )
        if field is not None and src.text(field) == method:
            return True
    return False


# `go tool dist list` on go1.26.8: a file name ending in _GOOS, _GOARCH or _GOOS_GOARCH builds only there.
_GOOS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
        "zos",
    ]
)
_GOARCH = frozenset(
    [
        "386",
        "amd64",
        "arm",
        "arm64",
        "loong64",
        "mips",
        "mips64",
        "mips64le",
        "mipsle",
        "ppc64",
        "ppc64le",
        "riscv64",
        "s390x",
        "wasm",
    ]
)


def _constrained(src: SourceFile) -> str:
    """How a _test.go file is limited to some platforms or tags ("" when it builds everywhere)."""
    parts = src.path.name.removesuffix("_test.go").split("_")[1:]
    if parts and (parts[-1] in _GOOS or parts[-1] in _GOARCH):
        return f"for {parts[-1]} (its file name)"
    head = src.data.split(b"\npackage ", 1)[0] if not src.data.startswith(b"package ") else b""
    for line in head.splitlines():
        if line.startswith(b"//go:build "):
            return "where " + line.decode("utf-8", "replace").removeprefix("//go:build ").strip()
    return ""
