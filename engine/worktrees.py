"""Worktrees: a base revision checked out in goescape's own worktree, kept in the cache for the gate's base compile."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from goescape.engine.errors import GoescapeError
from goescape.engine.git import GitCommandError, Repo, _apart, _git_or_empty, _repo, _top


@dataclass(frozen=True)
class Base:
    """A revision checked out in goescape's own worktree of the repository, for the gate's base compile."""

    spec: str  # as the user gave it: a revision or merge-base:BRANCH
    commit: str  # the full sha it resolved to
    top: Path  # the user's work tree top level
    tree: Path  # goescape's worktree, at `commit`, in the cache directory


def resolve_base(directory: Path, spec: str) -> str:
    """The commit `spec` names: any revision git knows, or `merge-base:BRANCH` (where HEAD forked from it).

    Errors: GoescapeError naming the revision, with how to fetch it when the clone is shallow.
    """
    repo = _repo(directory)
    name = spec.removeprefix("merge-base:")
    if not name or name.startswith("-"):
        raise GoescapeError(
            f"--base {spec!r} names no revision", hint="pass a commit, branch or tag, or merge-base:BRANCH"
        )
    if spec.startswith("merge-base:"):
        branch = name
        sha = _git_or_empty(repo, "merge-base", "HEAD", branch).strip()
        if not sha:
            _missing(repo, branch, f"no merge base of HEAD and {branch}")
        return sha
    sha = _git_or_empty(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").strip()
    if not sha:
        _missing(repo, spec, f"no commit {spec!r} in this repository")
    return sha


def _missing(repo: Repo, rev: str, message: str) -> None:
    if _git_or_empty(repo, "rev-parse", "--is-shallow-repository").strip() == "true":
        ref = re.split(r"[~^@]", rev, maxsplit=1)[0]
        remote, _, branch = (
            ref.partition("/") if ref.partition("/")[0] in {r.name for r in repo.remotes} else ("origin", "", ref)
        )
        raise GoescapeError(
            f"{message}: this clone is shallow and does not hold it",
            path=_top(repo),
            hint=f"fetch it with `git fetch --unshallow` or `git fetch --deepen=50 {remote} {branch or ref}`; "
            "on GitHub Actions give actions/checkout `fetch-depth: 0`",
        )
    raise GoescapeError(message, path=_top(repo), hint="pass a commit, branch or tag git knows, or merge-base:BRANCH")


def _ours(tree: Path, common: Path) -> bool:
    """Whether `tree` is a worktree of the repository whose git folder is `common` (a cache kept
    across CI runs can hold one of an earlier clone, whose git folder is gone)."""
    if not (tree / ".git").exists():
        return False
    try:
        there = Path(_apart(tree, "rev-parse", "--git-common-dir"))
    except GitCommandError:
        return False
    return (tree / there).resolve() == common


@contextmanager
def base_worktree(directory: Path, spec: str, cache: Path) -> Iterator[Base]:
    """Check `spec` out in a worktree kept under `cache` for this repository, held while the block runs.

    The worktree's path stays the same from run to run, so the go command's build cache serves the
    base compile again (compile actions are keyed by the package's directory as well as its files).
    The user's checkout, index and HEAD are never touched; git records the worktree under
    `.git/worktrees/`. Two gates on one repository take the worktree one at a time. Errors: GoescapeError as resolve_base, or when git cannot make the worktree.
    """
    repo = _repo(directory)
    top = _top(repo)
    commit = resolve_base(directory, spec)
    common = Path(str(repo.git.rev_parse("--git-common-dir")))
    common = (top / common).resolve() if not common.is_absolute() else common
    tree = cache / "worktrees" / hashlib.sha256(str(common).encode()).hexdigest()[:16] / top.name
    try:
        tree.parent.mkdir(parents=True, exist_ok=True)
        lock = open(tree.parent / "lock", "w")  # noqa: SIM115 (held for the whole block below)
    except OSError as exc:
        raise GoescapeError(
            f"cannot keep the base worktree in the cache ({exc.strerror})",
            path=tree.parent,
            hint="set GOESCAPE_CACHE_DIR",
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _check_out(repo, tree, common, commit)
        except GitCommandError:
            # A git killed mid-checkout (an OOM kill, a CI timeout) leaves index.lock behind: start afresh once.
            with contextlib.suppress(GitCommandError):
                _apart(top, "worktree", "remove", "--force", "--force", str(tree))
            shutil.rmtree(tree, ignore_errors=True)
            try:
                _check_out(repo, tree, common, commit)
            except GitCommandError as exc:
                first = next((ln.strip() for ln in str(exc.stderr).splitlines() if ln.strip()), "git worktree failed")
                first = first.removeprefix("stderr: ").strip("'")
                raise GoescapeError(f"could not check out {spec} for the base compile", path=tree, hint=first) from exc
        yield Base(spec, commit, top, tree)


def _check_out(repo: Repo, tree: Path, common: Path, commit: str) -> None:
    """`commit` in goescape's worktree at `tree`, made when missing; the user's hooks do not run there,
    and git's repository variables of a hook that runs goescape (GIT_INDEX_FILE) do not reach it."""
    no_hooks = ["-c", "core.hooksPath=/dev/null"]
    if _ours(tree, common):
        _apart(tree, *no_hooks, "checkout", "--detach", "--force", "--quiet", commit)
        _apart(tree, "clean", "-fdxq")
    else:
        shutil.rmtree(tree, ignore_errors=True)
        # -f: a worktree whose folder was deleted (a cleaned cache) is still registered.
        _apart(_top(repo), *no_hooks, "worktree", "add", "--detach", "--force", "--quiet", str(tree), commit)
