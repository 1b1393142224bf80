"""Unified diffs that `git apply` accepts from any folder of the repository, coloured for a terminal."""

from __future__ import annotations

import difflib
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

NO_NEWLINE = "\\ No newline at end of file\n"


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "surrogateescape").splitlines(keepends=True)


def display_path(path: Path, cwd: Path) -> str:
    """Relative to `cwd` when the file is below it, else absolute; `/` between folders."""
    rel = os.path.relpath(path, cwd)
    return (str(path) if rel.startswith("..") else rel).replace(os.sep, "/")


def apply_root(directory: Path) -> Path:
    """Where a diff's paths start: the top level of the git work tree holding `directory`, else `directory`.

    `git apply` reads the paths of a diff with `diff --git` headers from the top level, wherever in
    the work tree it runs, and skips those outside the folder it runs in; outside a repository it
    reads them from that folder. Git itself answers, so worktrees, submodules and GIT_DIR count
    as they will for `git apply` (a process of a few milliseconds, where GitPython's import costs more).
    """
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except OSError:  # no git installed: nothing will read the paths from a top level
        return directory
    top = os.fsdecode(done.stdout.removesuffix(b"\n"))
    return Path(top).resolve() if done.returncode == 0 and top else directory


def unified_diff(path: Path, old: bytes, new: bytes, root: Path) -> str:
    """One file's diff with `a/` and `b/` prefixes, paths from `root` (apply_root), and git's
    no-newline marker.

    A file that does not exist yet (`old` empty, nothing at `path`) gets git's new-file form, so
    that `git apply` creates it.
    """
    name = display_path(path, root)
    created = not old and not path.exists()
    out: list[str] = [f"diff --git a/{name} b/{name}\n"]
    out += ["new file mode 100644\n"] * created
    lines = difflib.unified_diff(_lines(old), _lines(new), "/dev/null" if created else f"a/{name}", f"b/{name}", n=3)
    for i, line in enumerate(lines):
        if i < 2:  # the --- and +++ headers; a content line may start with them too
            out.append(line.rstrip("\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out) if len(out) > 1 + created else ""


def unified_diffs(changes: Iterable[tuple[Path, bytes, bytes]], root: Path) -> str:
    return "".join(unified_diff(path, old, new, root) for path, old, new in changes)


def colour(diff: str) -> str:
    """ANSI colours for a terminal: additions green, removals red, hunk headers cyan."""
    styled = []
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---", "diff --git")):
            styled.append(f"\x1b[1m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("+"):
            styled.append(f"\x1b[32m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("-"):
            styled.append(f"\x1b[31m{line.rstrip(chr(10))}\x1b[0m\n")
        elif line.startswith("@@"):
            styled.append(f"\x1b[36m{line.rstrip(chr(10))}\x1b[0m\n")
        else:
            styled.append(line)
    return "".join(styled)
