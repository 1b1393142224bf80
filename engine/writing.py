"""Writing files in place: all of them or none, and Ctrl-C leaves every file as it was."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from goescape.engine.errors import WriteFailed


@contextmanager
def _deferred_interrupt() -> Iterator[list[bool]]:
    """Hold SIGINT while files are written; the caller learns whether one arrived."""
    seen = [False]

    def note(_sig: int, _frame: FrameType | None) -> None:
        seen[0] = True

    try:
        previous = signal.signal(signal.SIGINT, note)
    except ValueError:  # not the main thread: nothing to defer
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _umask() -> int:
    """The process's umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_found(path: Path, old: bytes) -> bool:
    """Whether `path` still holds `old`; for a file to create (`old` empty), whether nothing is there."""
    if not old:
        return not (path.exists() or path.is_symlink())
    return path.is_file() and path.read_bytes() == old


def write_all(changes: Mapping[Path, tuple[bytes, bytes]]) -> None:
    """Replace each file's `old` bytes with `new`, atomically per file and all-or-nothing overall.

    An empty `old` means a file that does not exist yet: it is created with mode 0644 less the
    umask, and only if nothing has appeared at its path meanwhile. New contents go to temporary
    files beside their targets first, then each is renamed over its target, all with Ctrl-C held
    back. A failure, or an interrupt at any point before write_all returns, puts every file back and
    removes every file it created and every temporary.
    """
    temps: dict[Path, Path] = {}
    done: list[Path] = []
    # Ctrl-C is held back until write_all returns, temporaries removed: one that arrives meanwhile
    # puts every file back, so the CLI's "no file was changed" is then true.
    with _deferred_interrupt() as interrupted:
        try:
            for path, (old, new) in changes.items():
                if interrupted[0]:
                    break
                if not _as_found(path, old):
                    raise WriteFailed(
                        "changed on disk while goescape ran; nothing was written", path=path, hint="run again"
                    )
                fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".goescape", dir=path.parent)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(new)
                os.chmod(name, path.stat().st_mode & 0o7777 if old else 0o644 & ~_umask())
                temps[path] = Path(name)
            try:
                for path, temp in temps.items():
                    if interrupted[0]:
                        break
                    os.replace(temp, path)
                    done.append(path)
            except OSError as exc:
                _restore(done, changes)
                raise WriteFailed(
                    f"could not write ({exc.strerror}); every file was put back", path=exc.filename
                ) from exc
        finally:
            for temp in temps.values():
                temp.unlink(missing_ok=True)
        if interrupted[0]:
            _restore(done, changes)
            raise KeyboardInterrupt


def _restore(done: list[Path], changes: Mapping[Path, tuple[bytes, bytes]]) -> None:
    for path in done:
        if not changes[path][0]:  # it did not exist before
            path.unlink(missing_ok=True)
            continue
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".goescape", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(changes[path][0])
        os.replace(name, path)
