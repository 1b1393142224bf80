"""Unified diffs that `git apply` accepts from any folder of the repository, coloured for a terminal."""

from __future__ import annotations

import bisect
import difflib
import os
import subprocess
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path

NO_NEWLINE = "\\ No newline at end of file\n"


class LineMatcher(difflib.SequenceMatcher[Hashable]):
    """difflib's SequenceMatcher for the lines of a file and its rewrite, in time near-linear in them.

    difflib with `autojunk=False` is quadratic on long files of repeated lines (`}`, `return nil`):
    22 s a call on a 5,000-line function. Rewrites change a few lines here and there, so the
    matching blocks come from patience diffing instead (as `git diff --patience`): the common head
    and tail are matched, then the lines that occur once in each side anchor the longest increasing
    run between them, and each stretch between anchors is matched the same way; a stretch with no
    such line (short, in practice) goes to difflib. `get_opcodes()` works on these blocks as on
    difflib's. The blocks are a valid alignment, though not always difflib's own where lines repeat.
    """

    def __init__(self, a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
        self._lines = (a, b)
        self._blocks: list[difflib.Match] | None = None
        super().__init__(None, a, b, autojunk=False)

    def get_matching_blocks(self) -> list[difflib.Match]:
        a, b = self._lines
        if self._blocks is None:
            blocks: list[tuple[int, int, int]] = []
            self._match(0, len(a), 0, len(b), blocks)
            merged: list[tuple[int, int, int]] = []
            for i, j, k in blocks:  # adjacent blocks become one, as difflib's are
                if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
                    merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + k)
                elif k:
                    merged.append((i, j, k))
            self._blocks = [difflib.Match(*m) for m in [*merged, (len(a), len(b), 0)]]
        return self._blocks

    def _match(self, alo: int, ahi: int, blo: int, bhi: int, out: list[tuple[int, int, int]], depth: int = 0) -> None:
        a, b = self._lines
        head = 0
        while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
            head += 1
        tail = 0
        while alo + head < ahi - tail and blo + head < bhi - tail and a[ahi - 1 - tail] == b[bhi - 1 - tail]:
            tail += 1
        out.append((alo, blo, head))
        alo, blo, ahi, bhi = alo + head, blo + head, ahi - tail, bhi - tail
        if alo < ahi and blo < bhi:
            anchors = _anchors(a, alo, ahi, b, blo, bhi) if depth < 100 else []
            if not anchors:
                sub = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
                out.extend((alo + i, blo + j, k) for i, j, k in sub.get_matching_blocks() if k)
            else:
                for i, j in anchors:
                    self._match(alo, i, blo, j, out, depth + 1)
                    out.append((i, j, 1))
                    alo, blo = i + 1, j + 1
                self._match(alo, ahi, blo, bhi, out, depth + 1)
        out.append((ahi, bhi, tail))


def _anchors(
    a: Sequence[Hashable], alo: int, ahi: int, b: Sequence[Hashable], blo: int, bhi: int
) -> list[tuple[int, int]]:
    """The (i, j) pairs of lines that occur once in a[alo:ahi] and once in b[blo:bhi], the longest
    run of them in order on both sides (patience sorting)."""
    seen_a: dict[Hashable, int] = {}
    for i in range(alo, ahi):
        seen_a[a[i]] = -1 if a[i] in seen_a else i
    seen_b: dict[Hashable, int] = {}
    for j in range(blo, bhi):
        seen_b[b[j]] = -1 if b[j] in seen_b else j
    pairs = [(i, seen_b[line]) for line, i in seen_a.items() if i >= 0 and seen_b.get(line, -1) >= 0]
    pairs.sort()
    # The longest increasing run of j: piles of patience sorting, each card linked to the one below.
    tops: list[int] = []  # the j on top of each pile
    top_at: list[int] = []  # index into pairs of each pile's top
    below: list[int] = [-1] * len(pairs)
    for n, (_i, j) in enumerate(pairs):
        pile = bisect.bisect_left(tops, j)
        below[n] = top_at[pile - 1] if pile else -1
        if pile == len(tops):
            tops.append(j)
            top_at.append(n)
        else:
            tops[pile], top_at[pile] = j, n
    run: list[tuple[int, int]] = []
    n = top_at[-1] if top_at else -1
    while n >= 0:
        run.append(pairs[n])
        n = below[n]
    return run[::-1]


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
