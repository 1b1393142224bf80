"""Unified diffs that `git apply` accepts, coloured for a terminal."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path

NO_NEWLINE = "\\ No newline at end of file\n"


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "surrogateescape").splitlines(keepends=True)


def display_path(path: Path, cwd: Path) -> str:
    """Relative to `cwd` when the file is below it (what `git apply` expects), else absolute."""
    rel = os.path.relpath(path, cwd)
    return (str(path) if rel.startswith("..") else rel).replace(os.sep, "/")


def unified_diff(path: Path, old: bytes, new: bytes, cwd: Path) -> str:
    """One file's diff with `a/` and `b/` prefixes and git's no-newline marker.

    A file that does not exist yet (`old` empty, nothing at `path`) gets git's new-file form, so
    that `git apply` creates it.
    """
    name = display_path(path, cwd)
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


def unified_diffs(changes: Iterable[tuple[Path, bytes, bytes]], cwd: Path) -> str:
    return "".join(unified_diff(path, old, new, cwd) for path, old, new in changes)


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
