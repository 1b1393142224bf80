"""Git: the repository a path lies in, git kept apart from a caller's repository, remotes, pushes and clones."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Absolute imports make this GitPython, not this module (goescape.engine.git).
import git as gitpython

from goescape.engine.errors import GoescapeError

# The GitPython names the branch and worktree modules use: GitPython is imported here only.
Repo = gitpython.Repo
Git = gitpython.Git
GitCommandError = gitpython.GitCommandError


def _repo(directory: Path) -> gitpython.Repo:
    try:
        repo = gitpython.Repo(directory, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
        raise GoescapeError(
            "not inside a git repository", path=directory, hint="--branch, --pr and --base need one"
        ) from None
    if repo.working_tree_dir is None:
        raise GoescapeError("a bare repository has no work tree to take rewrites from", path=directory)
    return repo


def _top(repo: gitpython.Repo) -> Path:
    return Path(str(repo.working_tree_dir)).resolve()


def _relative(path: Path, top: Path) -> str:
    # Only the parent is resolved: a file that is itself a symlink is committed as the link's path.
    full = path.parent.resolve() / path.name
    if not full.is_relative_to(top):
        raise GoescapeError(f"is outside the git repository {top}", path=path, hint="run once per repository")
    return full.relative_to(top).as_posix()


def _git_or_empty(repo: gitpython.Repo, *args: str) -> str:
    """The output of a git command, or "" when it fails (an absent ref, an unset key)."""
    try:
        return str(repo.git.execute(["git", *args]))
    except gitpython.GitCommandError:
        return ""


# Kept although `git rev-parse --local-env-vars` lists them: configuration given on the command line
# or through GIT_CONFIG_COUNT (a CI's safe.directory) holds for every repository, as git's own
# submodule commands keep it.
_KEPT = frozenset({"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"})


@functools.cache
def _local_env_vars() -> frozenset[str]:
    """The variables that tie git to one repository (GIT_DIR, GIT_INDEX_FILE, ...), as git lists them."""
    listed = subprocess.run(["git", "rev-parse", "--local-env-vars"], capture_output=True, text=True, check=False)
    if listed.returncode != 0 or not listed.stdout.split():
        raise GoescapeError("git rev-parse --local-env-vars failed", hint="check that git works on this machine")
    return frozenset(listed.stdout.split()) - _KEPT


def _apart(cwd: Path, *args: str) -> str:
    """`git ARGS` in `cwd` without the variables that tie git to one repository. A pre-commit hook
    runs with the user's GIT_INDEX_FILE set; left in, a checkout in goescape's worktree would
    write the user's index.

    Errors: gitpython.GitCommandError with git's status and stderr.
    """
    env = {k: v for k, v in os.environ.items() if k not in _local_env_vars()} | {"GIT_OPTIONAL_LOCKS": "0"}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise gitpython.GitCommandError(["git", *args], done.returncode, done.stderr, done.stdout)
    return done.stdout.strip()


@contextmanager
def _apart_from_caller() -> Iterator[None]:
    """os.environ without the variables that tie git to one repository while the block runs, so
    GitPython's commands in a scratch worktree never reach a hook's GIT_INDEX_FILE (restored after)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k in _local_env_vars()}
    try:
        yield
    finally:
        os.environ.update(saved)


def _git_ok(repo: gitpython.Repo, *args: str) -> bool:
    try:
        repo.git.execute(["git", *args])
    except gitpython.GitCommandError:
        return False
    return True


def remote_url(repo_dir: Path, remote: str) -> str:
    """The fetch URL of a remote, or a GoescapeError naming the remotes there are."""
    repo = _repo(repo_dir)
    names = [r.name for r in repo.remotes]
    if remote not in names:
        raise GoescapeError(
            f"no remote {remote!r} (remotes: {', '.join(names) or 'none'})",
            hint=f"add it with `git remote add {remote} URL`, or pass --remote NAME",
        )
    return str(repo.remotes[remote].url)


def current_branch(repo_dir: Path) -> str:
    """The branch checked out, which a pull request targets by default."""
    repo = _repo(repo_dir)
    if repo.head.is_detached:
        raise GoescapeError("HEAD is detached: no branch for the pull request to target", hint="pass --base BRANCH")
    return str(repo.active_branch.name)


def push(repo_dir: Path, remote: str, branch: str, *, url: str | None = None) -> None:
    """Force-push `branch` (a rerun replaces goescape's own branch); `url` may carry a token."""
    repo = _repo(repo_dir)
    target = url or remote
    try:
        repo.git.push("--force", "--quiet", target, f"refs/heads/{branch}:refs/heads/{branch}")
    except gitpython.GitCommandError as exc:
        first = next((ln.strip() for ln in str(exc.stderr).splitlines() if ln.strip()), "git push failed")
        if url:
            first = first.replace(url, remote)  # never print a token
        raise GoescapeError(f"could not push {branch} to {remote}", hint=first) from exc


def repository_top(directory: Path) -> Path:
    """The top level of the git work tree that holds `directory`."""
    return _top(_repo(directory))


# --- Campaigns: shallow clones of other people's repositories ------------------------------


def _first_line(exc: gitpython.GitCommandError, url: str) -> str:
    # GitPython wraps git's stderr as "stderr: '...'"; git's cause is its fatal: line.
    lines = [ln.strip().strip("'").removeprefix("stderr: '").strip() for ln in str(exc.stderr).splitlines()]
    lines = [ln for ln in lines if ln]
    text = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[0] if lines else "git failed")
    return text.replace(url, "<url>") if "@" in url else text  # a URL with a token in it is never shown


def shallow_clone(url: str, ref: str | None, dest: Path, *, auth_url: str | None = None) -> str:
    """Clone `url` at `ref` (a branch, a tag or a commit; the remote's HEAD when None) into `dest`
    with depth 1, and return the commit checked out (40 hex digits).

    `auth_url` is `url` carrying a token (forges.authenticated): used for the clone, never stored
    (origin is `url`). `dest` must not exist; on failure nothing is left there.
    Errors: GoescapeError with git's words, the token never among them.
    """
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):
        url = Path(url).resolve().as_uri()  # git makes no shallow clone of a plain local path
    source = auth_url or url
    try:
        try:
            flags: list[str] = ["--depth=1", "--no-tags"] + ([f"--branch={ref}"] if ref else [])
            repo = gitpython.Repo.clone_from(source, dest, multi_options=flags)
        except gitpython.GitCommandError:
            if not ref:
                raise
            # A commit is no branch or tag: fetch that one commit (servers allow reachable ones).
            shutil.rmtree(dest, ignore_errors=True)
            repo = gitpython.Repo.init(dest)
            repo.create_remote("origin", source)
            repo.git.fetch("--depth=1", "--no-tags", "origin", "--", ref)
            repo.git.checkout("--detach", "FETCH_HEAD")
        repo.git.remote("set-url", "origin", url)
        return str(repo.head.commit.hexsha)
    except gitpython.GitCommandError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise GoescapeError(f"cannot clone {ref or 'HEAD'}: {_first_line(exc, source)}", path=url) from exc


def local_clone(source: Path, dest: Path, origin: str) -> None:
    """A copy of the clone at `source` (objects hard-linked, the shallow history kept) at `dest`,
    whose origin is `origin` again. Errors: GoescapeError with git's words."""
    try:
        repo = gitpython.Repo.clone_from(str(source), dest, multi_options=["--no-tags"])
        repo.git.remote("set-url", "origin", origin)
    except gitpython.GitCommandError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise GoescapeError(f"cannot copy the clone: {_first_line(exc, str(source))}", path=source) from exc


def target_branch(url: str, ref: str | None) -> str | None:
    """The branch a pull request for `url` at `ref` targets: `ref` when it names a branch of the
    remote, else the remote's default branch (`git ls-remote --symref`); None when it has none."""
    git = gitpython.Git()
    try:
        if ref and str(git.ls_remote("--heads", url, f"refs/heads/{ref}")).strip():
            return ref
        for line in str(git.ls_remote("--symref", url, "HEAD")).splitlines():
            if line.startswith("ref: refs/heads/"):
                return line.split()[1].removeprefix("refs/heads/")
    except gitpython.GitCommandError as exc:
        raise GoescapeError(f"cannot list the branches: {_first_line(exc, url)}", path=url) from exc
    return None
