"""Branches: verified rewrites committed on a new branch, built in a temporary worktree the user never sees."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.commits import CommitGroup
from goescape.engine.errors import GoescapeError
from goescape.engine.git import (
    Git,
    GitCommandError,
    Repo,
    _apart_from_caller,
    _git_ok,
    _git_or_empty,
    _relative,
    _repo,
    _top,
)
from goescape.engine.toolchain import Toolchain

_FALLBACK = {"NAME": "goescape", "EMAIL": "goescape@localhost"}


@dataclass(frozen=True)
class Branch:
    name: str
    head: str  # commit sha
    base: str  # the HEAD it started from
    commits: tuple[str, ...]
    checks: tuple[str, ...]  # the commands that passed in the branch's tree


def _identity(repo: Repo) -> dict[str, str]:
    """The configured user commits; without one goescape signs, through the environment of these commits only."""
    env: dict[str, str] = {}
    for field in ("NAME", "EMAIL"):
        if not _git_or_empty(repo, "config", "--get", f"user.{field.lower()}"):
            env |= {f"GIT_AUTHOR_{field}": _FALLBACK[field], f"GIT_COMMITTER_{field}": _FALLBACK[field]}
    return {key: value for key, value in env.items() if key not in os.environ}


def _refuse_uncommitted(repo: Repo, paths: Sequence[str]) -> None:
    # New contents were rendered from the work tree; on HEAD they would carry the user's own edits along.
    if not paths:
        return  # `git status --` with no paths would speak for the whole tree
    # No optional locks: a plain `git status` may rewrite .git/index, which must stay byte-identical.
    out = repo.git.status(
        "--porcelain", "-z", "--untracked-files=all", "--ignored", "--", *paths, env={"GIT_OPTIONAL_LOCKS": "0"}
    )
    dirty = [entry[3:] for entry in str(out).split("\0") if entry]
    if dirty:
        raise GoescapeError(
            "has changes not in HEAD that the branch would carry along",
            path=dirty[0],
            hint="commit or stash them first",
        )


def create_branch(
    repo_dir: Path,
    name: str,
    groups: Sequence[CommitGroup],
    *,
    force: bool = False,
    check: Callable[[Path], list[str]] | None = None,
) -> Branch:
    """Commit each group on a new branch from HEAD, check the result, then point `name` at it.

    All work happens in a detached temporary worktree, removed on every exit: the user's checkout,
    index and current branch are never touched, and on any failure the branch is left as it was.
    """
    repo = _repo(repo_dir)
    top = _top(repo)
    ref = f"refs/heads/{name}"
    base, old = _start(repo, top, name, force)
    writes = [{_relative(path, top): data for path, data in group.files.items()} for group in groups]
    _refuse_uncommitted(repo, sorted({rel for files in writes for rel in files}))

    scratch = Path(tempfile.mkdtemp(prefix="goescape-branch-"))
    tree = scratch / "tree"
    with _apart_from_caller():
        return _commit_groups(repo, top, name, ref, base, old, groups, writes, scratch, tree, check)


def branch_can_be_made(repo_dir: Path, name: str, *, force: bool = False) -> None:
    """Refuse now what create_branch would refuse before committing: no git repository, a name git
    rejects, a HEAD without a commit, a branch that exists (without `force`) or is checked out."""
    repo = _repo(repo_dir)
    _start(repo, _top(repo), name, force)


def _start(repo: Repo, top: Path, name: str, force: bool) -> tuple[str, str]:
    """(base, old): the commit a branch `name` starts from (HEAD) and the one it points at now ("" if none)."""
    ref = f"refs/heads/{name}"
    if name.startswith("-") or not _git_ok(repo, "check-ref-format", ref):
        raise GoescapeError(
            f"{name!r} is not a valid branch name", hint="`git check-ref-format --branch NAME` says which are"
        )
    base = _git_or_empty(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not base:
        raise GoescapeError("HEAD has no commit to start a branch from", path=top, hint="commit once first")
    old = _git_or_empty(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if old and not force:
        raise GoescapeError(
            f"branch {name} exists; --force replaces it", path=top, hint="or pass another --branch NAME"
        )
    if old and f"branch {ref}" in str(repo.git.worktree("list", "--porcelain")).splitlines():
        raise GoescapeError(f"branch {name} is checked out, so --force cannot replace it", hint="switch away first")
    return base, old


def _commit_groups(
    repo: Repo,
    top: Path,
    name: str,
    ref: str,
    base: str,
    old: str,
    groups: Sequence[CommitGroup],
    writes: Sequence[Mapping[str, bytes]],
    scratch: Path,
    tree: Path,
    check: Callable[[Path], list[str]] | None,
) -> Branch:
    try:
        # Hooks off: a post-checkout or pre-commit hook of the user's must not run on goescape's scratch commits.
        repo.git(c=f"core.hooksPath={os.devnull}").worktree("add", "--detach", str(tree), base)
        work = Git(tree)
        identity = _identity(repo)
        commits: list[str] = []
        for group, files in zip(groups, writes, strict=True):
            for rel, data in files.items():
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                (tree / rel).write_bytes(data)
                # Stored without clean filters (autocrlf, LFS): the commit holds exactly these bytes.
                blob = work.hash_object("-w", "--no-filters", "--", rel)
                staged = str(work.ls_files("-s", "--", rel)).split()
                work.update_index("--add", "--cacheinfo", f"{staged[0] if staged else '100644'},{blob},{rel}")
            if not work.diff("--cached", "--name-only"):
                continue  # the group changes nothing an earlier commit did not
            message = scratch / "message"
            message.write_text(group.message(), encoding="utf-8")
            work.commit("--no-verify", "--quiet", "--cleanup=verbatim", "-F", str(message), env=identity)
            commits.append(str(work.rev_parse("HEAD")))
        if not commits:
            raise GoescapeError(f"the rewrites change nothing on HEAD; branch {name} was not made", path=top)
        try:
            checks = tuple(check(tree)) if check is not None else ()
        except GoescapeError as exc:
            state = "left as it was" if old else "not created"
            raise GoescapeError(f"{exc.message}; branch {name} {state}", path=exc.path, hint=exc.hint) from exc
        # The expected old value makes the update fail if someone moved the branch meanwhile.
        repo.git.update_ref("-m", "goescape fix --branch", ref, commits[-1], old or "0" * len(base))
        return Branch(name, commits[-1], base, tuple(commits), checks)
    except GitCommandError as exc:
        said = str(exc.stderr).strip().removeprefix("stderr:").strip(" '\n").splitlines()
        hint = said[0].strip() if said else f"exit status {exc.status}"
        raise GoescapeError(f"git could not make branch {name}", path=top, hint=hint) from exc
    finally:
        _git_ok(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        _git_ok(repo, "worktree", "prune")


def go_check(
    tc: Toolchain, module_dir: Path, patterns: Sequence[str] = ("./...",), *, named: bool = False
) -> Callable[[Path], list[str]]:
    """A check for create_branch: go build, vet and test at `module_dir`'s place in the branch's tree
    (`named`: each check says that folder, for a branch of several modules)."""
    rel = _relative(module_dir, _top(_repo(module_dir)))

    def run(tree: Path) -> list[str]:
        passed: list[str] = []
        for verb in ("build", "vet", "test"):
            command = " ".join(["go", verb, *patterns]) + (f" in {rel}" if named else "")
            out = tc.run([verb, *patterns], tree / rel)
            if out.returncode != 0:
                lines = (ln.strip() for ln in (out.stderr + out.stdout).splitlines())
                first = next((ln for ln in lines if ln and not ln.startswith("#")), f"exit status {out.returncode}")
                raise GoescapeError(f"`{command}` failed on the new commits", path=rel, hint=first)
            passed.append(command)
        return passed

    return run
