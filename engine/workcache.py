"""The work cache: goescape's own results (escape facts, proposals) reused while their inputs are unchanged.

Go's build cache makes a warm compile a replay; this does the same for what goescape derives from it.
An entry is found under the SHA-256 of everything that made it: goescape's own code, the toolchain
and its environment, the flags, the compiler's output and the bytes of every file the work reads
(the packages' module, any local `replace` folders, the overlay's files). Change any one and the
key changes: a stale entry is never read, only left for pruning.

Entries live in the user's cache directory (`oracle.cache_dir() / "work"`), one pickle per key,
written to a temporary file and renamed into place, so two runs sharing the folder never read half
an entry. The folder is kept under `LIMIT` bytes by deleting the least recently used entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from goescape.engine import __version__

FORMAT = 1  # bump when what an entry holds changes shape
LIMIT = 256 * 2**20  # bytes kept in the folder
_SKIPPED_DIRS = frozenset({".git", "testdata", "node_modules"})
_LOCAL_REPLACE = re.compile(r"=>\s*(\.{1,2}/\S*|/\S+)\s*$", re.MULTILINE)


def digest(*parts: str | bytes) -> str:
    """SHA-256 of the parts, each length-prefixed so that ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@cache
def code_digest() -> str:
    """The digest of goescape's own installed sources (engine and codemods): a new build, new keys."""
    root = Path(__file__).resolve().parent.parent
    files = sorted(p for folder in ("engine", "codemods") for p in (root / folder).glob("*.py"))
    if not files:  # installed as goescape.engine / goescape.codemods beside each other
        files = sorted(Path(__file__).resolve().parent.glob("*.py"))
    return digest(__version__, *(f"{p.name}\0".encode() + p.read_bytes() for p in files))


@cache
def module_digest(name: str) -> str:
    """The digest of an imported module's source file (a third-party codemod's, say): "" if none."""
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    try:
        return digest(Path(str(file)).read_bytes()) if file else ""
    except OSError:
        return ""


def _go_files(folder: Path) -> Iterator[Path]:
    """Every .go file under `folder`, as the go command would see it (no testdata, _ or . folders)."""
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith((".", "_")))
        yield from (Path(here) / f for f in sorted(files) if f.endswith(".go"))


def tree_digest(folders: Iterable[Path], extra: Iterable[Path] = ()) -> str:
    """The digest of every .go file under `folders`, their go.mod/go.sum/go.work, the local folders
    their go.mod `replace`s name, and the `extra` files: what a module's analysis may read."""
    seen: set[Path] = set()
    parts: list[str | bytes] = []
    todo = [f.resolve() for f in folders]
    while todo:
        folder = todo.pop()
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for name in ("go.mod", "go.sum", "go.work"):
            meta = folder / name
            if meta.is_file():
                text = meta.read_bytes()
                parts += [str(meta), text]
                if name == "go.mod":
                    todo += [(folder / m).resolve() for m in _LOCAL_REPLACE.findall(text.decode("utf-8", "replace"))]
        for path in _go_files(folder):
            with contextlib.suppress(OSError):
                parts += [str(path), path.read_bytes()]
    for path in sorted(extra):
        with contextlib.suppress(OSError):
            parts += [str(path), path.read_bytes()]
    return digest(*parts)


# Variables that change where the go command keeps or fetches things, not what it compiles.
_NOT_INPUTS = frozenset({"GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY"})


def environment_digest(environ: dict[str, str]) -> str:
    """The digest of the go command's inputs among environment variables (GO*, CGO_*, CC, CXX)."""
    chosen = sorted(
        (k, v)
        for k, v in environ.items()
        if (k.startswith(("GO", "CGO_")) or k in ("CC", "CXX")) and k not in _NOT_INPUTS
    )
    return digest(*(f"{k}={v}" for k, v in chosen))


def _entry(folder: Path, key: str) -> Path:
    return folder / key[:2] / f"{key}.pickle"


class WorkCache:
    """A folder of pickled results by key; `folder=None` is a cache that holds nothing (--no-cache)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def get(self, key: str) -> object | None:
        """The value stored under `key`, or None (absent, unreadable, or from another format)."""
        if self.folder is None:
            return None
        path = _entry(self.folder, key)
        try:
            with path.open("rb") as fh:
                stored = pickle.load(fh)
            os.utime(path)  # recently used: pruned last
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            return None
        if not isinstance(stored, tuple) or len(stored) != 2 or stored[0] != FORMAT:
            return None
        value: object = stored[1]
        return value

    def put(self, key: str, value: object) -> None:
        """Store `value` under `key` atomically; a full disk or a read-only folder only loses the entry."""
        if self.folder is None:
            return
        path = _entry(self.folder, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump((FORMAT, value), fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except (OSError, pickle.PicklingError):
            return
        self.prune()

    def prune(self, limit: int = LIMIT) -> int:
        """Delete the least recently used entries until the folder holds at most `limit` bytes;
        returns how many were deleted. Entries another run deletes meanwhile are skipped."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        entries = []
        for path in self.folder.glob("*/*.pickle"):
            with contextlib.suppress(OSError):
                st = path.stat()
                entries.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in sorted(entries):
            if total <= limit:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
            total -= size
        return removed
