"""Destinations: where each `--format` goes (a file, or standard output) and how it is written there."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from goescape.engine.errors import GoescapeError, WriteFailed
from goescape.engine.formats import FORMATS


@dataclass(frozen=True)
class Destination:
    """One `--format` value: a format and the file it goes to (None: standard output)."""

    format: str
    path: Path | None


_SUFFIX = {"text": "txt", "json": "json", "sarif": "sarif", "github": "txt"}


def parse_formats(specs: Sequence[str], cwd: Path) -> tuple[Destination, ...]:
    """Parse `--format FMT` and `--format FMT=PATH` (PATH relative to `cwd`, `-` for standard output)."""
    if not specs:
        return (Destination("text", None),)
    out: list[Destination] = []
    for spec in specs:
        name, eq, where = spec.partition("=")
        name = name.strip().lower()
        if name not in FORMATS:
            raise GoescapeError(f"unknown output format {spec!r}", hint=f"use one of {', '.join(FORMATS)}")
        if eq and not where.strip():
            raise GoescapeError(f"--format {spec}: no file after '='", hint=f"e.g. {name}=escapes.{_SUFFIX[name]}")
        path = None if not eq or where.strip() == "-" else cwd / Path(where.strip()).expanduser()
        out.append(Destination(name, path))
    to_stdout = [d.format for d in out if d.path is None]
    if len(to_stdout) > 1:
        raise GoescapeError(
            f"{' and '.join(to_stdout)} would both go to standard output",
            hint="give the others a file, e.g. --format sarif=escapes.sarif",
        )
    seen: set[Path] = set()
    for d in out:
        if d.path is not None:
            if d.path.absolute() in seen:
                raise GoescapeError("two formats would be written to the same file", path=d.path)
            seen.add(d.path.absolute())
    return tuple(out)


def emit(destinations: Sequence[Destination], render: Callable[[str], str], stdout: TextIO | None = None) -> None:
    """Render every destination's format, then write each: files atomically, the one stdout to `stdout`.

    Everything is rendered before anything is written, so a failing render leaves every file as it was.
    """
    rendered = [(d, render(d.format)) for d in destinations]
    for d, content in rendered:
        if d.path is None:
            (stdout or sys.stdout).write(content)
        else:
            write_atomic(d.path, content)


def write_atomic(path: Path, content: str) -> None:
    """Write a temp file beside `path` and rename it over `path`: a reader sees the old file or the new one.

    A symlink is written through to its target; a pipe, a device or /dev/fd/N is written directly,
    as a shell redirection would (renaming over it would replace it with a plain file).
    """
    path = path.resolve()
    if path.exists() and not path.is_file():
        try:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(content)
        except OSError as e:
            raise WriteFailed(f"cannot write: {e.strerror or e}", path=path) from e
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteFailed(f"cannot create its folder: {e.strerror or e}", path=path) from e
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 lets the umask decide the mode, as for any file the user creates.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(content)
        os.replace(temp, path)
    except BaseException as e:
        temp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise WriteFailed(f"cannot write: {e.strerror or e}", path=path) from e
        raise
