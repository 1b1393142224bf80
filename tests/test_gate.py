"""`goescape check`: new escapes against a base revision or a baseline, in real git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import check_json, checkout_state, git, git_repo

pytestmark = pytest.mark.usefixtures("quiet_git")

GO_MOD = "module example.com/gate\n\ngo 1.22\n"

BEFORE = """package gate

type T struct{ a, b int }

var sink *T

// Keep allocates, and keeps allocating: not new.
func Keep(n int) *T {
	return &T{n, n}
}
"""

# The second commit adds one escape (in Added) and moves Keep down the file.
AFTER = """package gate

type T struct{ a, b int }

var sink *T

// Sum allocates nothing.
func Sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}

func Added(n int) {
	sink = &T{n, 1}
}

// Keep allocates, and keeps allocating: not new.
func Keep(n int) *T {
	return &T{n, n}
}
"""


@pytest.fixture
def repo(tmp_path: Path, toolchain: Toolchain) -> Path:
    """Two commits: the second adds one escape and moves another function down the file."""
    return git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "gate.go": BEFORE}, {"gate.go": AFTER})


def test_only_the_added_escape_is_new_and_the_checkout_is_untouched(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = checkout_state(repo)
    code, report, _ = check_json(repo, "./...", "--base", "HEAD~1", capsys=capsys)
    assert code == 1
    new = report["new"]
    assert isinstance(new, list) and len(new) == 1, new
    assert (new[0]["function"], new[0]["line"], new[0]["expr"]) == ("Added", 17, "&T{...}")
    assert report["against"].startswith("base HEAD~1 (")  # type: ignore[union-attr]
    assert report["counted"] == 2
    assert checkout_state(repo) == before
    # A second run reuses goescape's worktree (checked out again at the base) and says the same.
    code, again, _ = check_json(repo, "./...", "--base", "HEAD~1", capsys=capsys)
    assert (code, again["new"]) == (1, new)
    assert checkout_state(repo) == before


def test_an_ignore_with_a_reason_passes_and_one_without_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = (repo / "gate.go").read_text()
    silenced = source.replace("sink = &T{n, 1}", "sink = &T{n, 1} //goescape:ignore kept for the cache")
    (repo / "gate.go").write_text(silenced)
    code, report, _ = check_json(repo, "--base", "HEAD~1", capsys=capsys)
    assert code == 0
    assert report["new"] == [] and len(report["ignored"]) == 1  # type: ignore[arg-type]
    (repo / "gate.go").write_text(source.replace("sink = &T{n, 1}", "sink = &T{n, 1} //goescape:ignore"))
    code, _, err = check_json(repo, "--base", "HEAD~1", capsys=capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "gate.go:17" in err and "needs a reason" in err


def test_an_ignore_above_the_statement_and_an_unused_one(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (repo / "gate.go").read_text()
    source = source.replace("\tsink = &T{n, 1}", "\t//goescape:ignore measured: once per request\n\tsink = &T{n, 1}")
    source = source.replace("\ttotal := 0", "\ttotal := 0 //goescape:ignore nothing here escapes")
    (repo / "gate.go").write_text(source)
    code, report, _ = check_json(repo, "--base", "HEAD~1", capsys=capsys)
    assert code == 0
    unused = report["unused_ignores"]
    assert isinstance(unused, list) and [u["line"] for u in unused] == [9]


def test_two_identical_escapes_in_one_function_count_as_two(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (repo / "gate.go").read_text()
    twice = source.replace(
        "func Keep(n int) *T {\n\treturn &T{n, n}\n}",
        "func Keep(n int) *T {\n\tif n > 0 {\n\t\treturn &T{n, n}\n\t}\n\treturn &T{n, n}\n}",
    )
    (repo / "gate.go").write_text(twice)
    code, report, _ = check_json(repo, "--base", "HEAD", capsys=capsys)
    assert code == 1
    new = report["new"]
    assert isinstance(new, list) and [(n["function"], n["occurrence"]) for n in new] == [("Keep", 1)]


def test_noescape_fails_on_any_escape_new_or_not(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (repo / "gate.go").read_text()
    source = source.replace("// Keep allocates, and keeps allocating: not new.\n", "//gcassert:noescape\n")
    source = source.replace("\ttotal := 0", "\t//goescape:noescape\n\ttotal := 0")
    (repo / "gate.go").write_text(source)
    code, report, _ = check_json(repo, capsys=capsys)  # no base: the directives alone
    assert code == 1
    forbidden = report["forbidden"]
    assert isinstance(forbidden, list) and [(f["function"], f["by"]["directive"]) for f in forbidden] == [
        ("Keep", "gcassert:noescape")
    ]
    assert report["new"] == [] and report["against"] is None


def test_merge_base_and_a_shallow_clone(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git("branch", "feature", "HEAD", cwd=repo)
    git("reset", "-q", "--hard", "HEAD~1", cwd=repo)  # main is back at the first commit
    git("checkout", "-q", "feature", cwd=repo)
    code, report, _ = check_json(repo, "--base", "merge-base:main", capsys=capsys)
    assert code == 1 and len(report["new"]) == 1  # type: ignore[arg-type]
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", f"file://{repo}", str(shallow), cwd=tmp_path)
    code, _, err = check_json(shallow, "--base", "HEAD~1", capsys=capsys)
    assert code == 2 and "shallow" in err and "git fetch" in err and err.strip().count("\n") == 0


def test_baseline_round_trip(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "escapes.json"
    git("checkout", "-q", "HEAD~1", cwd=repo)
    assert main(["check", "-C", str(repo), "--write-baseline", str(baseline)]) == 0
    recorded = json.loads(baseline.read_text())
    assert recorded["version"] == 1 and [e["function"] for e in recorded["escapes"]] == ["Keep"]
    git("checkout", "-q", "main", cwd=repo)
    capsys.readouterr()
    code, report, _ = check_json(repo, "--baseline", str(baseline), capsys=capsys)
    assert code == 1 and [n["function"] for n in report["new"]] == ["Added"]  # type: ignore[index, union-attr]
    baseline.write_text('{"version": 7}')
    code, _, err = check_json(repo, "--baseline", str(baseline), capsys=capsys)
    assert code == 2 and "escapes.json" in err


def test_sarif_fingerprints_survive_lines_added_above(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.sarif"
    assert main(["check", "-C", str(repo), "--base", "HEAD~1", "--format", f"sarif={out}"]) == 1
    first = json.loads(out.read_text())["runs"][0]["results"]
    source = (repo / "gate.go").read_text()
    (repo / "gate.go").write_text(source.replace("var sink *T\n", "var sink *T\n\n// More words.\nvar other int\n"))
    assert main(["check", "-C", str(repo), "--base", "HEAD~1", "--format", f"sarif={out}"]) == 1
    second = json.loads(out.read_text())["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in first] == [r["partialFingerprints"] for r in second]
    assert (
        first[0]["locations"][0]["physicalLocation"]["region"]["startLine"] + 3
        == (second[0]["locations"][0]["physicalLocation"]["region"]["startLine"])
    )
    assert first[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "gate.go"


HOT = """package gate

type T struct{ a, b int }

var sink []*T

// Hot runs in the benchmark, so the heap profile charges its allocations to it.
func Hot(n int) {
	for i := 0; i < n; i++ {
		sink = append(sink[:0], &T{i, i})
	}
}
"""

HOT_TEST = """package gate

import "testing"

func BenchmarkHot(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Hot(8)
	}
}
"""


def _heap_profile(toolchain: Toolchain, repo: Path, out: Path) -> Path:
    run = toolchain.run(
        [
            "test",
            "-run=^$",
            "-bench=BenchmarkHot",
            "-benchtime=2000x",
            "-memprofilerate=1",
            f"-memprofile={out}",
            "-o",
            str(out.with_suffix(".test")),
            ".",
        ],
        repo,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # A new allocation in a function nobody runs: below --min-share, not counted.
        ("\nfunc Cold(n int) *T {\n\treturn &T{n, 1}\n}\n", 0),
        # A new allocation in the function the profile says is hot: the gate fails.
        ("\nvar last *T\n", None),
    ],
    ids=["cold", "hot"],
)
def test_min_share_ignores_cold_functions_and_fails_on_hot_ones(
    change: str, expected: int | None, tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "hot.go": HOT, "hot_test.go": HOT_TEST})
    source = HOT + change
    if expected is None:  # the hot variant: Hot itself gains a second allocation
        source = source.replace(
            "\t\tsink = append(sink[:0], &T{i, i})\n", "\t\tsink = append(sink[:0], &T{i, i})\n\t\tlast = &T{i, 0}\n"
        )
    (root / "hot.go").write_text(source)
    profile = _heap_profile(toolchain, root, tmp_path / "mem.out")
    code, report, _ = check_json(root, "--base", "HEAD", "--profile", str(profile), "--min-share", "5", capsys=capsys)
    cold, new = report["cold"], report["new"]
    assert isinstance(cold, list) and isinstance(new, list)
    if expected == 0:
        assert code == 0 and [c["function"] for c in cold] == ["Cold"] and new == []
    else:
        assert code == 1 and [n["function"] for n in new] == ["Hot"] and cold == []
    # Without the profile, both are plain new escapes.
    code, report, _ = check_json(root, "--base", "HEAD", capsys=capsys)
    assert code == 1 and len(report["new"]) == 1  # type: ignore[arg-type]
