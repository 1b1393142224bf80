"""--branch: commits on a new branch in a real repository, the user's checkout untouched to the byte."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from goescape.engine.branches import create_branch, go_check
from goescape.engine.codemod import Options, load_codemods
from goescape.engine.commits import CommitGroup, group_results
from goescape.engine.errors import GoescapeError
from goescape.engine.proof import final_contents, verify
from goescape.engine.proposals import Proposal
from goescape.engine.results import Verified
from goescape.engine.session import load, propose
from goescape.engine.toolchain import Toolchain

from .conftest import ROOT, checkout_state, commit_all, git, git_repo, go

pytestmark = pytest.mark.usefixtures("quiet_git")

COMMAND = "goescape fix --branch perf ./..."


def _trailers(repo: Path, commit: str) -> dict[str, str]:
    message = git("log", "-1", "--format=%B", commit, cwd=repo)
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(": ", 1) for line in parsed.splitlines())


@pytest.fixture(scope="module")
def fixed(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CommitGroup]]:
    """examples/ committed in a repository with uncommitted work beside it, and goescape's commits for it."""
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["cp", "-R", str(ROOT / "examples"), str(repo / "examples")], check=True)
    (repo / "NOTES").write_text("notes\n")
    (repo / "staged").write_text("old\n")
    git("init", "-q", "-b", "main", cwd=repo)
    commit_all(repo, "examples")
    (repo / "NOTES").write_text("notes, edited but not committed\n")
    (repo / "staged").write_text("new\n")
    git("add", "staged", cwd=repo)
    (repo / "untracked.txt").write_text("mine\n")

    module = repo / "examples"
    session = load(toolchain, ("./...",), module)
    proposals = propose(session, [c for c in load_codemods() if c.name in ("return-value", "sprint")], Options())
    verified = [r for r in verify(session, proposals, "build", measure=False).results if isinstance(r, Verified)]

    def contents(done: Sequence[Proposal]) -> dict[Path, bytes]:
        chosen = [r for r in verified if r.proposal in done]
        return {path: new for path, (_old, new) in final_contents(session, chosen).items()}

    return repo, group_results(verified, contents, "codemod", toolchain.version, COMMAND)


def test_branch_commits_each_codemod_and_leaves_the_checkout_byte_identical(
    fixed: tuple[Path, list[CommitGroup]], toolchain: Toolchain, tmp_path: Path
) -> None:
    repo, groups = fixed
    # go/types knows Describe's argument is an int, so sprint now takes four functions (three when it guessed).
    assert [g.subject for g in groups] == ["goescape: return-value in 2 functions", "goescape: sprint in 4 functions"]
    assert all(g.body.endswith("Each rewrite is equivalent for every input.") for g in groups)
    before = checkout_state(repo)

    branch = create_branch(repo / "examples" / "shop", "perf", groups, check=go_check(toolchain, repo / "examples"))

    assert checkout_state(repo) == before
    assert branch.base == before[3].strip() and branch.head == git("rev-parse", "perf", cwd=repo).strip()
    assert git("rev-list", "--reverse", f"{branch.base}..perf", cwd=repo).split() == list(branch.commits)
    assert len(branch.commits) == 2
    assert branch.checks == ("go build ./...", "go vet ./...", "go test ./...")
    assert git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1, "no worktree is left behind"
    for group, commit in zip(groups, branch.commits, strict=True):
        message = git("log", "-1", "--format=%B", commit, cwd=repo)
        assert message.startswith(group.subject + "\n\n" + group.body)
        assert bool(re.search(r"\nexamples/shop/shop\.go:19 +newItem ", message)) == (commit == branch.commits[0])
        trailers = _trailers(repo, commit)
        assert trailers["Goescape-Go-Version"] == toolchain.version and trailers["Goescape-Command"] == COMMAND
        assert trailers["Goescape-Codemod"] == group.subject.split()[1]
    assert git("log", "-1", "--format=%an <%ae>", "perf", cwd=repo) == "goescape <goescape@localhost>\n"
    # Each commit holds exactly the given bytes; the uncommitted work stays out of the branch.
    shop = groups[1].files[repo / "examples" / "shop" / "shop.go"]
    shown = subprocess.run(["git", "show", "perf:examples/shop/shop.go"], cwd=repo, capture_output=True, check=True)
    assert shown.stdout == shop
    assert git("show", "perf:NOTES", cwd=repo) == "notes\n"
    assert git("diff", "--name-only", f"{branch.base}..perf", cwd=repo).split() == [
        "examples/cmd/shopd/main.go",
        "examples/shop/shop.go",
    ]
    # The branch's own tree, outside any worktree, builds and passes its tests.
    archive = subprocess.run(["git", "archive", "perf"], cwd=repo, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    for verb in (["build", "./..."], ["test", "-count=1", "./..."]):
        out = go(toolchain, *verb, cwd=tmp_path / "examples")
        assert out.returncode == 0, out.stdout + out.stderr


def test_an_existing_branch_needs_force_and_force_replaces_it(fixed: tuple[Path, list[CommitGroup]]) -> None:
    repo, groups = fixed
    git("branch", "taken", cwd=repo)
    before = checkout_state(repo)
    with pytest.raises(GoescapeError, match="branch taken exists; --force replaces it"):
        create_branch(repo, "taken", groups)
    branch = create_branch(repo, "taken", groups[:1], force=True)
    assert git("rev-parse", "taken", cwd=repo).strip() == branch.head and len(branch.commits) == 1
    assert git("rev-parse", "taken~1", cwd=repo).strip() == branch.base
    with pytest.raises(GoescapeError, match="main is checked out"):
        create_branch(repo, "main", groups, force=True)
    assert checkout_state(repo) == before


def test_a_failing_check_names_the_command_and_changes_no_branch(
    fixed: tuple[Path, list[CommitGroup]], toolchain: Toolchain
) -> None:
    repo, groups = fixed
    shop = repo / "examples" / "shop" / "shop.go"
    broken = replace(groups[1], files={shop: groups[1].files[shop] + b"\nfunc broken() { return 1 }\n"})
    git("branch", "kept", cwd=repo)
    kept = git("rev-parse", "kept", cwd=repo)
    before = checkout_state(repo)
    check = go_check(toolchain, repo / "examples")
    with pytest.raises(
        GoescapeError, match=r"`go build \./\.\.\.` failed on the new commits; branch fresh not created"
    ):
        create_branch(repo, "fresh", [groups[0], broken], check=check)
    with pytest.raises(GoescapeError, match="branch kept left as it was"):
        create_branch(repo, "kept", [groups[0], broken], force=True, check=check)

    def interrupted(_tree: Path) -> list[str]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_branch(repo, "fresh", groups, check=interrupted)
    assert not git("branch", "--list", "fresh", cwd=repo) and git("rev-parse", "kept", cwd=repo) == kept
    assert checkout_state(repo) == before
    assert git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1


def test_refuses_files_outside_the_repository_files_with_uncommitted_edits_and_bad_names(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo", {"a.go": "package a\n"})
    group = CommitGroup("goescape: a", "table", (("Goescape-Codemod", "x"),), {repo / "a.go": b"package a // new\n"})
    outside = replace(group, files={tmp_path / "b.go": b"package b\n"})
    with pytest.raises(GoescapeError, match=r"b\.go: is outside the git repository"):
        create_branch(repo, "x", [outside])
    with pytest.raises(GoescapeError, match="not a valid branch name"):
        create_branch(repo, "no..dots", [group])
    (repo / "a.go").write_text("package a // mine\n")
    with pytest.raises(GoescapeError, match=r"a\.go: has changes not in HEAD"):
        create_branch(repo, "x", [group])
    git("checkout", "--", "a.go", cwd=repo)
    # The user's hooks are for the user's commits, not goescape's scratch worktree.
    for hook in ("pre-commit", "commit-msg", "post-checkout"):
        (repo / ".git" / "hooks" / hook).write_text(f"#!/bin/sh\ntouch {tmp_path / hook}\nexit 1\n")
        (repo / ".git" / "hooks" / hook).chmod(0o755)
    git("config", "user.name", "Someone", cwd=repo)
    git("config", "user.email", "someone@example.com", cwd=repo)
    branch = create_branch(repo, "x", [group, group])
    assert len(branch.commits) == 1, "a group that changes nothing makes no empty commit"
    assert git("log", "-1", "--format=%an <%ae>%n%B", "x", cwd=repo) == (
        "Someone <someone@example.com>\ngoescape: a\n\ntable\n\nGoescape-Codemod: x\n\n"
    )
    assert git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1
    assert not [hook for hook in ("pre-commit", "commit-msg", "post-checkout") if (tmp_path / hook).exists()]
    git("config", "commit.gpgSign", "true", cwd=repo)
    git("config", "gpg.program", str(tmp_path / "no-gpg"), cwd=repo)
    with pytest.raises(GoescapeError, match=r"git could not make branch y \(\w+: cannot run .*no-gpg"):
        create_branch(repo, "y", [group])
    assert not git("branch", "--list", "y", cwd=repo)
    assert git("worktree", "list", "--porcelain", cwd=repo).count("worktree ") == 1
    with pytest.raises(GoescapeError, match="not inside a git repository"):
        create_branch(tmp_path, "x", [group])


def test_a_hook_s_index_variable_never_reaches_the_scratch_worktree(
    fixed: tuple[Path, list[CommitGroup]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run from a git hook, goescape inherits GIT_INDEX_FILE: the scratch commits must not stage into it.
    repo, groups = fixed
    before = checkout_state(repo)
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    branch = create_branch(repo, "hooked", groups[:1])
    assert git("rev-parse", "hooked", cwd=repo).strip() == branch.head
    assert checkout_state(repo) == before
    assert os.environ["GIT_INDEX_FILE"] == str(repo / ".git" / "index"), "restored for the caller"
