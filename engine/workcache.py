"""The work cache: goescape's own results (escape facts, proposals) reused while their inputs are unchanged.

Go's build cache makes a warm compile a replay; this does the same for what goescape derives from it.
An entry is found under the SHA-256 of everything that made it: goescape's own code, the toolchain
and its environment, the flags, the compiler's output and the bytes of every file the work reads
(the packages' module, any local `replace` folders, the overlay's files). Change any one and the
key changes: a stale entry is never read, only left for pruning.

Entries live in the user's cache directory (`cachedir.cache_dir() / "work"`), one pickle per key,
written to a temporary file and renamed into place, so two runs sharing the folder never read half
an entry. The folder is kept under `LIMIT` bytes by deleting the least recently used entries. An
entry is unpickled: share the folder only with people and machines you would let run code here.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
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
_LOCAL_REPLACE = re.compile(r"=>\s*(\.{1,2}/\S*|/\S+)\s*(?://.*)?$", re.MULTILINE)


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
    """The digest of goescape's own sources (engine, codemods, the type oracle's Go) and of the
    parser's versions (tree-sitter, tree-sitter-go): a new build, new keys."""
    engine = Path(__file__).resolve().parent
    files = sorted([*engine.glob("*.py"), *engine.glob("oracle_go/*.go"), *engine.parent.glob("codemods/*.py")])
    versions = []
    for dist in ("tree-sitter", "tree-sitter-go"):
        try:
            versions.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} missing")
    return digest(__version__, *versions, *(f"{p.name}\0".encode() + p.read_bytes() for p in files))


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


def work_uses(work: Path) -> list[str]:
    """The folders a go.work file's `use` directives name (one per line or in a block)."""
    try:
        text = work.read_text()
    except OSError:
        return []
    uses = re.findall(r"^\s*use\s+(?!\()(\S+)", text, re.MULTILINE)
    for block in re.findall(r"^\s*use\s*\(([^)]*)\)", text, re.MULTILINE):
        uses += [line.split("//")[0].strip() for line in block.splitlines() if line.split("//")[0].strip()]
    return [u.strip('"') for u in uses]


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
        self._pruned = False

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
        except Exception:  # absent, half-read, or pickled by another goescape: a miss, never an error
            return None
        with contextlib.suppress(OSError):  # a read-only shared folder still answers
            os.utime(path)  # recently used: pruned last
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
        except Exception:  # a full disk, a read-only folder, a value that does not pickle: only the entry is lost
            return
        if not self._pruned:  # once per run: walking the folder on every entry costs more than it saves
            self._pruned = True
            self.prune()

    def prune(self, limit: int = LIMIT) -> int:
        """Delete the least recently used entries until the folder holds at most `limit` bytes;
        returns how many were deleted. Entries another run deletes meanwhile are skipped."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        entries = []
        for path in self.folder.glob("*/[0-9a-f]*.pickle"):  # not another run's .tmp- file
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
