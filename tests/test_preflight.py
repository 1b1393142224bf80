"""`fix --branch` and `fix --pr` refuse what they cannot make before any go command runs, leaving nothing
behind; `--pr --dry-run` shows where the pull request would go and its body as written."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.console import PIPED_WIDTH
from goescape.engine.forges import MARKER
from goescape.engine.publishing import reproduce
from goescape.engine.toolchain import Toolchain

from .conftest import checkout_state, commit_all, git, without_progress

FAST = ["--verify", "build", "--no-measure", "--codemod", "return-value"]
TOKENS = ("GITHUB_TOKEN", "GITLAB_TOKEN", "GITEA_TOKEN")


@pytest.fixture
def repo(examples_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The examples as a repository on main, with no forge token in the environment."""
    git("init", "-q", "-b", "main", cwd=examples_copy)
    commit_all(examples_copy, "examples")
    for name in TOKENS:
        monkeypatch.delenv(name, raising=False)
    return examples_copy


@pytest.fixture
def go_calls(tmp_path: Path, toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `go` that records each call in the returned file, then runs the real one; GOESCAPE_GO and
    PATH name it, and the temporary folder is a fresh one (so what a run leaves there shows)."""
    record = tmp_path / "go-calls.txt"
    wrapper = tmp_path / "bin" / "go"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(record))}\nexec {shlex.quote(str(toolchain.go))} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("GOESCAPE_GO", str(wrapper))
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{Path(toolchain.go).parent}:/usr/bin:/bin")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return record


def _refused_before_any_go(argv: list[str], repo: Path, go_calls: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `goescape ARGV`; check it refused with one line, ran no go command and left nothing: no
    branch, no worktree, no temporary folder, the checkout as it was. Returns the line."""
    branches, state = git("branch", "--list", cwd=repo), checkout_state(repo)
    worktrees = git("worktree", "list", cwd=repo)
    assert main(argv) == 2
    lines = without_progress(capsys.readouterr().err).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goescape: "), lines
    assert not go_calls.exists(), go_calls.read_text()
    assert git("branch", "--list", cwd=repo) == branches
    assert git("worktree", "list", cwd=repo) == worktrees
    assert checkout_state(repo) == state
    assert not any(Path(tempfile.gettempdir()).iterdir())
    # The wrapper does record: the refusal above is why there is no record.
    subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True)
    assert go_calls.read_text() == "env GOVERSION\n"
    return lines[0]


@pytest.mark.parametrize(
    ("remote", "said"),
    [
        ("https://github.com/acme/shop.git", "no GITHUB_TOKEN for the pull request on https://github.com"),
        ("git@gitlab.com:acme/shop.git", "no GITLAB_TOKEN for the pull request on https://gitlab.com"),
        ("https://git.example.com/acme/shop.git", "cannot tell which forge https://git.example.com"),
        (None, "no remote 'origin' (remotes: none)"),
    ],
)
def test_pr_refuses_before_any_go_command(
    repo: Path, go_calls: Path, capsys: pytest.CaptureFixture[str], remote: str | None, said: str
) -> None:
    if remote:
        git("remote", "add", "origin", remote, cwd=repo)
    line = _refused_before_any_go(["fix", "-C", str(repo), "--pr", *FAST, "./..."], repo, go_calls, capsys)
    assert said in line
    # Each says what to do about it.
    assert any(what in line for what in ("set ", "--forge", "git remote add origin"))


@pytest.mark.parametrize(
    ("name", "said"),
    [("taken", "branch taken exists; --force replaces it"), ("two..dots", "'two..dots' is not a valid branch name")],
)
def test_branch_refuses_before_any_go_command(
    repo: Path, go_calls: Path, capsys: pytest.CaptureFixture[str], name: str, said: str
) -> None:
    git("branch", "taken", cwd=repo)
    before = git("rev-parse", "taken", cwd=repo)
    line = _refused_before_any_go(["fix", "-C", str(repo), "--branch", name, *FAST, "./..."], repo, go_calls, capsys)
    assert said in line
    assert git("rev-parse", "taken", cwd=repo) == before


def test_pr_dry_run_shows_where_it_would_go_and_the_body_unwrapped(
    repo: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    """No token is needed: a dry run contacts nothing, and says that a real run would need one."""
    git("remote", "add", "origin", "git@github.com:acme/shop.git", cwd=repo)
    argv = ["fix", "-C", str(repo), "--pr", "--dry-run", "--draft", "--labels", "performance,allocs"]
    assert main([*argv, "--reviewers", "alice,bob", *FAST, "./..."]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for expected in (
        "remote: origin git@github.com:acme/shop.git",
        "forge: github https://github.com",
        "repository: acme/shop",
        "head: goescape/fix",
        "base: main",
        "draft: yes",
        "labels: performance, allocs",
        "reviewers: alice, bob",
        "token: GITHUB_TOKEN is not set (a run without --dry-run refuses)",
    ):
        assert expected in lines, (expected, out)
    assert MARKER in lines
    header = "| file | function | escape removed | allocations before → after | checks | equivalence |"
    rows = [ln for ln in lines[lines.index(header) + 2 :] if ln.startswith("|")]
    assert rows and all(row.startswith("| `") and row.endswith(" |") and row.count(" | ") == 5 for row in rows), rows
    assert max(map(len, rows)) > PIPED_WIDTH, "a row longer than a piped console is printed whole"
    assert git("branch", "--list", cwd=repo).split() == ["*", "main"]


def test_an_empty_branch_name_is_an_error_not_a_printed_diff(
    repo: Path, go_calls: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fix", "-C", str(repo), "./...", "--branch", "", *FAST]) == 2
    out, err = capsys.readouterr()
    assert (
        out == ""
        and err.strip() == "goescape: --branch is empty (pass a branch name, or leave the flag out for a diff)"
    )
    assert not go_calls.exists()


def test_the_reproducing_command_names_the_module_folder_from_the_repository_top(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    (top / "svc" / "api").mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=top)
    argv = ["fix", "-C", "svc", "./...", "--pr", "--labels", "perf", "--write"]
    assert reproduce(argv, top / "svc") == "goescape fix -C svc ./..."
    assert reproduce(["fix", "./..."], top / "svc" / "api") == "goescape fix -C svc/api ./..."
    assert reproduce(["fix", "./..."], top) == "goescape fix ./..."
