"""Edge cases of `goescape check`, `--format`, goescape.toml and `fix --guard` found by trying to break
them: each test states what should happen, in real git repositories in tmp_path with the real
toolchain, through `goescape.engine.cli.main`.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import check_json, commit_all, git, git_repo, without_progress, write_tree
from .reports import report_json

pytestmark = pytest.mark.usefixtures("quiet_git")

GO_MOD = "module example.com/edge\n\ngo 1.22\n"

BEFORE = """package edge

type T struct{ a, b int }

var sink *T

func Keep(n int) *T {
	return &T{n, n}
}
"""

AFTER = (
    BEFORE
    + """
func Added(n int) {
	sink = &T{n, 1}
}
"""
)


@pytest.fixture
def repo(tmp_path: Path, toolchain: Toolchain) -> Path:
    """HEAD~1 has Keep's escape; HEAD adds Added's."""
    return git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "edge.go": BEFORE}, {"edge.go": AFTER})


def _new(report: dict[str, object]) -> list[tuple[str, str]]:
    new = report.get("new", [])
    assert isinstance(new, list)
    return [(str(n["function"]), str(n["expr"])) for n in new]


# --- goescape.toml and the command line ---------------------------------------------------------


def test_a_baseline_flag_wins_over_the_files_base(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "goescape.toml").write_text('base = "HEAD~1"\n')
    baseline = tmp_path / "escapes.json"
    assert main(["check", "-C", str(repo), "--write-baseline", str(baseline)]) == 0, capsys.readouterr().err
    code, _, err = check_json(repo, "--baseline", str(baseline), capsys=capsys)
    assert code == 0, err


def test_an_empty_base_is_an_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check_json(repo, "--base", "", capsys=capsys)
    assert code == 2, err


# --- the base worktree ------------------------------------------------------------------------


def test_a_stale_index_lock_in_goescapes_worktree_does_not_wedge_the_gate(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_json(repo, "--base", "HEAD~1", capsys=capsys)[0] == 1
    admin = [p for p in (repo / ".git" / "worktrees").iterdir() if p.is_dir()]
    assert len(admin) == 1
    (admin[0] / "index.lock").write_text("")  # what SIGKILL (OOM, CI timeout) leaves behind
    code, _, err = check_json(repo, "--base", "HEAD", capsys=capsys)
    assert code == 0, err


def test_no_hook_of_the_user_runs(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "hook-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    assert check_json(repo, "--base", "HEAD~1", capsys=capsys)[0] == 1
    assert not marker.exists()


def test_a_module_root_above_the_repository_is_an_error_not_a_crash(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "outer").mkdir()
    (tmp_path / "outer" / "go.mod").write_text(GO_MOD)
    inner = git_repo(
        tmp_path / "outer" / "inner", {"a.go": "package inner\n\nvar S *int\n\nfunc F() { v := 1; S = &v }\n"}
    )
    try:
        code = main(["check", "-C", str(inner), "--base", "HEAD"])
    except Exception as exc:  # the bug: it escapes main()
        pytest.fail(f"main raised {exc!r}")
    assert code == 2


def test_a_new_package_among_the_patterns_leaves_the_old_ones_compared(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    old = {"go.mod": GO_MOD, "a/a.go": "package a\n\nvar S *int\n\nfunc F() { v := 1; S = &v }\n"}
    root = git_repo(tmp_path / "np", old, {"n/n.go": "package n\n\nvar S *int\n\nfunc G() { w := 1; S = &w }\n"})
    code, report, err = check_json(root, "./a/...", "./n/...", "--base", "HEAD~1", capsys=capsys)
    assert code == 1, err
    assert _new(report) == [("G", "w")]


def test_the_shallow_hint_names_a_ref_the_remote_has(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git("checkout", "-q", "-b", "feature", cwd=repo)
    write_tree(repo, {"edge.go": AFTER + "\nfunc More() *T { return &T{} }\n"})
    commit_all(repo, "more")  # feature is one commit ahead of main
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", "--branch", "feature", f"file://{repo}", str(shallow), cwd=tmp_path)
    git("fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main", cwd=shallow)
    code, _, err = check_json(shallow, "--base", "merge-base:origin/main", capsys=capsys)
    assert code == 2 and "shallow" in err
    assert "origin origin/main" not in err


# --- what counts as the same escape -----------------------------------------------------------


def test_a_closure_added_above_an_escaping_one_is_not_new(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    before = "package cl\n\nvar sink *int\n\nfunc Run(n int) {\n\tgo func() {\n\t\tv := n\n\t\tsink = &v\n\t}()\n}\n"
    after = before.replace(
        "func Run(n int) {\n", "func Run(n int) {\n\tdone := func() int { return 1 }\n\t_ = done()\n"
    )
    root = git_repo(tmp_path / "cl", {"go.mod": GO_MOD, "cl.go": before}, {"cl.go": after})
    code, report, err = check_json(root, "--base", "HEAD~1", capsys=capsys)
    assert (code, _new(report)) == (0, []), err


def test_a_generator_template_does_not_make_its_file_generated(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    source = (
        "package gen\n\nvar sink *int\n\nconst header = `\n// Code generated by gen. DO NOT EDIT.\n\npackage out\n`\n\n"
        "func Leak(n int) {\n\tv := n\n\tsink = &v\n}\n"
    )
    root = git_repo(tmp_path / "gen", {"go.mod": GO_MOD, "gen.go": "package gen\n"}, {"gen.go": source})
    code, report, err = check_json(root, "--base", "HEAD~1", capsys=capsys)
    assert (code, _new(report)) == (1, [("Leak", "v")]), err


# --- directives -------------------------------------------------------------------------------


def test_an_ignore_after_a_multi_line_statement_covers_it(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = AFTER.replace("\tsink = &T{n, 1}\n", "\tsink = &T{\n\t\tn, 1,\n\t} //goescape:ignore built once\n")
    (repo / "edge.go").write_text(source)
    code, report, err = check_json(repo, "--base", "HEAD~1", capsys=capsys)
    assert (code, report.get("unused_ignores")) == (0, []), err


def test_a_misspelt_verb_is_not_an_ignore(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "edge.go").write_text(AFTER.replace("sink = &T{n, 1}", "sink = &T{n, 1} //goescape:ignore-next-line"))
    code, _, err = check_json(repo, "--base", "HEAD~1", capsys=capsys)
    assert code == 2, err


# --- baselines --------------------------------------------------------------------------------


def test_a_huge_count_in_a_baseline_is_a_malformed_entry(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "b.json"
    row = '{"package": "p", "function": "f", "kind": "k", "expr": "e", "count": 1e400}'
    baseline.write_text('{"version": 1, "go_version": "go1.26.8", "pgo": "", "escapes": [' + row + "]}")
    try:
        code, _, err = check_json(repo, "--baseline", str(baseline), capsys=capsys)
    except Exception as exc:  # the bug: it escapes main()
        pytest.fail(f"main raised {exc!r}")
    assert code == 2 and "malformed" in err


# --- --format destinations --------------------------------------------------------------------


def test_a_format_file_that_is_a_symlink_is_written_through(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "reports" / "escapes.sarif"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "escapes.sarif"
    link.symlink_to(target)
    assert main(["check", "-C", str(repo), "--base", "HEAD~1", "--format", f"sarif={link}"]) == 1
    assert link.is_symlink()
    assert json.loads(target.read_text())["version"] == "2.1.0"


# --- fix --guard ------------------------------------------------------------------------------

WORDS = """package words

func Repeat(word string, n int) string {
	s := ""
	for i := 0; i < n; i++ {
		s = s + word
	}
	return s
}
"""

LINUX_BENCH = """package words

import "testing"

var sink string

func BenchmarkRepeat(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sink = Repeat("word", 20)
	}
}
"""


def test_a_guard_keeps_its_runners_build_constraints(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    root = git_repo(
        tmp_path / "gd",
        {
            "go.mod": "module example.com/guarded\n\ngo 1.24\n",
            "words/words.go": WORDS,
            "words/words_linux_test.go": LINUX_BENCH,
        },
    )
    code = main(
        ["fix", "-C", str(root), "./...", "--guard", "--write", "--codemod", "concat-builder", "--all-patterns"]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    guard = root / "words" / "goescape_guard_test.go"
    # goescape declines a guard whose runner builds on one platform only, and says why.
    assert not guard.exists() and "words_linux_test.go, built only for linux" in err, err
    env = {**os.environ, "GOOS": "darwin", "GOARCH": "arm64", "CGO_ENABLED": "0"}
    built = subprocess.run(
        # Not `-o /dev/null`: go test -c renames its binary over the -o path, and /dev/null became a file.
        [str(toolchain.go), "test", "-c", "-o", str(tmp_path / "words.test"), "./words"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr


MAIN = """package main

import "example.com/edge"

func main() { _ = edge.Keep(1) }
"""


def test_a_pre_commit_hook_runs_the_gate_without_touching_the_commit_s_index(tmp_path: Path) -> None:
    # git runs hooks with GIT_INDEX_FILE (a temporary index for `commit -a`); goescape's base
    # worktree must not inherit it, or its checkout would write the user's index.
    repo = git_repo(tmp_path / "repo", {"go.mod": GO_MOD, "edge.go": BEFORE, "cmd/edge/main.go": MAIN})
    hook = repo / ".git" / "hooks" / "pre-commit"
    log = tmp_path / "hook.log"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m goescape.engine check --base HEAD ./... >{log} 2>&1\n")
    hook.chmod(0o755)
    (repo / "edge.go").write_text(AFTER)
    commit = ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-aqm", "two"]
    refused = subprocess.run(["git", *commit], cwd=repo, capture_output=True, text=True, check=False)
    assert refused.returncode != 0, "the hook fails on the new escape"
    report = log.read_text()
    assert "Added" in report and "1 new" in report, report
    assert git("rev-list", "--count", "HEAD", cwd=repo).strip() == "1", "nothing was committed"
    # The user's index still holds the first commit's edge.go; the work tree keeps the change.
    assert git("diff", "--cached", "--name-only", cwd=repo) == ""
    assert git("diff", "--name-only", cwd=repo).split() == ["edge.go"]

    (repo / "edge.go").write_text(
        AFTER.replace("\tsink = &T{n, 1}", "\tsink = &T{n, 1} //goescape:ignore kept for the test")
    )
    done = subprocess.run(["git", *commit], cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, log.read_text()
    assert git("rev-list", "--count", "HEAD", cwd=repo).strip() == "2"
    assert git("status", "--porcelain", cwd=repo) == ""


def test_fix_leaves_alone_what_an_ignore_comment_keeps(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """package edge

import "fmt"

func Kept(n int) string {
	return fmt.Sprint(n) //goescape:ignore the log format is under review
}

func Free(n int) string {
	return fmt.Sprint(n)
}
"""
    write_tree(tmp_path, {"go.mod": GO_MOD, "edge.go": source})
    args = ["fix", "-C", str(tmp_path), "--codemod", "sprint", "--all-patterns", "--verify", "build", "--json"]
    assert main([*args, "./..."]) == 0
    report = report_json(capsys.readouterr().out)
    by_function = {r["function"]: r for r in report["results"]}
    assert by_function["Free"]["result"] == "verified", by_function["Free"]
    kept = by_function["Kept"]
    assert kept["result"] == "skipped", kept
    assert "edge.go:6 says //goescape:ignore the log format is under review" in kept["reason"], kept
    assert "+\treturn strconv.Itoa(n)\n" in report["diff"] and report["diff"].count("strconv.Itoa") == 1


def test_with_files_only_the_log_still_says_whether_the_gate_passed(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sarif = tmp_path / "gate.sarif"
    assert main(["check", "-C", str(repo), "--base", "HEAD~1", "--format", f"sarif={sarif}"]) == 1
    out, err = capsys.readouterr()
    err = without_progress(err)
    assert out == "" and json.loads(sarif.read_text())["runs"][0]["results"]
    assert err.startswith("goescape check FAILED: 1 new escape(s) against base HEAD~1") and err.count("\n") == 1
    assert main(["check", "-C", str(repo), "--base", "HEAD~1", "--format", f"sarif={sarif}", "--format", "text"]) == 1
    out, err = capsys.readouterr()
    assert "goescape check FAILED" in out and without_progress(err) == "", "said once, where the text goes"


def test_a_baseline_written_to_a_pipe_leaves_the_pipe_a_pipe(repo: Path, tmp_path: Path) -> None:
    # `--write-baseline /dev/null` once renamed a plain file over the device; a FIFO stands in for it here.
    fifo = tmp_path / "baseline.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    try:
        assert main(["check", "-C", str(repo), "--write-baseline", str(fifo)]) == 0
    finally:
        if reader.is_alive():
            with open(fifo, "w"):
                pass  # unblock the reader if nothing was written
        reader.join(timeout=10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "still a pipe, not a plain file renamed over it"
    assert json.loads(received[0])["version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "no temp file left"
