"""Exclude globs: the `exclude` patterns of goescape.toml, anchored at the module root.

`*` and `?` stay within one path segment, `**` spans any number of them, and a pattern that names a
folder leaves out everything in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path, PurePosixPath


def excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    """Whether `path` (absolute, or relative to `root`) or a folder holding it matches one of the globs."""
    try:
        rel = PurePosixPath(path.relative_to(root).as_posix() if path.is_absolute() else path.as_posix())
    except ValueError:
        return False  # outside the module: nothing of it is left out here
    parts = [part for part in rel.parts if part != "."]
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(_glob(pattern).fullmatch(prefix) for pattern in patterns for prefix in prefixes)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A glob as a regular expression: `**` spans segments, `*`, `?` and `[...]` stay within one."""
    parts = [part for part in pattern.removeprefix("./").strip("/").split("/") if part and part != "."]
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            if out and out[-1] == "(?:[^/]+/)*":
                continue  # a/**/**/b is a/**/b
            out.append(".*" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment(part) + ("" if last else "/"))
    return re.compile("".join(out) if out else "(?!)")  # an empty pattern matches nothing


def _segment(part: str) -> str:
    out: list[str] = []
    i, n = 0, len(part)
    while i < n:
        ch = part[i]
        i += 1
        if ch == "*":
            while i < n and part[i] == "*":
                i += 1  # ** inside a segment is a plain *
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1 if i < n and part[i] in "!^" else i
            j = j + 1 if j < n and part[j] == "]" else j  # a ] first in a class is literal
            while j < n and part[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(ch))  # no closing ]: a literal [
                continue
            body = part[i:j]
            negate = body[:1] in ("!", "^")
            chars = "".join(c if c == "-" else re.escape(c) for c in (body[1:] if negate else body))
            out.append(f"[^/{chars}]" if negate else f"[{chars}]")
            i = j + 1
        else:
            out.append(re.escape(ch))
    return "".join(out)
