"""`fix --branch` and `fix --pr` end to end: real git repositories, a real Gitea on loopback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from goescape.engine.cli import main
from goescape.engine.forges import MARKER
from goescape.engine.toolchain import Toolchain
from tests.forge.gitea_server import GiteaServer

from .conftest import git

FAST = ["--verify", "build", "--no-measure", "--codemod", "return-value"]


def _repo(examples: Path) -> Path:
    git("init", "-q", "-b", "main", cwd=examples)
    git("add", "-A", cwd=examples)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "examples", cwd=examples)
    return examples


def test_branch_leaves_the_checkout_as_it_was(examples_copy: Path, toolchain: Toolchain) -> None:
    repo = _repo(examples_copy)
    (repo / "NOTES.txt").write_text("the user's own untracked work\n")
    status, head = git("status", "--porcelain", cwd=repo), git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo)
    assert main(["fix", "-C", str(repo), "--branch", "goescape/allocs", *FAST, "./..."]) == 0
    assert git("status", "--porcelain", cwd=repo) == status
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == head
    log = git("log", "--format=%s%n%b", "main..goescape/allocs", cwd=repo)
    assert "Goescape-Codemod: return-value" in log and "Goescape-Go-Version: " + toolchain.version in log
    assert "Goescape-Command: goescape fix" in log
    # The branch builds and passes its tests (create_branch checked it; check again from outside).
    out = subprocess.run(["git", "worktree", "add", "-q", str(repo.parent / "wt"), "goescape/allocs"], cwd=repo)
    assert out.returncode == 0
    assert toolchain.run(["test", "./..."], repo.parent / "wt").returncode == 0
    assert (
        "func newItem(sku int, name string, price int) item {" in (repo.parent / "wt" / "shop" / "shop.go").read_text()
    )


def test_dry_run_prints_branch_commits_and_body_and_makes_nothing(
    examples_copy: Path, toolchain: Toolchain, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repo(examples_copy)
    git("remote", "add", "origin", "https://github.com/acme/shop.git", cwd=repo)  # the dry run shows where it goes
    assert main(["fix", "-C", str(repo), "--pr", "--dry-run", *FAST, "./..."]) == 0
    out = capsys.readouterr().out
    assert "branch goescape/fix" in out and MARKER in out and "| file | function |" in out
    assert "goescape/fix" not in git("branch", "--list", cwd=repo)


def test_pr_twice_opens_one_pull_request_and_updates_it(
    examples_copy: Path,
    toolchain: Toolchain,
    gitea: GiteaServer,
    tmp_path: Path,
) -> None:
    gitea.api("POST", "/user/repos", {"name": "shop", "default_branch": "main"})
    repo = _repo(examples_copy)
    git("remote", "add", "origin", gitea.clone_url(gitea.username, "shop", auth=False), cwd=repo)
    subprocess.run(["git", "push", "-q", gitea.clone_url(gitea.username, "shop"), "main"], cwd=repo, check=True)
    gitea.wait_for_branch(gitea.username, "shop", "main")
    os.environ["GITEA_TOKEN"] = gitea.token
    try:
        argv = ["fix", "-C", str(repo), "--pr", "--forge", "gitea", "--base-url", gitea.base_url.rstrip("/"), *FAST]
        assert main([*argv, "./..."]) == 0
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "later", cwd=repo)
        assert main([*argv, "--size-limit", "64", "./..."]) == 0
    finally:
        del os.environ["GITEA_TOKEN"]
    pulls = gitea.api("GET", f"/repos/{gitea.username}/shop/pulls?state=all")
    assert len(pulls) == 1, "the second run updated the first pull request"
    body = pulls[0]["body"]
    assert MARKER in body and "| file | function | escape removed |" in body and "newItem" in body
    assert "--size-limit 64" in body, "the body was refreshed by the second run"
    assert pulls[0]["head"]["ref"] == "goescape/fix" and pulls[0]["base"]["ref"] == "main"
