"""`--profile`: the examples' own profile ranks the hot rewrite first and `--min-share` drops the cold."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import without_progress, write_tree
from .reports import report_json


@pytest.fixture
def profiled(examples_copy: Path, toolchain: Toolchain) -> Path:
    """The examples with shop.mem.prof written by their checked-in profile.sh."""
    env = {"PATH": f"{toolchain.go.parent}:/usr/bin:/bin", "HOME": str(examples_copy.parent)}
    out = subprocess.run(["bash", "profile.sh"], cwd=examples_copy, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert (examples_copy / "shop.mem.prof").is_file()
    return examples_copy


def test_fix_ranks_hot_proposals_first_and_drops_the_cold(profiled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["fix", "--json", "--verify", "build", "--profile", "shop.mem.prof", "-C", str(profiled), "./..."]
    assert main([*argv, "--min-share", "1"]) == 0
    report = report_json(capsys.readouterr().out)
    shares = {r["function"]: r["share"] for r in report["results"]}
    hot = max(shares, key=lambda f: shares[f])
    assert hot == "Names" and shares["Names"] > 0.5, shares
    names = next(r for r in report["results"] if r["function"] == "Names")
    assert names["result"] == "verified"
    cold = [r for r in report["results"] if r["share"] < 0.01 and r["result"] == "skipped"]
    assert any(r["reason"].startswith("cold: ") for r in cold)
    assert all(r["result"] != "verified" for r in report["results"] if r["share"] < 0.01)

    assert main([*argv, "--min-share", "0"]) == 0
    everything = report_json(capsys.readouterr().out)
    assert not any((r["reason"] or "").startswith("cold: ") for r in everything["results"])


def test_scan_ranks_escapes_by_their_share(profiled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["scan", "--json", "--profile", "shop.mem.prof", "--min-share", "0.5", "-C", str(profiled), "./..."]
    assert main(argv) == 0
    escapes = report_json(capsys.readouterr().out)["escapes"]
    assert escapes and all(e["share"] >= 0.005 for e in escapes)
    assert [e["share"] for e in escapes] == sorted((e["share"] for e in escapes), reverse=True)


def test_a_file_that_is_not_a_profile_is_one_error(examples_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = examples_copy / "go.mod"
    assert main(["scan", "--profile", str(bogus), "-C", str(examples_copy), "./..."]) == 2
    err = without_progress(capsys.readouterr().err).strip().splitlines()
    assert len(err) == 1 and "not a heap or CPU profile" in err[0] and "go.mod" in err[0]


HOT_METHOD = {
    "go.mod": "module example.com/hot\n\ngo 1.22\n",
    "hot.go": """package hot

import "fmt"

// Cache names keys.
type Cache struct{ prefix string }

// Key burns some CPU, then formats.
func (c *Cache) Key(n int) string {
	s := 0
	for i := 0; i < 20000; i++ {
		s += i * n % 7
	}
	return fmt.Sprintf("%s:%d", c.prefix, s)
}

// Plain has a method of the same name that the benchmark never calls.
type Plain struct{}

// Key formats n.
func (Plain) Key(n int) string { return fmt.Sprintf("%d!", n) }
""",
    "hot_test.go": """package hot

import "testing"

var sink string

func BenchmarkKey(b *testing.B) {
	c := &Cache{prefix: "k"}
	for i := 0; i < b.N; i++ {
		sink = c.Key(i)
	}
}
""",
}


def test_a_cpu_profile_gives_a_method_its_share(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, HOT_METHOD)
    bench = ["test", "-run", "^$", "-bench", ".", "-benchtime", "300ms", "-cpuprofile", "cpu.prof", "."]
    out = toolchain.run(bench, tmp_path)
    assert out.returncode == 0, out.stderr
    argv = ["fix", "--json", "--verify", "build", "--codemod", "sprint", "--all-patterns", "--profile", "cpu.prof"]
    assert main([*argv, "-C", str(tmp_path), "./..."]) == 0
    shares = {r["function"]: r["share"] for r in report_json(capsys.readouterr().out)["results"]}
    # pprof spells it example.com/hot.(*Cache).Key; the cold Plain.Key shares only its method name.
    assert shares["(*Cache).Key"] > 0.5, shares
    assert shares["Plain.Key"] == 0.0, shares
