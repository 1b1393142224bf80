"""The Go source of guard tests: their functions, and one gofmt-clean _test.go file per package folder."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.edits import gofmt
from goescape.engine.guard_runners import _Runner
from goescape.engine.results import Verified
from goescape.engine.toolchain import Toolchain

RUNS = 10  # calls of the path per AllocsPerRun, after its one warm-up call
FILE_NAME = "goescape_guard"
_PROBE_PREFIX = "TestGoescapeProbe_"

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
class _Guard:
    runner: _Runner
    name: str
    bound: int
    stands_for: tuple[tuple[Verified, int], ...]  # each rewrite, and the least the guard counts without it


def render(tc: Toolchain, made: Sequence[_Guard], changed: Iterable[Path]) -> dict[Path, bytes]:
    """One gofmt-clean file per package folder and package clause, at a path no file of `changed` takes."""
    files: dict[Path, bytes] = {}
    for home in dict.fromkeys(g.runner.home for g in made):
        mine = [g for g in made if g.runner.home == home]
        imports = ["flag"] * any(g.runner.benchmark for g in mine) + ["testing"]
        text = _HEADER.format(
            version=tc.version,
            package=home[1],
            imports=f'"{imports[0]}"' if len(imports) == 1 else "(\n" + "".join(f'\t"{i}"\n' for i in imports) + ")",
        )
        text += "".join("\n" + _function(g, tc.version) for g in mine)
        data, error = gofmt(tc, text.encode())
        if error:  # a bug here, never the user's code: say so loudly
            raise ValueError(f"guard file does not format: {error}")
        files[_path(home, files, changed)] = data
    return files


def _path(home: tuple[Path, str], taken: Iterable[Path], changed: Iterable[Path]) -> Path:
    """goescape_guard_test.go in the folder, or the first of goescape_guard_2_test.go, ... that is free."""
    used = set(taken) | set(changed)
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
