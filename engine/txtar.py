"""txtar archives (golang.org/x/tools/txtar's format): a comment, then `-- name --` sections."""

from __future__ import annotations

import re
from dataclasses import dataclass

_MARKER = re.compile(r"^-- (.+) --$")


@dataclass(frozen=True)
class Archive:
    comment: str
    files: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        return next((data for n, data in self.files if n == name), None)

    def names(self) -> list[str]:
        return [n for n, _ in self.files]


def parse(text: str) -> Archive:
    comment: list[str] = []
    files: list[tuple[str, list[str]]] = []
    for line in text.splitlines(keepends=True):
        m = _MARKER.match(line.rstrip("\n"))
        if m:
            files.append((m.group(1).strip(), []))
        elif files:
            files[-1][1].append(line)
        else:
            comment.append(line)
    return Archive("".join(comment), tuple((name, "".join(body)) for name, body in files))


def format(archive: Archive) -> str:
    out = [archive.comment]
    for name, data in archive.files:
        out.append(f"-- {name} --\n")
        out.append(data if not data or data.endswith("\n") else data + "\n")
    return "".join(out)
