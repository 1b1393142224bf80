"""Guard tests (`fix --guard`): written beside measured rewrites, they pass with them and fail without;
and the new files they are, in the diff (`git apply` creates them) and in --write."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from goescape.engine import writing
from goescape.engine.codemod import Options, load_codemods
from goescape.engine.diffs import unified_diff, unified_diffs
from goescape.engine.errors import WriteFailed
from goescape.engine.guard import Guards, guards
from goescape.engine.proof import final_contents, verify
from goescape.engine.results import Verified
from goescape.engine.session import Session, load, propose
from goescape.engine.toolchain import Toolchain
from goescape.engine.writing import write_all

from .conftest import git, go, write_tree

# Loops that concatenate (concat-builder, whose only proof is fewer allocations at run time): three
# measured by a benchmark each, in its three loop forms; one by an in-package test, one by an
# external test; one by a parallel test, one only by another package's test.
CONCAT = "\tfor {loop} {{\n\t\ts = s + {piece}\n\t}}\n"


def _concat(name: str, params: str, loop: str, piece: str) -> str:
    return f'\nfunc {name}({params}) string {{\n\ts := ""\n{CONCAT.format(loop=loop, piece=piece)}\treturn s\n}}\n'


MODULE = {
    "go.mod": "module example.com/guarded\n\ngo 1.24\n",
    "words/words.go": "package words\n"
    + _concat("Repeat", "word string, n int", "i := 0; i < n; i++", "word")
    + _concat("Line", "fields []string", "_, f := range fields", 'f + ","')
    + _concat("Pad", "n int", "i := 0; i < n; i++", '"."')
    + _concat("Dots", "n int", "i := 0; i < n; i++", '"."'),
    "words/words_test.go": """package words

import "testing"

var sink string

func BenchmarkRepeat(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sink = Repeat("word", 20)
	}
}

func BenchmarkLine(b *testing.B) {
	fields := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
	for range b.N {
		sink = Line(fields)
	}
}

func BenchmarkPad(b *testing.B) {
	for b.Loop() {
		sink = Pad(16)
	}
}
""",
    "row/row.go": "package row\n"
    + _concat("Row", "fields []string", "_, f := range fields", 'f + "\\t"')
    + _concat("Tabs", "fields []string", "_, f := range fields", '"\\t" + f')
    + _concat("Cells", "fields []string", "_, f := range fields", 'f + "|"'),
    "row/row_test.go": """package row

import "testing"

func TestRow(t *testing.T) {
	fields := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
	if got := Row(fields); got != "alpha\\tbeta\\tgamma\\tdelta\\tepsilon\\tzeta\\t" {
		t.Fatalf("Row = %q", got)
	}
}
""",
    # A guard an earlier run wrote: the new one takes the next file name and function name.
    "row/goescape_guard_test.go": 'package row\n\nimport "testing"\n\nfunc TestGoescapeGuard_TestRow(t *testing.T) {}\n',
    "row/tabs_test.go": """package row_test

import (
	"testing"

	"example.com/guarded/row"
)

func TestTabs(t *testing.T) {
	if got := row.Tabs([]string{"a", "b", "c", "d", "e", "f", "g"}); got != "\\ta\\tb\\tc\\td\\te\\tf\\tg" {
		t.Fatalf("Tabs = %q", got)
	}
}

func TestCells(t *testing.T) {
	t.Parallel()
	if got := row.Cells([]string{"a", "b", "c", "d", "e", "f"}); got != "a|b|c|d|e|f|" {
		t.Fatalf("Cells = %q", got)
	}
}
""",
    "use/use.go": 'package use\n\nimport "example.com/guarded/words"\n\nfunc Ellipsis() string { return words.Dots(3) }\n',
    "use/use_test.go": """package use

import (
	"testing"

	"example.com/guarded/words"
)

func TestDots(t *testing.T) {
	if words.Dots(12) != "............" || Ellipsis() != "..." {
		t.Fatal("dots")
	}
}
""",
}


@dataclass(frozen=True)
class Guarded:
    root: Path
    session: Session
    verified: dict[str, Verified]  # by function
    changes: dict[Path, tuple[bytes, bytes]]
    guards: Guards


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, toolchain: Toolchain) -> Iterator[Guarded]:
    """The module verified and measured by the real pipeline, then guarded."""
    tc = toolchain
    root = tmp_path_factory.mktemp("guarded")
    write_tree(root, MODULE)
    session = load(tc, ["./..."], root)
    concat = [c for c in load_codemods() if c.name == "concat-builder"]
    results = verify(session, propose(session, concat, Options()), "test").results
    verified = {r.proposal.function: r for r in results if isinstance(r, Verified)}
    assert sorted(verified) == ["Cells", "Dots", "Line", "Pad", "Repeat", "Row", "Tabs"], results
    changes = final_contents(session, results)
    yield Guarded(root, session, verified, changes, guards(session, list(verified.values()), changes))


def _copy(root: Path, dest: Path, files: dict[Path, bytes]) -> Path:
    """A copy of the module with `files` (paths under `root`) written over it."""
    shutil.copytree(root, dest)
    for path, data in files.items():
        (dest / path.relative_to(root)).write_bytes(data)
    return dest


def _guard_run(tc: Toolchain, module: Path, package: str) -> subprocess.CompletedProcess[str]:
    return go(tc, "test", "-count=1", "-v", "-run", "^TestGoescapeGuard", package, cwd=module)


def _file(g: Guarded, relative: str) -> bytes:
    return g.guards.files[g.root / relative]


def test_benchmarks_in_each_loop_form_get_guards_that_pass_with_the_rewrites_and_fail_without(
    guarded: Guarded, toolchain: Toolchain, tmp_path: Path
) -> None:
    text = _file(guarded, "words/goescape_guard_test.go").decode()
    assert text.startswith("//go:build !race && !asan && !msan\n"), "the race detector and the sanitizers allocate"
    for bench, where in (
        ("BenchmarkRepeat", "words.go:4"),
        ("BenchmarkLine", "words.go:12"),
        ("BenchmarkPad", "words.go:20"),
    ):
        assert f"func TestGoescapeGuard_{bench}(t *testing.T) {{" in text
        assert f"testing.Benchmark({bench}).N == 1" in text
        assert f"goescape's rewrite of {where}\", allocs)" in text
        v = next(v for v in guarded.verified.values() if v.measurement and v.measurement.by == bench)
        assert v.allocs_text() in text and guarded.session.tc.version in text
    assert "package words\n" in text and "testing.AllocsPerRun(10," in text

    applied = {path: new for path, (_, new) in guarded.changes.items()} | guarded.guards.files
    after = _guard_run(toolchain, _copy(guarded.root, tmp_path / "after", applied), "./words")
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout.count("--- PASS: TestGoescapeGuard_Benchmark") == 3, after.stdout

    before = _guard_run(toolchain, _copy(guarded.root, tmp_path / "before", guarded.guards.files), "./words")
    assert before.returncode != 0, before.stdout
    for bench in ("BenchmarkRepeat", "BenchmarkLine", "BenchmarkPad"):
        assert f"--- FAIL: TestGoescapeGuard_{bench}" in before.stdout
        assert f"{bench} allocates" in before.stdout


def test_tests_in_package_and_external_get_guards_under_free_names(
    guarded: Guarded, toolchain: Toolchain, tmp_path: Path
) -> None:
    inside = _file(guarded, "row/goescape_guard_2_test.go").decode()
    assert "package row\n" in inside
    assert "func TestGoescapeGuard_TestRow_2(t *testing.T) {" in inside, "TestGoescapeGuard_TestRow is taken"
    assert "testing.AllocsPerRun(10, func() { TestRow(t) })" in inside
    external = _file(guarded, "row/goescape_guard_3_test.go").decode()
    assert "package row_test\n" in external and "func() { TestTabs(t) }" in external
    assert "more than the" in external and "row.go:12" in external

    applied = {path: new for path, (_, new) in guarded.changes.items()} | guarded.guards.files
    after = _guard_run(toolchain, _copy(guarded.root, tmp_path / "after", applied), "./row")
    assert after.returncode == 0, after.stdout + after.stderr
    assert (
        "--- PASS: TestGoescapeGuard_TestRow_2" in after.stdout
        and "--- PASS: TestGoescapeGuard_TestTabs" in after.stdout
    )
    before = _guard_run(toolchain, _copy(guarded.root, tmp_path / "before", guarded.guards.files), "./row")
    assert "--- FAIL: TestGoescapeGuard_TestRow_2" in before.stdout, before.stdout
    assert "--- FAIL: TestGoescapeGuard_TestTabs" in before.stdout
    assert "TestRow allocates" in before.stdout and "goescape's rewrite of row.go:4" in before.stdout


def test_guard_files_are_gofmt_clean_and_the_only_files(guarded: Guarded, toolchain: Toolchain) -> None:
    assert sorted(str(p.relative_to(guarded.root)) for p in guarded.guards.files) == [
        "row/goescape_guard_2_test.go",
        "row/goescape_guard_3_test.go",
        "words/goescape_guard_test.go",
    ]
    for path, data in guarded.guards.files.items():
        out = subprocess.run([str(toolchain.gofmt), "-l"], input=data, capture_output=True, check=False)
        formatted = subprocess.run([str(toolchain.gofmt)], input=data, capture_output=True, check=True)
        assert out.returncode == 0 and formatted.stdout == data, path


def test_rewrites_a_guard_cannot_call_soundly_are_declined_with_the_reason(guarded: Guarded) -> None:
    declined = {v.proposal.function: why for v, why in guarded.guards.declined}
    assert sorted(declined) == ["Cells", "Dots"]
    assert "TestCells calls Parallel, which panics when the guard calls it a second time" in declined["Cells"]
    assert "TestDots is declared in another package's tests, not in words/" in declined["Dots"]


def test_a_guard_that_would_not_fail_without_the_rewrite_is_not_written(guarded: Guarded) -> None:
    # Without the rewrite's files the guard counts the same on both sides: it would guard nothing.
    repeat = guarded.verified["Repeat"]
    out = guards(guarded.session, [repeat], {})
    assert out.files == {}
    assert [(v, why) for v, why in out.declined if v == repeat] == list(out.declined)
    assert "without it: a guard on it would not fail without the rewrite, so it guards nothing" in out.declined[0][1]


def test_a_rewrite_that_saves_only_bytes_or_was_not_measured_gets_no_guard(guarded: Guarded) -> None:
    line = guarded.verified["Line"]
    assert line.measurement is not None
    same = replace(line, measurement=replace(line.measurement, allocs=(8.0, 8.0)))
    unmeasured = replace(line, measurement=None, unmeasured="no test or benchmark runs words.go:12")
    out = guards(guarded.session, [same, unmeasured], {})
    assert out.files == {}
    reasons = dict(out.declined)
    assert "it saves bytes, not allocations" in reasons[same]
    assert (
        reasons[unmeasured] == "no test or benchmark measured it (not measured: no test or benchmark runs words.go:12)"
    )


# --- new files in the diff and in --write ---------------------------------------------------------


def test_the_diff_of_a_new_file_is_git_s_new_file_form_and_git_apply_creates_it(tmp_path: Path) -> None:
    git("init", "-q", cwd=tmp_path)
    old = tmp_path / "a.go"
    old.write_text("package a\n")
    git("add", ".", cwd=tmp_path)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "a", cwd=tmp_path)
    new = tmp_path / "sub" / "a_guard_test.go"
    new.parent.mkdir()
    body = b"package a\n\nfunc f() {}\n"
    diff = unified_diffs([(old, b"package a\n", b"package a // edited\n"), (new, b"", body)], tmp_path)
    created = unified_diff(new, b"", body, tmp_path)
    assert created.splitlines()[:5] == [
        "diff --git a/sub/a_guard_test.go b/sub/a_guard_test.go",
        "new file mode 100644",
        "--- /dev/null",
        "+++ b/sub/a_guard_test.go",
        "@@ -0,0 +1,3 @@",
    ]
    out = subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=diff, text=True, capture_output=True, check=False)
    assert out.returncode == 0, out.stderr
    assert new.read_bytes() == body and old.read_text() == "package a // edited\n"
    assert stat.S_IMODE(new.stat().st_mode) & 0o111 == 0
    git("add", "-N", ".", cwd=tmp_path)
    assert "new file mode 100644" in git("diff", cwd=tmp_path)
    # An existing empty file is edited, not created.
    assert "new file" not in unified_diff(old, b"", b"package a\n", tmp_path)


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def test_write_all_creates_a_new_file_with_0644_less_the_umask(tmp_path: Path, umask_027: None) -> None:
    edited, created = tmp_path / "a.go", tmp_path / "goescape_guard_test.go"
    edited.write_bytes(b"old\n")
    write_all({edited: (b"old\n", b"new\n"), created: (b"", b"guard\n")})
    assert edited.read_bytes() == b"new\n" and created.read_bytes() == b"guard\n"
    assert stat.S_IMODE(created.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.go", "goescape_guard_test.go"]


def test_write_all_refuses_a_new_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    edited, created = tmp_path / "a.go", tmp_path / "goescape_guard_test.go"
    edited.write_bytes(b"old\n")
    created.write_bytes(b"someone else's\n")
    with pytest.raises(WriteFailed, match="changed on disk"):
        write_all({edited: (b"old\n", b"new\n"), created: (b"", b"guard\n")})
    assert edited.read_bytes() == b"old\n" and created.read_bytes() == b"someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.go", "goescape_guard_test.go"]


def test_a_failed_write_removes_the_file_it_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created, edited = tmp_path / "a_guard_test.go", tmp_path / "b.go"
    edited.write_bytes(b"old\n")
    real, calls = os.replace, []

    def fails_second(src: str, dst: Path) -> None:
        # The disk fills up on the second rename of the swap; the rollback's own renames go through.
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(writing.os, "replace", fails_second)
    with pytest.raises(WriteFailed, match="every file was put back"):
        write_all({created: (b"", b"guard\n"), edited: (b"old\n", b"new\n")})
    assert calls[0] == created, "the new file was swapped in first"
    assert not created.exists() and edited.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.go"]
