"""The go command over rewritten files, through `-overlay`: the user's tree is never written.

Each run gets a folder of its own under one temporary directory holding the rewritten copies and
the overlay file (the go command's `{"Replace": {path: copy}}`); the go command reads the copies
in place of the originals and names the originals in its messages, except where a tool echoes a
copy's path, which `unmap` turns back.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from goescape.engine.goflags import overlay_files
from goescape.engine.toolchain import Toolchain


@dataclass
class GoRun:
    """One go command's verdict: whether it exited 0, and its stdout and stderr with user paths."""

    ok: bool
    output: str


def write_overlay(
    folder: Path, files: Mapping[Path, bytes], base: Mapping[Path, Path | None] | None = None
) -> tuple[Path, dict[str, Path]]:
    """An `-overlay` file replacing (or adding) each path with a copy in `folder`, and copy → path.

    `base` is the user's own overlay (toolchain.overlay_files), kept for every path not in `files`:
    the command line's -overlay replaces the one in GOFLAGS, so it must say both.
    """
    replace: dict[str, str] = {str(k): str(v) if v else "" for k, v in (base or {}).items()}
    names: dict[str, Path] = {}
    for i, (path, data) in enumerate(sorted(files.items())):
        # One folder per file: `{i}/name` can never be read as part of another copy's path.
        copy = folder / str(i) / path.name
        copy.parent.mkdir()
        copy.write_bytes(data)
        replace[str(path)] = str(copy)
        names[str(copy)] = path
    overlay = folder / "overlay.json"
    overlay.write_text(json.dumps({"Replace": replace}))
    return overlay, names


def unmap(text: str, names: Mapping[str, Path]) -> str:
    """`text` with every overlay copy's path (absolute, or relative as vet prints it) as the user's path.

    Only the copies the text names are searched for with a pattern: the go command names the
    originals, so a build of many files would otherwise run a pattern over its output per file.
    """
    for copy, original in names.items():
        text = text.replace(copy, str(original))
        tail = "/".join(Path(copy).parts[-2:])  # `{i}/name`
        if "/" + tail in text:
            text = re.sub(r"(?<![\w/])\S*/" + re.escape(tail) + r"\b", str(original), text)
    return text


@dataclass
class Overlay:
    """Runs of the go command in `cwd` with rewritten files laid over the user's; `close()` removes the copies."""

    tc: Toolchain
    cwd: Path
    _tmp: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="goescape-overlay-")
    )
    _runs: int = 0
    # Each rewritten file's copy by (path, contents): written once, laid over by every run that needs it.
    _copies: dict[tuple[Path, bytes], Path] = field(default_factory=dict)

    def close(self) -> None:
        self._tmp.cleanup()

    def folder(self) -> Path:
        """A fresh empty folder of this overlay's temporary directory (for copies, profiles, binaries)."""
        self._runs += 1
        path = Path(self._tmp.name) / f"run{self._runs}"
        path.mkdir()
        return path

    def go(
        self,
        verb: Sequence[str],
        files: Mapping[Path, bytes],
        packages: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> GoRun:
        """`go <verb> -overlay=... <packages>` with `files` replacing the originals (none: no overlay).

        `env` adds variables (GOOS, GOARCH, CGO_ENABLED for another platform's build).
        """
        names: dict[str, Path] = {}
        args = list(verb)
        if files:
            overlay, names = self._overlay(files)
            args.append(f"-overlay={overlay}")
        tc = (
            self.tc if not env else Toolchain(self.tc.go, self.tc.version, self.tc.goroot, (*self.tc.env, *env.items()))
        )
        out = tc.run([*args, *packages], self.cwd, timeout=timeout)
        return GoRun(out.returncode == 0, unmap(out.stdout + out.stderr, names))

    def _overlay(self, files: Mapping[Path, bytes]) -> tuple[Path, dict[str, Path]]:
        """As write_overlay, but a file's copy is written once per contents: the runs of a
        verification lay mostly the same rewritten files over the user's, batch after batch."""
        replace: dict[str, str] = {str(k): str(v) if v else "" for k, v in overlay_files(self.tc).items()}
        names: dict[str, Path] = {}
        for path, data in sorted(files.items()):
            copy = self._copies.get((path, data))
            if copy is None:
                # One folder per copy: `{i}/name` can never be read as part of another copy's path.
                copy = Path(self._tmp.name) / "copies" / str(len(self._copies)) / path.name
                copy.parent.mkdir(parents=True)
                copy.write_bytes(data)
                self._copies[(path, data)] = copy
            replace[str(path)] = str(copy)
            names[str(copy)] = path
        overlay = self.folder() / "overlay.json"
        overlay.write_text(json.dumps({"Replace": replace}))
        return overlay, names
