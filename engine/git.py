"""Git: verified rewrites committed on a new branch, built in a temporary worktree the user never sees."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Absolute imports make this GitPython, not this module (goescape.engine.git).
import git as gitpython

from goescape.engine.codemod import Proposal
from goescape.engine.errors import GoescapeError
from goescape.engine.results import Verified
from goescape.engine.toolchain import Toolchain

GROUPINGS = ("codemod", "package", "rewrite")
SUBJECT_LIMIT = 72
_FALLBACK = {"NAME": "goescape", "EMAIL": "goescape@localhost"}


@dataclass(frozen=True)
class CommitGroup:
    """One commit: its message parts and the full new contents of the files it changes."""

    subject: str
    body: str  # the evidence table, plain text
    trailers: tuple[tuple[str, str], ...]
    files: dict[Path, bytes]  # absolute path in the user's work tree -> new content

    def message(self) -> str:
        trailers = "\n".join(f"{key}: {value}" for key, value in self.trailers)
        return f"{self.subject}\n\n{self.body.rstrip()}\n\n{trailers}\n"


@dataclass(frozen=True)
class Branch:
    name: str
    head: str  # commit sha
    base: str  # the HEAD it started from
    commits: tuple[str, ...]
    checks: tuple[str, ...]  # the commands that passed in the branch's tree


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


def _identity(repo: gitpython.Repo) -> dict[str, str]:
    """The configured user commits; without one goescape signs, through the environment of these commits only."""
    env: dict[str, str] = {}
    for field in ("NAME", "EMAIL"):
        if not _git_or_empty(repo, "config", "--get", f"user.{field.lower()}"):
            env |= {f"GIT_AUTHOR_{field}": _FALLBACK[field], f"GIT_COMMITTER_{field}": _FALLBACK[field]}
    return {key: value for key, value in env.items() if key not in os.environ}


def _refuse_uncommitted(repo: gitpython.Repo, paths: Sequence[str]) -> None:
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
    if name.startswith("-") or not _git_ok(repo, "check-ref-format", ref):
        raise GoescapeError(f"{name!r} is not a valid branch name")
    base = _git_or_empty(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not base:
        raise GoescapeError("HEAD has no commit to start a branch from", path=top)
    old = _git_or_empty(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if old and not force:
        raise GoescapeError(f"branch {name} exists; --force replaces it", path=top)
    if old and f"branch {ref}" in str(repo.git.worktree("list", "--porcelain")).splitlines():
        raise GoescapeError(f"branch {name} is checked out, so --force cannot replace it", hint="switch away first")
    writes = [{_relative(path, top): data for path, data in group.files.items()} for group in groups]
    _refuse_uncommitted(repo, sorted({rel for files in writes for rel in files}))

    scratch = Path(tempfile.mkdtemp(prefix="goescape-branch-"))
    tree = scratch / "tree"
    with _apart_from_caller():
        return _commit_groups(repo, top, name, ref, base, old, groups, writes, scratch, tree, check)


def _commit_groups(
    repo: gitpython.Repo,
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
        work = gitpython.Git(tree)
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
    except gitpython.GitCommandError as exc:
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


def _fit(subject: str) -> str:
    return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 1] + "…"


def _where(proposal: Proposal, top: Path | None) -> str:
    path = proposal.path.parent.resolve() / proposal.path.name
    shown = path.relative_to(top).as_posix() if top is not None and path.is_relative_to(top) else str(path)
    return f"{shown}:{proposal.line}"


def _table(verified: Sequence[Verified], top: Path | None) -> str:
    rows = [("file:line", "function", "escape removed", "allocations")]
    for r in verified:
        gone = "; ".join(fact.message for fact in r.removed) or "proof at run time"
        rows.append((_where(r.proposal, top), r.proposal.function, gone, r.allocs_text()))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]) for row in rows
    )
    differ = [r.proposal for r in verified if r.proposal.equivalence]
    if not differ:
        return table + "\n\nEach rewrite is equivalent for every input."
    notes = "\n".join(f"- {_where(p, top)}: {p.equivalence}" for p in differ)
    return f"{table}\n\nNot equivalent for every input:\n{notes}"


def _subject(by: str, verified: Sequence[Verified], top: Path | None) -> str:
    first = verified[0].proposal
    if by == "package":
        return _fit(f"goescape: {first.package}")
    if by == "rewrite":
        return _fit(f"goescape: {first.codemod} {first.function} ({_where(first, top)})")
    functions = len({(r.proposal.path, r.proposal.function) for r in verified})
    return _fit(f"goescape: {first.codemod} in {functions} function{'s' if functions != 1 else ''}")


def group_results(
    verified: Sequence[Verified],
    contents: Callable[[Sequence[Proposal]], dict[Path, bytes]],
    by: str,
    go_version: str,
    command: str,
) -> list[CommitGroup]:
    """Verified rewrites as commits, one per codemod, package or rewrite, in the order they came.

    `contents(proposals)` renders the new full contents of the files those proposals touch; it is
    given every proposal up to and including a group's, so each commit builds on the ones before.
    """
    if by not in GROUPINGS:
        raise GoescapeError(f"cannot make one commit per {by!r}", hint="choose " + ", ".join(GROUPINGS))
    buckets: dict[str, list[Verified]] = {}
    for i, r in enumerate(verified):
        key = {"codemod": r.proposal.codemod, "package": r.proposal.package}.get(by, str(i))
        buckets.setdefault(key, []).append(r)
    try:
        top: Path | None = _top(_repo(verified[0].proposal.path.parent)) if verified else None
    except GoescapeError:
        top = None  # create_branch says so; here paths are merely shown in full
    groups: list[CommitGroup] = []
    so_far: list[Proposal] = []
    for bucket in buckets.values():
        so_far += [r.proposal for r in bucket]
        touched = {path for r in bucket for path in r.proposal.files | {p for p, _ in r.proposal.add_imports}}
        codemods = ", ".join(dict.fromkeys(r.proposal.codemod for r in bucket))
        trailers = (("Goescape-Codemod", codemods), ("Goescape-Go-Version", go_version), ("Goescape-Command", command))
        files = {path: data for path, data in contents(tuple(so_far)).items() if path in touched}
        groups.append(CommitGroup(_subject(by, bucket, top), _table(bucket, top), trailers, files))
    return groups


def guard_commit(files: Mapping[Path, bytes], go_version: str, command: str) -> CommitGroup:
    """The last commit of a --guard branch: the guard tests, after the rewrites they lock in."""
    try:
        top: Path | None = _top(_repo(next(iter(files)).parent))
    except GoescapeError:
        top = None
    names = "\n".join(f"- {_relative(p, top) if top else p}" for p in sorted(files))
    body = (
        "Each test runs the test or benchmark that measured a rewrite under testing.AllocsPerRun and\n"
        "fails when it allocates more than it did with the rewrite.\n\n" + names
    )
    trailers = (("Goescape-Codemod", "guard"), ("Goescape-Go-Version", go_version), ("Goescape-Command", command))
    return CommitGroup(f"goescape: guard tests for the rewrites ({len(files)} file(s))", body, trailers, dict(files))


def remote_url(repo_dir: Path, remote: str) -> str:
    """The fetch URL of a remote, or a GoescapeError naming the remotes there are."""
    repo = _repo(repo_dir)
    names = [r.name for r in repo.remotes]
    if remote not in names:
        raise GoescapeError(f"no remote {remote!r} (remotes: {', '.join(names) or 'none'})", hint="pass --remote NAME")
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


@dataclass(frozen=True)
class Base:
    """A revision checked out in goescape's own worktree of the repository, for the gate's base compile."""

    spec: str  # as the user gave it: a revision or merge-base:BRANCH
    commit: str  # the full sha it resolved to
    top: Path  # the user's work tree top level
    tree: Path  # goescape's worktree, at `commit`, in the cache directory


def repository_top(directory: Path) -> Path:
    """The top level of the git work tree that holds `directory`."""
    return _top(_repo(directory))


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


def _missing(repo: gitpython.Repo, rev: str, message: str) -> None:
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
    except gitpython.GitCommandError:
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
        except gitpython.GitCommandError:
            # A git killed mid-checkout (an OOM kill, a CI timeout) leaves index.lock behind: start afresh once.
            with contextlib.suppress(gitpython.GitCommandError):
                _apart(top, "worktree", "remove", "--force", "--force", str(tree))
            shutil.rmtree(tree, ignore_errors=True)
            try:
                _check_out(repo, tree, common, commit)
            except gitpython.GitCommandError as exc:
                first = next((ln.strip() for ln in str(exc.stderr).splitlines() if ln.strip()), "git worktree failed")
                first = first.removeprefix("stderr: ").strip("'")
                raise GoescapeError(f"could not check out {spec} for the base compile", path=tree, hint=first) from exc
        yield Base(spec, commit, top, tree)


def _check_out(repo: gitpython.Repo, tree: Path, common: Path, commit: str) -> None:
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
