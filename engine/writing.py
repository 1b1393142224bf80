"""Writing files in place: all of them or none, and Ctrl-C leaves every file as it was."""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
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


def _temporary(path: Path, data: bytes, like: os.stat_result | None, *, times: bool = False) -> Path:
    """`data` in a new file beside `path`, with the owner and mode of `like` (and with `times`, its
    access and modification times); with no `like`, mode 0644 less the umask, as a new file gets."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".goescape", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if like is None:
            os.chmod(name, 0o644 & ~_umask())
            return Path(name)
        # Someone else's file becomes ours where we may not give it away, as an editor's save makes it.
        with suppress(PermissionError):  # before chmod: a change of owner clears the set-ID bits
            os.chown(name, like.st_uid, like.st_gid)
        os.chmod(name, like.st_mode & 0o7777)  # not mkstemp's 0600
        if times:
            os.utime(name, ns=(like.st_atime_ns, like.st_mtime_ns))
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def write_all(changes: Mapping[Path, tuple[bytes, bytes]]) -> None:
    """Replace each file's `old` bytes with `new`, atomically per file and all-or-nothing overall.

    A file replaced keeps its mode and, where the process may give it, its owner. An empty `old`
    means a file that does not exist yet: it is created with mode 0644 less the umask, and only if
    nothing has appeared at its path meanwhile. New contents go to temporary files beside their
    targets first, then each is renamed over its target, all with Ctrl-C held back. A failure, or an
    interrupt at any point before write_all returns, puts every file back as it was (bytes, mode,
    owner and modification time), and removes every file it created and every temporary.
    """
    temps: dict[Path, Path] = {}
    found: dict[Path, os.stat_result] = {}
    done: list[Path] = []
    # Ctrl-C is held back until write_all returns, temporaries removed: one that arrives meanwhile
    # puts every file back, so the CLI's "no file was changed" is then true.
    with _deferred_interrupt() as interrupted:
        try:
            for path, (old, new) in changes.items():
                if interrupted[0]:
                    break
                try:
                    if not _as_found(path, old):
                        raise WriteFailed(
                            "changed on disk while goescape ran; nothing was written", path=path, hint="run again"
                        )
                    if old:
                        found[path] = path.stat()
                    temps[path] = _temporary(path, new, found.get(path))
                except OSError as exc:
                    raise WriteFailed(f"could not write ({exc.strerror}); no file was changed", path=path) from exc
            try:
                for path, temp in temps.items():
                    if interrupted[0]:
                        break
                    os.replace(temp, path)
                    done.append(path)
            except OSError as exc:
                _restore(done, changes, found)
                raise WriteFailed(f"could not write ({exc.strerror}); every file was put back", path=path) from exc
        finally:
            for temp in temps.values():
                temp.unlink(missing_ok=True)
        if interrupted[0]:
            _restore(done, changes, found)
            raise KeyboardInterrupt


def _restore(
    done: list[Path], changes: Mapping[Path, tuple[bytes, bytes]], found: Mapping[Path, os.stat_result]
) -> None:
    """Put back each file in `done` as `found`; raise WriteFailed naming those that could not be."""
    lost: list[Path] = []
    for path in done:
        try:
            if path not in found:  # it did not exist before
                path.unlink(missing_ok=True)
                continue
            temp = _temporary(path, changes[path][0], found[path], times=True)
        except OSError:
            lost.append(path)
            continue
        try:
            os.replace(temp, path)
        except OSError:
            temp.unlink(missing_ok=True)
            lost.append(path)
    if lost:
        more = f"; nor could {len(lost) - 1} more: {', '.join(map(str, lost[1:]))}" if len(lost) > 1 else ""
        raise WriteFailed(f"could not be put back and holds goescape's rewrite{more}", path=lost[0])
