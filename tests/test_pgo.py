"""PGO: every compile uses the module's default.pgo or --pgo FILE, and escapes move with profile-guided inlining."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from goescape.engine.errors import GoescapeError
from goescape.engine.facts import EscapeFact, Kind
from goescape.engine.goflags import default_pgo, overlay_files, pgo_file, with_overlay, with_pgo
from goescape.engine.session import load
from goescape.engine.toolchain import Toolchain
from tests.conftest import go, write_tree

# build costs 95 to inline (budget 80), under PGO's budget of 2000 for a hot call site; its
# &T{...} stays in build without a profile and, inlined at line 32, escapes in Hot with one.
HOT_GO = """package hot

type T struct {
	a, b, c, d int
}

var sink *T

func build(n int) *T {
	t := &T{a: n}
	for i := 0; i < n; i++ {
		t.b += i * 3
		t.c ^= i << 1
		t.d += t.b - t.c
		if t.d > 1000 {
			t.d = t.d%7 + 1
		}
		if t.c < 0 {
			t.c = -t.c
		}
		if t.b > 1<<20 {
			t.b = t.b%13 + t.a
		}
		t.a = t.a*31 + t.d ^ t.c
	}
	return t
}

func Hot(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		sink = build(i & 15)
		s += sink.d
	}
	return s
}
"""

HOT_TEST_GO = """package hot

import "testing"

func BenchmarkHot(b *testing.B) {
	for b.Loop() {
		Hot(1000)
	}
}
"""

MAIN_GO = "package main\n\nfunc main() {}\n"


@pytest.fixture(scope="module")
def hot_module(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The module above and a real CPU profile of its benchmark (the module's folder, the profile)."""
    root = tmp_path_factory.mktemp("pgo")
    write_tree(root, {"go.mod": "module example.com/hot\n\ngo 1.26\n", "hot.go": HOT_GO, "hot_test.go": HOT_TEST_GO})
    profile = root / "cpu.pprof"
    binary = root.parent / "hot.test"  # go test keeps the test binary next to a profile: not in the module
    out = go(
        toolchain,
        *("test", "-count=1", "-run=^$", "-bench=Hot", "-benchtime=1s", f"-cpuprofile={profile}", "-o", str(binary)),
        ".",
        cwd=root,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return root, profile


def _escapes(facts: tuple[EscapeFact, ...]) -> set[tuple[str, int, int, str, str, tuple[str, ...]]]:
    return {(f.path.name, f.line, f.column, f.expr, f.function, f.inlined) for f in facts if f.kind is Kind.ESCAPES}


def test_profile_guided_inlining_moves_the_allocation_into_hot(
    toolchain: Toolchain, hot_module: tuple[Path, Path]
) -> None:
    root, profile = hot_module
    plain = load(toolchain, ["./..."], root)
    guided = load(with_pgo(toolchain, profile), ["./..."], root)
    plain.close()
    guided.close()
    in_build = ("hot.go", 10, 7, "&T{...}", "build", ())
    # go1.26.8 prints the inlined allocation at the call site: `./hot.go:32:15: &T{...} escapes to heap in Hot:`
    # after `./hot.go:32:15: inlining call to build`.
    in_hot = ("hot.go", 32, 15, "&T{...}", "Hot", ("build",))
    assert _escapes(plain.facts) == {in_build}
    assert _escapes(guided.facts) == {in_build, in_hot}
    assert pgo_file(guided.tc) == profile
    assert pgo_file(plain.tc) is None


def test_with_pgo_keeps_goflags_and_an_overlay_and_replaces_an_earlier_profile(
    toolchain: Toolchain, hot_module: tuple[Path, Path], tmp_path: Path
) -> None:
    _, profile = hot_module
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"Replace": {str(tmp_path / "a.go"): str(tmp_path / "b.go")}}))
    empty = tmp_path / "empty.pprof"  # go build -pgo takes an empty file as a profile with no samples
    empty.write_bytes(b"")
    user = Toolchain(toolchain.go, toolchain.version, toolchain.goroot, (("GOFLAGS", "-tags=pgotest"),))
    tc = with_pgo(with_pgo(with_overlay(user, overlay), empty), profile)
    flags = dict(tc.env)["GOFLAGS"].split()
    assert flags == ["-tags=pgotest", f"-overlay={overlay}", f"-pgo={profile}"]
    assert overlay_files(tc) == {tmp_path / "a.go": tmp_path / "b.go"}
    assert pgo_file(tc) == profile


def test_with_pgo_makes_a_relative_profile_absolute(
    toolchain: Toolchain, hot_module: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, profile = hot_module
    monkeypatch.chdir(root)
    assert pgo_file(with_pgo(toolchain, Path(profile.name))) == profile


def test_a_profile_in_a_folder_with_a_space_reaches_go_build(
    toolchain: Toolchain, hot_module: tuple[Path, Path], tmp_path: Path
) -> None:
    root, profile = hot_module
    spaced = tmp_path / "my profiles" / "cpu.pprof"
    spaced.parent.mkdir()
    shutil.copy(profile, spaced)
    tc = with_pgo(toolchain, spaced)
    assert pgo_file(tc) == spaced
    out = go(tc, "build", "-gcflags=-m", "-o", os.devnull, ".", cwd=root)
    assert out.returncode == 0, out.stderr
    assert "./hot.go:32:15: inlining call to build" in out.stderr.splitlines()


@pytest.mark.parametrize("goflags", ["", "-pgo=off", "-pgo=auto", "-trimpath"])
def test_pgo_file_is_none_without_a_profile(toolchain: Toolchain, goflags: str) -> None:
    tc = Toolchain(toolchain.go, toolchain.version, toolchain.goroot, (("GOFLAGS", goflags),))
    assert pgo_file(tc) is None


def test_pgo_file_reads_the_users_goflags(toolchain: Toolchain, tmp_path: Path) -> None:
    tc = Toolchain(toolchain.go, toolchain.version, toolchain.goroot, (("GOFLAGS", f"'-pgo={tmp_path}/a b.pprof'"),))
    assert pgo_file(tc) == tmp_path / "a b.pprof"


def test_with_pgo_rejects_a_missing_file_in_one_line(toolchain: Toolchain, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pprof"
    with pytest.raises(GoescapeError) as caught:
        with_pgo(toolchain, missing)
    line = caught.value.line()
    assert "\n" not in line
    assert line.startswith(f"{missing}: no such profile (")
    assert "-cpuprofile" in line


def test_with_pgo_rejects_what_go_build_would_not_read(toolchain: Toolchain, tmp_path: Path) -> None:
    """A heap profile is a pprof file but no CPU profile: go build would fail on it mid-build, in
    two lines under a `# FILE` header; goescape says so first, in one line naming the file."""
    not_cpu = tmp_path / "mem.pprof"
    write_tree(tmp_path / "m", {"go.mod": "module example.com/m\n\ngo 1.26\n", "m_test.go": MEM_TEST_GO})
    out = go(
        toolchain,
        "test",
        "-run=Alloc",
        f"-memprofile={not_cpu}",
        "-o",
        str(tmp_path / "m.test"),
        ".",
        cwd=tmp_path / "m",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    garbage = tmp_path / "notes.txt"
    garbage.write_text("hello\n")
    for file, says in [
        (not_cpu, 'profile does not contain a sample index with value/type "samples/count" or cpu/nanoseconds"'),
        (garbage, "parsing profile: unknown wire type: 4"),
    ]:
        with pytest.raises(GoescapeError) as caught:
            with_pgo(toolchain, file)
        line = caught.value.line()
        assert "\n" not in line
        assert line.startswith(f"{file}: not a profile go build -pgo reads: {says} (")


MEM_TEST_GO = """package m

import "testing"

var sink []byte

func TestAlloc(t *testing.T) {
	for i := 0; i < 1000; i++ {
		sink = make([]byte, 1<<16)
	}
}
"""


def test_default_pgo_is_the_main_packages_profile(toolchain: Toolchain, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/app\n\ngo 1.26\n",
            "cmd/app/main.go": MAIN_GO,
            "cmd/app/default.pgo": "profile",
            "lib/lib.go": "package lib\n",
            "lib/default.pgo": "a library's default.pgo is never used",
        },
    )
    assert default_pgo(toolchain, tmp_path / "lib") == tmp_path / "cmd" / "app" / "default.pgo"
    assert default_pgo(toolchain, tmp_path) == tmp_path / "cmd" / "app" / "default.pgo"


def test_default_pgo_is_none_without_one(toolchain: Toolchain, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/app\n\ngo 1.26\n",
            "cmd/app/main.go": MAIN_GO,
            "lib/lib.go": "package lib\n",
            "lib/default.pgo": "a library's default.pgo is never used",
        },
    )
    assert default_pgo(toolchain, tmp_path) is None
    assert default_pgo(toolchain, tmp_path.parent) is None  # in no module


def test_default_pgo_takes_copies_of_one_profile_as_one(toolchain: Toolchain, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/app\n\ngo 1.26\n",
            "cmd/a/main.go": MAIN_GO,
            "cmd/a/default.pgo": "same",
            "cmd/b/main.go": MAIN_GO,
            "cmd/b/default.pgo": "same",
        },
    )
    assert default_pgo(toolchain, tmp_path) == tmp_path / "cmd" / "a" / "default.pgo"


def test_default_pgo_asks_for_pgo_when_main_packages_differ(toolchain: Toolchain, tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/app\n\ngo 1.26\n",
            "cmd/a/main.go": MAIN_GO,
            "cmd/a/default.pgo": "one",
            "cmd/b/main.go": MAIN_GO,
            "cmd/b/default.pgo": "two",
            "cmd/c/main.go": MAIN_GO,
            "cmd/c/default.pgo": "three",
        },
    )
    with pytest.raises(GoescapeError) as caught:
        default_pgo(toolchain, tmp_path)
    assert caught.value.line() == (
        f"{tmp_path}: main packages have different default.pgo profiles, cmd/a/default.pgo and cmd/b/default.pgo"
        " and 1 more (pass --pgo FILE to choose the one to compile with)"
    )
